// Reconcile: every contact's open and commerce balances in Redis against the sums of its ledger
// accounts, once the ledger holds every journal entry that existed when it started. Reads only.
//
// Contacts come from PostgreSQL in pages (keyset on id), so memory is a page whatever the
// population. A contact whose balances differ is looked at again on its own: Redis read, the
// ledger caught up with its shard's journal as it was then, the ledger read, Redis read again.
// Only a difference seen with Redis unchanged across that is reported (OPERATIONS.md: "reported
// only if the difference stays"). A contact that moved through every attempt never showed a
// difference that stays: it is not a mismatch, and is told apart (onUnsettled) for the operator
// to run again when it is quiet.

import { shardOf } from '../../core/ids.ts';
import type { RedisClient, Sql } from '../stores.ts';
import { differences, ledgerBalances, redisBalances, sameRedisBalances, type Difference, type LedgerContact } from './balances.ts';
import { journalMark, journalMarks, shardCaughtUp, shardMarks, waitForLedger } from './caught-up.ts';

export interface ReconcileOptions {
  readonly shard_count: number;
  /** Only this business's contacts. */
  readonly business_id?: string | undefined;
  /** How long to wait for the ledger to catch up with the journal as it was at the start. */
  readonly wait_ms: number;
  readonly page_size?: number;
  /** How long a second look at one contact waits for its shard's journal to be in the ledger. */
  readonly recheck_wait_ms?: number;
  readonly onTotal?: (contacts: number) => void;
  readonly onProgress?: (checked: number) => void;
  /** Each mismatch as it is confirmed (they are not kept: there may be millions). */
  readonly onMismatch: (m: Mismatch) => void;
  /** Each contact whose balances moved during every second look, so never compared still. */
  readonly onUnsettled?: (contact_id: string) => void;
  /** Tests only: called in each second look between its two reads of Redis. */
  readonly betweenReads?: (contact_id: string) => Promise<void>;
}

export interface Mismatch extends Difference {
  readonly contact_id: string;
}

export type ReconcileResult =
  | { readonly outcome: 'compared'; readonly checked: number; readonly mismatches: number; readonly unsettled: number }
  | { readonly outcome: 'wait_timeout'; readonly behind_shards: number }
  | { readonly outcome: 'unknown_business' };

const page_size_default = 1_000;
const attempts_max = 5;

export async function reconcile(redis: RedisClient, sql: Sql, options: ReconcileOptions): Promise<ReconcileResult> {
  const business_id = options.business_id;
  if (business_id !== undefined) {
    const [found] = await sql`select 1 from businesses where id = ${business_id}`;
    if (found === undefined) return { outcome: 'unknown_business' };
  }
  const marks = await journalMarks(redis, options.shard_count);
  if (!(await waitForLedger(redis, marks, options.wait_ms))) {
    let behind = 0;
    for (let s = 0; s < marks.length; s++) if (!(await shardCaughtUp(redis, s, marks[s] ?? null))) behind++;
    return { outcome: 'wait_timeout', behind_shards: behind };
  }
  const [{ n } = { n: 0 }] = await sql<{ n: number }[]>`
    select count(*)::int4 as n from contacts ${business_id === undefined ? sql`` : sql`where business_id = ${business_id}`}`;
  options.onTotal?.(n);
  let checked = 0;
  let mismatches = 0;
  let unsettled = 0;
  for await (const page of contactPages(sql, business_id, options.page_size ?? page_size_default)) {
    const compared = await comparePage(redis, sql, options, page);
    for (const m of compared.mismatches) {
      mismatches++;
      options.onMismatch(m);
    }
    for (const id of compared.unsettled) {
      unsettled++;
      options.onUnsettled?.(id);
    }
    checked += page.length;
    options.onProgress?.(checked);
  }
  return { outcome: 'compared', checked, mismatches, unsettled };
}

/** Every contact (of one business) with its business's currency, a page at a time, by id. */
async function* contactPages(sql: Sql, business_id: string | undefined, size: number): AsyncGenerator<LedgerContact[]> {
  let after = '';
  for (;;) {
    const page = await sql<LedgerContact[]>`
      select c.id, b.currency from contacts c join businesses b on b.id = c.business_id
      where c.id > ${after} ${business_id === undefined ? sql`` : sql`and c.business_id = ${business_id}`}
      order by c.id limit ${size}`;
    if (page.length === 0) return;
    yield page;
    after = page[page.length - 1]!.id;
    if (page.length < size) return;
  }
}

/** The page's confirmed mismatches (and the contacts that never held still): Redis and the ledger read once for all, suspects again one by one. */
async function comparePage(redis: RedisClient, sql: Sql, options: ReconcileOptions, page: readonly LedgerContact[]): Promise<{ mismatches: Mismatch[]; unsettled: string[] }> {
  const in_redis = await Promise.all(page.map((c) => redisBalances(redis, options.shard_count, c.id)));
  const in_ledger = await ledgerBalances(sql, page);
  const mismatches: Mismatch[] = [];
  const unsettled: string[] = [];
  for (let i = 0; i < page.length; i++) {
    const contact = page[i]!;
    if (differences(in_redis[i]!, in_ledger.get(contact.id)!).length === 0) continue;
    const found = await confirm(redis, sql, options, contact);
    if (found === 'unsettled') unsettled.push(contact.id);
    else for (const d of found) mismatches.push({ contact_id: contact.id, ...d });
  }
  return { mismatches, unsettled };
}

/**
 * A second look at one contact: Redis, then the ledger once it holds what the contact's shard
 * had journaled by then, then Redis again. Differences are kept only if Redis did not move
 * meanwhile; else it is tried again, up to attempts_max times, and 'unsettled' if it moved
 * every time.
 */
async function confirm(redis: RedisClient, sql: Sql, options: ReconcileOptions, contact: LedgerContact): Promise<Difference[] | 'unsettled'> {
  const shard = shardOf(contact.id, options.shard_count);
  for (let attempt = 0; attempt < attempts_max; attempt++) {
    const before = await redisBalances(redis, options.shard_count, contact.id);
    const mark = await journalMark(redis, shard);
    await waitForLedger(redis, shardMarks(options.shard_count, shard, mark), options.recheck_wait_ms ?? 5_000, 20);
    const ledger = (await ledgerBalances(sql, [contact])).get(contact.id)!;
    await options.betweenReads?.(contact.id);
    const after = await redisBalances(redis, options.shard_count, contact.id);
    if (sameRedisBalances(before, after)) return differences(after, ledger);
  }
  return 'unsettled';
}
