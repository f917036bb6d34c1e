// The business network copied from PostgreSQL into Redis: what PostgreSQL holds is the truth,
// and Redis gets exactly that, read after PostgreSQL committed. Each admin change calls one of
// these for what it changed; network-load.ts runs the same queries over everything.
//
// A terminal's key changes (rotation), so a terminal is copied under its row's lock: two copies
// racing (a create and the retry that converges it, a rotation and a load) each write what
// PostgreSQL held while they held the lock, and the last to write wrote the latest.

import type postgres from 'postgres';
import { iso } from './network.ts';
import type { BusinessRecord, MerchantRecord, TerminalRecord, VenueRecord } from './network-layout.ts';
import { writeBusiness, writeLink, writeMerchant, writeTerminal, writeVenue } from './network-redis.ts';
import type { RedisClient, Sql } from './stores.ts';

type Fragment = postgres.PendingQuery<postgres.Row[]>;
type Query = Sql | postgres.TransactionSql;

export type TerminalRow = TerminalRecord & { readonly merchant_code: string };

export async function selectBusinesses(sql: Query, filter: Fragment): Promise<BusinessRecord[]> {
  const rows = await sql<(Omit<BusinessRecord, 'created_at'> & { created_at: Date })[]>`
    select b.id, b.name, b.currency, b.reward_resolution, b.created_at, coalesce(k.hash, '') as admin_key_hash
    from businesses b
    left join lateral (select hash from api_keys where business_id = b.id and kind = 'admin' order by created_at desc limit 1) k on true
    ${filter}`;
  return rows.map((r) => ({ ...r, created_at: iso(r.created_at) }));
}

export function selectMerchants(sql: Query, filter: Fragment): Promise<MerchantRecord[]> {
  return sql<MerchantRecord[]>`select id, business_id, code, contribution_fee_bp as fee_bp, settle_on from merchants m ${filter}`;
}

export function selectVenues(sql: Query, filter: Fragment): Promise<VenueRecord[]> {
  return sql<VenueRecord[]>`select id, business_id, merchant_id, timezone from venues v ${filter}`;
}

/** Terminals with their key's hash; `lock` holds their rows (for share, for update) until the transaction ends. */
export function selectTerminals(sql: Query, filter: Fragment, lock: Fragment): Promise<TerminalRow[]> {
  return sql<TerminalRow[]>`
    select t.id, t.business_id, t.venue_id, t.merchant_id, t.code, coalesce(m.code, '') as merchant_code, coalesce(k.hash, '') as key_hash
    from terminals t
    left join merchants m on m.id = t.merchant_id
    left join lateral (select hash from api_keys where terminal_id = t.id order by created_at desc limit 1) k on true
    ${filter} ${lock}`;
}

export async function selectLinks(sql: Query, filter: Fragment): Promise<{ acquirer_id: string; business_id: string; linked_ms: number; id: string }[]> {
  const rows = await sql<{ id: string; acquirer_id: string; business_id: string; created_at: Date }[]>`
    select id, acquirer_id, business_id, created_at from iso8583_links l ${filter}`;
  return rows.map((r) => ({ id: r.id, acquirer_id: r.acquirer_id, business_id: r.business_id, linked_ms: r.created_at.getTime() }));
}

export async function syncBusiness(sql: Sql, redis: RedisClient, id: string): Promise<void> {
  for (const b of await selectBusinesses(sql, sql`where b.id = ${id}`)) await writeBusiness(redis, b);
}

export async function syncMerchant(sql: Sql, redis: RedisClient, id: string): Promise<void> {
  for (const m of await selectMerchants(sql, sql`where m.id = ${id}`)) await writeMerchant(redis, m);
}

export async function syncVenue(sql: Sql, redis: RedisClient, id: string): Promise<void> {
  for (const v of await selectVenues(sql, sql`where v.id = ${id}`)) await writeVenue(redis, v);
}

/**
 * Copies the terminal under its row's lock and answers the key hash it wrote (undefined: no such
 * terminal). `old_key_hash` is the entry to delete when the key was just rotated.
 */
export async function syncTerminal(sql: Sql, redis: RedisClient, id: string, old_key_hash?: string): Promise<string | undefined> {
  return sql.begin(async (tx) => {
    // The lock in a statement of its own: a statement that waits for the lock reads the key (a
    // join, not the locked row) as it was when the statement began, so a sync waiting on a
    // concurrent key change would write the replaced key and tell its caller that key stands.
    await tx`select 1 from terminals where id = ${id} for update`;
    return syncLockedTerminal(tx, redis, id, old_key_hash);
  });
}

/** syncTerminal within a transaction that holds the terminal's row lock (and may have changed its key). */
export async function syncLockedTerminal(tx: Query, redis: RedisClient, id: string, old_key_hash?: string): Promise<string | undefined> {
  const [t] = await selectTerminals(tx, tx`where t.id = ${id}`, tx``);
  if (t === undefined) return undefined;
  await writeTerminal(redis, t, t.merchant_code, old_key_hash);
  return t.key_hash;
}

export async function syncLink(sql: Sql, redis: RedisClient, business_id: string, acquirer_id: string): Promise<void> {
  for (const l of await selectLinks(sql, sql`where l.business_id = ${business_id} and l.acquirer_id = ${acquirer_id}`)) {
    await writeLink(redis, l.acquirer_id, l.business_id, l.linked_ms);
  }
}
