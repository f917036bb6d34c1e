// Catch-up after a fault: the time from the system's recovery until every journal entry that
// existed at that moment is in the ledger (acknowledged by a writer after its commit), as
// reconcile and rebuild wait for it (processor/ledger/caught-up.ts). Read from Redis directly,
// so it is counted whatever the gateway is doing. Counting "the lag fell back to what it was"
// instead would call a dead writer's pending batch caught up while it still waits to be claimed,
// hidden under the load's ordinary lag.

import { journalMarks, shardCaughtUp, type JournalMarks } from '../../processor/ledger/caught-up.ts';
import type { RedisClient } from '../../processor/stores.ts';
import { within } from './checks.ts';
import { sleep } from './exec.ts';

export interface CatchUp {
  /** Seconds from recovery to every entry of that moment in the ledger; undefined: not within the deadline. */
  readonly seconds: Promise<number | undefined>;
}

/** Starts watching at `recovered_at` (now, or just before); gives up after `timeout_ms`, or when `stop` is aborted (the suite ends). */
export function watchCatchUp(redis: RedisClient, shard_count: number, recovered_at: number, timeout_ms: number, stop: AbortSignal): CatchUp {
  const seconds = (async () => {
    let marks: JournalMarks | undefined;
    const waiting = new Set(Array.from({ length: shard_count }, (_, s) => s));
    while (Date.now() - recovered_at < timeout_ms && !stop.aborted) {
      try {
        marks ??= await within(journalMarks(redis, shard_count), 2_000);
        for (const s of [...waiting]) if (await within(shardCaughtUp(redis, s, marks[s] ?? null), 2_000)) waiting.delete(s);
        if (waiting.size === 0) return (Date.now() - recovered_at) / 1_000;
      } catch {
        // Redis not answering yet (it may just have restarted): try again.
      }
      await sleep(100);
    }
    return undefined;
  })();
  return { seconds };
}
