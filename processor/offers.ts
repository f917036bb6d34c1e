// Offers: stored in PostgreSQL, copied to Redis for the POS path (rewards-snapshot.ts), compiled
// per business into each process's memory, and recompiled everywhere within moments of a change
// through Redis pub/sub.

import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { compileOffers, type CompiledOffers, type Offer } from '../core/offer.ts';
import { offerSchema, parseWith, type OfferInput } from '../core/schemas.ts';
import { offers_channel } from './hot/keys.ts';
import { iso, type Business } from './network.ts';
import { readRewards, selectOffers, selectTiers, snapshotRewards, type Tier } from './rewards-snapshot.ts';
import type { RedisClient, Stores } from './stores.ts';

export type { Tier } from './rewards-snapshot.ts';

const compiled_entries_max = 10_000;

/** What a purchase needs of a business's rewards set-up, compiled once per process. */
export interface Rewards {
  readonly compiled: CompiledOffers;
  /** Every contact is a member of these. */
  readonly auto_schemes: ReadonlySet<string>;
  readonly tiers: readonly Tier[];
}

export class Offers {
  private readonly compiled = new Map<string, Promise<Rewards>>();
  private subscriber: RedisClient | undefined;

  constructor(private readonly stores: Stores) {}

  /** Listen for changes made by other processes. */
  async subscribe(): Promise<void> {
    const subscriber = this.stores.redis.duplicate();
    subscriber.on('error', () => {});
    await subscriber.connect();
    await subscriber.subscribe(offers_channel, (business_id) => this.compiled.delete(business_id));
    this.subscriber = subscriber as RedisClient;
  }

  async close(): Promise<void> {
    if (this.subscriber !== undefined) await this.subscriber.close().catch(() => {});
  }

  /** The business's offers compiled for evaluation, its auto schemes and tiers; loaded once, then served from memory. */
  forBusiness(business: Business): Promise<Rewards> {
    let compiled = this.compiled.get(business.id);
    if (compiled === undefined) {
      if (this.compiled.size >= compiled_entries_max) this.compiled.clear();
      compiled = this.load(business);
      // A failed load must not be cached: the next purchase tries again.
      compiled.catch(() => this.compiled.delete(business.id));
      this.compiled.set(business.id, compiled);
    }
    return compiled;
  }

  /** From Redis, where the POS path reads; made from PostgreSQL when Redis has none yet. */
  private async load(business: Business): Promise<Rewards> {
    const source = (await readRewards(this.stores.redis, business.id)) ?? (await snapshotRewards(this.stores, business.id));
    return {
      compiled: compileOffers([...source.offers], business.reward_resolution),
      auto_schemes: new Set(source.auto_schemes),
      tiers: source.tiers,
    };
  }

  tiers(business: Business): Promise<Tier[]> {
    return selectTiers(this.stores.sql, business.id);
  }

  /** Replace the business's tiers. */
  async putTiers(business: Business, tiers: readonly Tier[]): Promise<Tier[]> {
    await this.stores.sql.begin(async (tx) => {
      await tx`delete from tiers where business_id = ${business.id}`;
      if (tiers.length > 0) await tx`insert into tiers ${tx(tiers.map((t) => ({ business_id: business.id, ...t })))}`;
    });
    await this.changed(business.id);
    return this.tiers(business);
  }

  /** Something a purchase reads changed (offers, schemes, tiers): every process reloads it. */
  /** Called after PostgreSQL committed; should Redis fail here (503), the same call again converges. */
  async changed(business_id: string): Promise<void> {
    await snapshotRewards(this.stores, business_id);
    this.compiled.delete(business_id);
    await this.stores.redis.publish(offers_channel, business_id);
  }

  list(business: Business): Promise<Offer[]> {
    return selectOffers(this.stores.sql, business.id);
  }

  async get(business: Business, id: string): Promise<Offer> {
    const [row] = await this.stores.sql<{ id: string; body: OfferInput; created_at: Date }[]>`
      select id, body, created_at from offers where id = ${id} and business_id = ${business.id}`;
    if (row === undefined) throw new PocketgateError('not_found', `offer ${id} not found`);
    return { ...row.body, id: row.id, created_at: iso(row.created_at) };
  }

  /**
   * The scheme, merchants and venues an offer names must be the business's own: another
   * business's (or a made-up) id is 404, as everywhere else, never an offer that silently never
   * matches, nor a way to learn which ids exist.
   */
  private async checkReferences(business: Business, input: OfferInput): Promise<void> {
    const { sql } = this.stores;
    const schemes = input.scheme_id === undefined || input.scheme_id === null ? [] : [input.scheme_id];
    const merchants = input.conditions?.merchants ?? [];
    const venues = input.conditions?.venues ?? [];
    if (schemes.length + merchants.length + venues.length === 0) return;
    const found = await sql<{ id: string }[]>`
      select id from schemes where business_id = ${business.id} and id = any(${schemes})
      union all select id from merchants where business_id = ${business.id} and id = any(${merchants})
      union all select id from venues where business_id = ${business.id} and id = any(${venues})`;
    const known = new Set(found.map((r) => r.id));
    const missing = [...schemes.map((id) => ['scheme', id]), ...merchants.map((id) => ['merchant', id]), ...venues.map((id) => ['venue', id])].find(([, id]) => !known.has(id!));
    if (missing !== undefined) throw new PocketgateError('not_found', `${missing[0]} ${missing[1]} not found`);
  }

  async create(business: Business, input: OfferInput): Promise<Offer> {
    await this.checkReferences(business, input);
    const id = newId('off');
    const [row] = await this.stores.sql<{ created_at: Date }[]>`
      insert into offers (id, business_id, body) values (${id}, ${business.id}, ${this.stores.sql.json(input as never)}) returning created_at`;
    await this.changed(business.id);
    return { ...input, id, created_at: iso(row!.created_at) };
  }

  async patch(business: Business, id: string, patch: Partial<OfferInput>): Promise<Offer> {
    const current = await this.get(business, id);
    const { id: _id, created_at: _created, ...body } = current;
    // Validate the merged offer as a whole: a patch may not leave an offer the engine cannot run.
    const merged = parseWith(offerSchema, { ...body, ...patch });
    await this.checkReferences(business, merged);
    await this.stores.sql`update offers set body = ${this.stores.sql.json(merged as never)}, updated_at = now()
      where id = ${id} and business_id = ${business.id}`;
    await this.changed(business.id);
    return { ...merged, id, created_at: current.created_at };
  }
}
