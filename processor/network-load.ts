// The whole business network (and each business's rewards snapshot) copied from PostgreSQL into
// Redis: for a Redis that has none of it (a new instance, an upgrade from when the network lived
// only in PostgreSQL) and for `npm run rebuild`. Idempotent: what it writes is what PostgreSQL
// holds, so running it again, or while gateways serve, changes nothing that was right. Terminals
// are read under a share lock of their rows, so a key rotated meanwhile is written after, never
// overwritten by the older key (network-sync.ts).

import type postgres from 'postgres';
import { business_unbuilt_field, businessKey, network_loaded_key } from './network-layout.ts';
import { writeBusiness, writeLink, writeMerchant, writeTerminal, writeVenue } from './network-redis.ts';
import { selectBusinesses, selectLinks, selectMerchants, selectTerminals, selectVenues, type TerminalRow } from './network-sync.ts';
import { snapshotRewardsOf } from './rewards-snapshot.ts';
import type { RedisClient, Stores } from './stores.ts';

export interface NetworkCounts {
  businesses: number;
  merchants: number;
  venues: number;
  terminals: number;
  links: number;
  /** Businesses whose rewards snapshot (offers, auto schemes, tiers) was written. */
  rewards: number;
}

export type NetworkKind = keyof NetworkCounts;

/** What copying the network needs: both stores, nothing else (rebuild has no gateway's Stores). */
export type NetworkStores = Pick<Stores, 'sql' | 'redis'>;

/** Called after each batch: what is being copied, how many so far, and how many there are. */
export type NetworkProgress = (kind: NetworkKind, done: number, total: number) => void;

/** Rows per query and per burst of Redis writes: bounds memory and the pipeline's depth. */
const batch_rows = 500;
/** Businesses per rewards transaction: each takes an advisory lock, and a transaction's locks are bounded. */
const rewards_batch_rows = 50;

/**
 * Pages through a table by id: `step` reads the page after `after` and writes it to Redis before
 * the next page is read, and answers the page.
 */
async function copyPages(step: (after: string) => Promise<readonly { readonly id: string }[]>, progress: (done: number) => void, page_rows = batch_rows): Promise<number> {
  let after = '';
  let done = 0;
  for (;;) {
    const rows = await step(after);
    done += rows.length;
    progress(done);
    if (rows.length < page_rows) return done;
    after = rows[rows.length - 1]!.id;
  }
}

async function totals(stores: NetworkStores): Promise<Record<NetworkKind, number>> {
  const [row] = await stores.sql<Record<Exclude<NetworkKind, 'rewards'>, number>[]>`
    select (select count(*)::int from businesses) as businesses, (select count(*)::int from merchants) as merchants,
           (select count(*)::int from venues) as venues, (select count(*)::int from terminals) as terminals,
           (select count(*)::int from iso8583_links) as links`;
  return { ...row!, rewards: row!.businesses };
}

/**
 * A page of terminals after `after`, each with its key, under their rows' share lock until the
 * copy is written. The lock in a statement of its own (as syncTerminal): a statement that waited
 * for a rotation's lock read the key as the statement began, and granted the revoked key again
 * (a review, 2026-12-04).
 */
async function copyTerminals(tx: postgres.TransactionSql, redis: RedisClient, after: string): Promise<TerminalRow[]> {
  const locked = await tx<{ id: string }[]>`select id from terminals where id > ${after} order by id limit ${batch_rows} for share`;
  if (locked.length === 0) return [];
  const rows = await selectTerminals(tx, tx`where t.id = any(${locked.map((r) => r.id)}) order by t.id`, tx``);
  await Promise.all(rows.map((t) => writeTerminal(redis, t, t.merchant_code)));
  return rows;
}

/**
 * Copies the network; `mark` false leaves network_loaded_key unwritten, for a caller that loads
 * more before the POS path may serve (rebuild: contacts and the rest, marked at its end).
 */
