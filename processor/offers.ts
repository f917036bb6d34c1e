// Offers: stored in PostgreSQL, compiled per business into each process's memory, and
// recompiled everywhere within moments of a change through Redis pub/sub.

import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { compileOffers, type CompiledOffers, type Offer } from '../core/offer.ts';
import { offerSchema, parseWith, type OfferInput } from '../core/schemas.ts';
import { offers_channel } from './hot/keys.ts';
import { iso, type Business } from './network.ts';
import type { RedisClient, Stores } from './stores.ts';

const compiled_entries_max = 10_000;

export class Offers {
  private readonly compiled = new Map<string, Promise<CompiledOffers>>();
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

  /** The business's offers compiled for evaluation; loaded once, then served from memory. */
  forBusiness(business: Business): Promise<CompiledOffers> {
    let compiled = this.compiled.get(business.id);
    if (compiled === undefined) {
      if (this.compiled.size >= compiled_entries_max) this.compiled.clear();
      compiled = this.list(business).then((offers) => compileOffers(offers, business.reward_resolution));
      // A failed load must not be cached: the next purchase tries again.
      compiled.catch(() => this.compiled.delete(business.id));
      this.compiled.set(business.id, compiled);
    }
    return compiled;
  }

  private async changed(business_id: string): Promise<void> {
    this.compiled.delete(business_id);
    await this.stores.redis.publish(offers_channel, business_id);
  }

  async list(business: Business): Promise<Offer[]> {
    const rows = await this.stores.sql<{ id: string; body: OfferInput; created_at: Date }[]>`
      select id, body, created_at from offers where business_id = ${business.id} order by created_at, id`;
    return rows.map((r) => ({ ...r.body, id: r.id, created_at: iso(r.created_at) }));
  }

  async get(business: Business, id: string): Promise<Offer> {
    const [row] = await this.stores.sql<{ id: string; body: OfferInput; created_at: Date }[]>`
      select id, body, created_at from offers where id = ${id} and business_id = ${business.id}`;
    if (row === undefined) throw new PocketgateError('not_found', `offer ${id} not found`);
    return { ...row.body, id: row.id, created_at: iso(row.created_at) };
  }

  async create(business: Business, input: OfferInput): Promise<Offer> {
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
    await this.stores.sql`update offers set body = ${this.stores.sql.json(merged as never)}, updated_at = now()
      where id = ${id} and business_id = ${business.id}`;
    await this.changed(business.id);
    return { ...merged, id, created_at: current.created_at };
  }
}
