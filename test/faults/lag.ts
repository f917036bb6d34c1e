// Catch-up after a fault: the time from the system's recovery until every journal entry that
// existed at that moment is in the ledger (acknowledged by a writer after its commit). Read from
// Redis directly, so it is counted whatever the gateway is doing. Counting "the lag fell back to
// what it was" instead would call a dead writer's pending batch caught up while it still waits
// to be claimed, hidden under the load's ordinary lag.

import { journal_group, journalKey } from '../../processor/hot/keys.ts';
import type { RedisClient } from '../../processor/stores.ts';
import { within } from './checks.ts';
import { sleep } from './exec.ts';

/** Stream entries counted one by one per shard and check; past it, more is "not yet". */
const counted_max = 10_000;

/** The newest entry of each shard's journal now ('0-0' for an empty one). */
export async function journalMarks(redis: RedisClient, shard_count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: shard_count }, async (_, s) => {
      const last = (await redis.sendCommand(['XREVRANGE', journalKey(s), '+', '-', 'COUNT', '1'])) as [string, unknown][];
      return last[0]?.[0] ?? '0-0';
    }),
  );
}

function streamIdLess(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am < bm || (am === bm && as < bs);
}

async function lastDelivered(redis: RedisClient, key: string): Promise<string> {
  const groups = (await redis.sendCommand(['XINFO', 'GROUPS', key])) as (unknown[] | Record<string, unknown>)[];
  for (const g of groups) {
    // Pairs in a list (RESP2) or a map, whichever the client gives.
    const info = Array.isArray(g) ? Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [String(g[2 * i]), g[2 * i + 1]])) : g;
    if (info.name === journal_group) return String(info['last-delivered-id']);
  }
  return '0-0';
}

/** Entries up to the marks not yet acknowledged: pending, or not yet delivered. */
export async function backlogUpTo(redis: RedisClient, marks: readonly string[]): Promise<number> {
  const counts = await Promise.all(
    marks.map(async (mark, s) => {
      if (mark === '0-0') return 0;
      const key = journalKey(s);
      const pending = (await redis.sendCommand(['XPENDING', key, journal_group, '-', mark, String(counted_max)])) as unknown[];
      const delivered = await lastDelivered(redis, key);
      if (!streamIdLess(delivered, mark)) return pending.length;
      const undelivered = (await redis.sendCommand(['XRANGE', key, `(${delivered}`, mark, 'COUNT', String(counted_max)])) as unknown[];
      return pending.length + undelivered.length;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

export interface CatchUp {
  /** Seconds from recovery to every entry of that moment in the ledger; undefined: not within the deadline. */
  readonly seconds: Promise<number | undefined>;
}

/** Starts watching at `recovered_at` (now, or just before); gives up after `timeout_ms`, or when `stop` is aborted (the suite ends). */
export function watchCatchUp(redis: RedisClient, shard_count: number, recovered_at: number, timeout_ms: number, stop: AbortSignal): CatchUp {
  const seconds = (async () => {
    let marks: string[] | undefined;
    while (Date.now() - recovered_at < timeout_ms && !stop.aborted) {
      try {
        marks ??= await within(journalMarks(redis, shard_count), 2_000);
        if ((await within(backlogUpTo(redis, marks), 2_000)) === 0) return (Date.now() - recovered_at) / 1_000;
      } catch {
        // Redis not answering yet (it may just have restarted): try again.
      }
      await sleep(100);
    }
    return undefined;
  })();
  return { seconds };
}