export async function loadNetworkIntoRedis(stores: NetworkStores, onProgress?: NetworkProgress, mark = true): Promise<NetworkCounts> {
  const { sql, redis } = stores;
  const total = await totals(stores);
  const report = (kind: NetworkKind) => (done: number) => onProgress?.(kind, done, Math.max(total[kind], done));
  const each = async <R>(rows: R[], write: (row: R) => Promise<unknown>) => {
    await Promise.all(rows.map(write));
    return rows;
  };
  const counts: NetworkCounts = {
    businesses: await copyPages(async (after) => each(await selectBusinesses(sql, sql`where b.id > ${after} order by b.id limit ${batch_rows}`), (b) => writeBusiness(redis, b)), report('businesses')),
    merchants: await copyPages(async (after) => each(await selectMerchants(sql, sql`where m.id > ${after} order by m.id limit ${batch_rows}`), (m) => writeMerchant(redis, m)), report('merchants')),
    venues: await copyPages(async (after) => each(await selectVenues(sql, sql`where v.id > ${after} order by v.id limit ${batch_rows}`), (v) => writeVenue(redis, v)), report('venues')),
    terminals: await copyPages((after) => sql.begin((tx) => copyTerminals(tx, redis, after)), report('terminals')),
    links: await copyPages(async (after) => each(await selectLinks(sql, sql`where l.id > ${after} order by l.id limit ${batch_rows}`), (l) => writeLink(redis, l.acquirer_id, l.business_id, l.linked_ms)), report('links')),
    rewards: await copyPages(async (after) => {
      const page = await sql<{ id: string }[]>`select id from businesses where id > ${after} order by id limit ${rewards_batch_rows}`;
      await snapshotRewardsOf(stores, page.map((b) => b.id));
      return page;
    }, report('rewards'), rewards_batch_rows),
  };
  // Only where nothing is marked: a rebuild that began meanwhile has marked its own work, which
  // this copy must not take for done (a review, 2026-12-05).
  if (mark) await redis.set(network_loaded_key, loadedValue(counts), { condition: 'NX' });
  return counts;
}

/** network_loaded_key's value once the network (and for rebuild everything else) is in Redis. */
export function loadedValue(counts: NetworkCounts): string {
  return JSON.stringify({ at: new Date().toISOString(), ...counts });
}

/**
 * At a gateway's start: copies the network unless Redis says it has it (network_loaded_key), or
 * that a rebuild is loading it or was killed loading it (the same key, rebuilding_prefix): marked
 * loaded then, the gateway would serve a Redis without its contacts, answering tills 404 (a
 * black-box probe, 2026-12-05). Answers the counts and how many businesses it marked so
 * (`unbuilt`), or undefined when there was nothing to do.
 */
export async function loadNetworkIfMissing(stores: Stores, holdsData: () => Promise<boolean>, onProgress?: NetworkProgress): Promise<(NetworkCounts & { unbuilt: number }) | undefined> {
  if ((await stores.redis.exists(network_loaded_key)) > 0) return undefined;
  // Asked before the copy writes anything: whether Redis holds contacts' data (an upgrade from when
  // the network lived only in PostgreSQL) or none (a new Redis, or one that lost its data).
  const empty = !(await holdsData());
  const counts = await loadNetworkIntoRedis(stores, onProgress, false);
  // Before the mark that lets the POS path serve: a business with contacts in PostgreSQL has none
  // in an empty Redis, and serving it would answer its tills contact_not_found for good (a
  // black-box probe, 2026-12-05). Marked per business, not the whole Redis: a business made from
  // now on is whole.
  const unbuilt = empty ? await markBusinesses(stores, true) : 0;
  await stores.redis.set(network_loaded_key, loadedValue(counts), { condition: 'NX' });
  return { ...counts, unbuilt };
}

/**
 * Marks (`unbuilt` true: each business that has contacts in PostgreSQL) or clears (false: every
 * business; rebuild, once it has loaded everything) the businesses whose contacts Redis lacks.
 */
export async function markBusinesses(stores: NetworkStores, unbuilt: boolean): Promise<number> {
  const { sql, redis } = stores;
  return copyPages(async (after) => {
    const page = unbuilt
      ? await sql<{ id: string }[]>`select b.id from businesses b where b.id > ${after} and exists (select 1 from contacts c where c.business_id = b.id) order by b.id limit ${batch_rows}`
      : await sql<{ id: string }[]>`select id from businesses where id > ${after} order by id limit ${batch_rows}`;
    await Promise.all(page.map((b) => (unbuilt ? redis.hSet(businessKey(b.id), business_unbuilt_field, '1') : redis.hDel(businessKey(b.id), business_unbuilt_field))));
    return page;
  }, () => {});
}
