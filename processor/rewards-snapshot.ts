// What a purchase reads of a business's rewards set-up (its offers, the ids of its `auto`
// schemes, its tiers), and a redemption of its pools (those named after a merchant code), kept in
// Redis as one JSON string per business, `n:r:<business id>`, so that a gateway that starts while
// PostgreSQL is down can still award offers and redeem. PostgreSQL holds the rewards; every
// change rewrites the snapshot from it after committing (Offers.changed: an offer, scheme or tier,
// and a merchant made, whose code may name a pool), and a process that finds no snapshot (an
// upgrade, a new Redis) makes it from PostgreSQL.
//
// Snapshots of one business are written under a PostgreSQL advisory lock taken for the business:
// two changes racing each read PostgreSQL under the lock and write what they read, so the last
// write is of the latest state.
//
// An offer is created hidden (migration 019) and shown in the transaction that writes the snapshot,
// before Redis is written and committed after it: a snapshot that fails leaves it hidden, and a
// commit that fails after Redis took it leaves Redis an offer PostgreSQL holds (hidden), which the
// next snapshot drops. Hidden offers are in no snapshot and answered by no read.

import type { Offer } from '../core/offer.ts';
import type { OfferInput } from '../core/schemas.ts';
import { iso } from './network.ts';
import type { RedisClient, Sql, Stores } from './stores.ts';
import type postgres from 'postgres';

export interface Tier {
  readonly name: string;
  readonly min_period_units: number;
  readonly period: 'month' | 'quarter' | 'year';
}

export interface RewardsSource {
  readonly offers: readonly Offer[];
  readonly auto_schemes: readonly string[];
  readonly tiers: readonly Tier[];
  /**
   * The pools the business's offers have ever named (offer_pools, migration 017) that are one of
   * its merchant codes: each redeems only at that merchant, every other pool anywhere. At most
   * restricted_pools_max (Offers refuses a pool past it).
   */
  readonly restricted_pools: readonly string[];
}

type Query = Sql | postgres.TransactionSql;

export const rewardsKey = (business_id: string) => `n:r:${business_id}`;

/** Any constant: with the business's hash it names the snapshot's lock among the database's advisory locks. */
export const rewards_lock_namespace = 728_341; // int4: pg_advisory_xact_lock(int, int)

export async function selectOffers(sql: Query, business_id: string): Promise<Offer[]> {
  return (await selectOffersOf(sql, [business_id])).map(({ business_id: _b, ...offer }) => offer as Offer);
}

async function selectOffersOf(sql: Query, business_ids: readonly string[]): Promise<(Offer & { business_id: string })[]> {
  const rows = await sql<{ id: string; business_id: string; body: OfferInput; created_at: Date }[]>`
    select id, business_id, body, created_at from offers where business_id = any(${business_ids}) and not hidden order by created_at, id`;
  return rows.map((r) => ({ ...r.body, id: r.id, business_id: r.business_id, created_at: iso(r.created_at) }) as Offer & { business_id: string });
}

export async function selectTiers(sql: Query, business_id: string): Promise<Tier[]> {
  return (await selectTiersOf(sql, [business_id])).map(({ business_id: _b, ...tier }) => tier);
}

async function selectTiersOf(sql: Query, business_ids: readonly string[]): Promise<(Tier & { business_id: string })[]> {
  const rows = await sql<(Tier & { business_id: string })[]>`
    select business_id, name, min_period_units, period from tiers where business_id = any(${business_ids}) order by min_period_units, name`;
  return rows.map((r) => ({ business_id: r.business_id, name: r.name, min_period_units: Number(r.min_period_units), period: r.period }));
}

/** The snapshot, or undefined when Redis has none (or one this code cannot read). */
export async function readRewards(redis: RedisClient, business_id: string): Promise<RewardsSource | undefined> {
  const text = await redis.get(rewardsKey(business_id));
  if (text === null || text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as RewardsSource;
    // One written before restricted_pools was kept is made again: read as none, every pool
    // named after a merchant would redeem anywhere.
    return Array.isArray(parsed.offers) && Array.isArray(parsed.auto_schemes) && Array.isArray(parsed.tiers) && Array.isArray(parsed.restricted_pools) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads the business's rewards from PostgreSQL and writes them to Redis; answers what it wrote.
 * `shown`: a hidden offer of the business, shown in the same transaction (committed only once
 * Redis took the snapshot that holds it).
 */
export async function snapshotRewards(stores: Pick<Stores, 'sql' | 'redis'>, business_id: string, shown?: string): Promise<RewardsSource> {
  return (await snapshotRewardsOf(stores, [business_id], shown)).get(business_id)!;
}

/** snapshotRewards for several businesses in one transaction (network-load.ts: a page of them). */
export async function snapshotRewardsOf(stores: Pick<Stores, 'sql' | 'redis'>, business_ids: readonly string[], shown?: string): Promise<Map<string, RewardsSource>> {
  const ids = [...new Set(business_ids)].sort(); // locks taken in one order
  return stores.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${rewards_lock_namespace}, hashtext(id)) from unnest(${ids}::text[]) as id order by id`;
    if (shown !== undefined) await tx`update offers set hidden = false where id = ${shown} and business_id = any(${ids})`;
    const offers = await selectOffersOf(tx, ids);
    const schemes = await tx<{ id: string; business_id: string }[]>`
      select id, business_id from schemes where business_id = any(${ids}) and signup = 'auto' order by id`;
    const tiers = await selectTiersOf(tx, ids);
    const restricted = await tx<{ business_id: string; pool: string }[]>`
      select p.business_id, p.pool from offer_pools p join merchants m on m.business_id = p.business_id and m.code = p.pool
      where p.business_id = any(${ids}) order by p.pool`;
    const sources = new Map<string, RewardsSource>();
    for (const id of ids) {
      sources.set(id, {
        offers: offers.filter((o) => o.business_id === id).map(({ business_id: _b, ...offer }) => offer as Offer),
        auto_schemes: schemes.filter((s) => s.business_id === id).map((s) => s.id),
        tiers: tiers.filter((t) => t.business_id === id).map(({ business_id: _b, ...tier }) => tier),
        restricted_pools: restricted.filter((r) => r.business_id === id).map((r) => r.pool),
      });
    }
    await Promise.all([...sources].map(([id, source]) => stores.redis.set(rewardsKey(id), JSON.stringify(source))));
    return sources;
  });
}
