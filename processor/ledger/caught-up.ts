// Whether the ledger has every journal entry that existed at some moment: per shard, the last
// entry id then (the mark), and the consumer group having acknowledged up to it. Operations
// (reconcile, rebuild --force) wait on it; nothing on the POS path does.

import { journal_group, journalKey } from '../hot/keys.ts';
import type { RedisClient } from '../stores.ts';
import { streamGroup } from './stream-group.ts';

/** Per shard, the id of its journal's last entry now (null: no entry). */
export type JournalMarks = readonly (string | null)[];

export async function journalMarks(redis: RedisClient, shard_count: number): Promise<JournalMarks> {
  return Promise.all(Array.from({ length: shard_count }, (_, s) => journalMark(redis, s)));
}

export async function journalMark(redis: RedisClient, shard: number): Promise<string | null> {
  const last = (await redis.sendCommand(['XREVRANGE', journalKey(shard), '+', '-', 'COUNT', '1'])) as [string, unknown][];
  return last[0]?.[0] ?? null;
}

/** Stream ids compared as numbers ('<ms>-<seq>'), never as text ('9-1' < '10-1'). */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am < bm ? -1 : am > bm ? 1 : as < bs ? -1 : as > bs ? 1 : 0;
}

/**
 * Whether the writers' group has delivered every entry up to `mark` on `shard` and has none of
 * them pending (delivered, not yet committed and acknowledged). A journal emptied meanwhile (a
 * Redis that lost its data), or made anew since, has nothing left to wait for.
 */
export async function shardCaughtUp(redis: RedisClient, shard: number, mark: string | null): Promise<boolean> {
  if (mark === null) return true;
  const key = journalKey(shard);
  if ((await redis.exists(key)) === 0) return true;
  const group = await streamGroup(redis, key, journal_group);
  if (group === undefined) return false;
  const delivered = String(group['last-delivered-id']);
  // Not delivered up to the mark: something is left to wait for only if an entry up to the mark
  // is still there (a Redis that restarted empty, whose writer made the group anew at 0, has none).
  if (compareStreamIds(delivered, mark) < 0) {
    const left = (await redis.sendCommand(['XRANGE', key, `(${delivered}`, mark, 'COUNT', '1'])) as unknown[];
    if (left.length > 0) return false;
  }
  const pending = (await redis.sendCommand(['XPENDING', key, journal_group, '-', mark, '1'])) as unknown[];
  return pending.length === 0;
}

/** Marks that wait on one shard only. */
export function shardMarks(shard_count: number, shard: number, mark: string | null): (string | null)[] {
  return Array.from({ length: shard_count }, (_, s) => (s === shard ? mark : null));
}

/**
 * Wait until the ledger holds every entry one shard's journal has now, for at most `timeout_ms`:
 * a report read after it holds every transaction of the shard's contacts answered before.
 * Returns whether it does.
 */
export async function waitForShard(redis: RedisClient, shard_count: number, shard: number, timeout_ms: number, poll_ms = 10): Promise<boolean> {
  return waitForLedger(redis, shardMarks(shard_count, shard, await journalMark(redis, shard)), timeout_ms, poll_ms);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Wait until the ledger holds every entry up to `marks`, polling every `poll_ms`, for at most
 * `timeout_ms`. Returns whether it did.
 */
export async function waitForLedger(redis: RedisClient, marks: JournalMarks, timeout_ms: number, poll_ms = 100): Promise<boolean> {
  const deadline = Date.now() + timeout_ms;
  const waiting = new Set(marks.map((_, s) => s));
  for (;;) {
    for (const s of [...waiting]) if (await shardCaughtUp(redis, s, marks[s] ?? null)) waiting.delete(s);
    if (waiting.size === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(poll_ms, Math.max(0, deadline - Date.now())));
  }
}
