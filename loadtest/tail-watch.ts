// What a fixed-rate run's slowest requests may have waited for, read around the run: Redis's own
// stalls (its latency monitor: the AOF's fsync and write, slow commands), the AOF rewrites Redis
// began meanwhile (a fork, then the whole data set written to the disk every reply's fsync waits
// on), and the gateway's event-loop lateness and GC pauses. A p99 target missed is reported with
// these beside it, not as a bare figure.

import type { RedisClient } from '../processor/stores.ts';
import { formatGc, pausesBetween, readPauses, type Pauses } from './gateway-pauses.ts';
import { formatStalls, readStalls, stall_threshold_ms, startStallWatch, type StallSummary } from './redis-stalls.ts';

export interface TailCauses {
  readonly seconds: number;
  readonly redis_stalls: readonly StallSummary[];
  /** AOF rewrites Redis began during the run (INFO persistence `aof_rewrites`). */
  readonly aof_rewrites: number;
  readonly gateway: Pauses;
}

/** Redis's count of AOF rewrites since it started. */
export async function aofRewrites(redis: RedisClient): Promise<number> {
  const info = await redis.info('persistence');
  const n = Number(/^aof_rewrites:(\d+)/m.exec(info)?.[1]);
  if (!Number.isInteger(n)) throw new Error('Redis INFO persistence has no aof_rewrites');
  return n;
}

/** `run` with the watch around it: its result, and what its slowest requests may have waited for. */
export async function withTailWatch<T>(redis: RedisClient, gateway_url: string, run: () => Promise<T>): Promise<{ result: T; tail: TailCauses }> {
  const watch = await startTailWatch(redis, gateway_url);
  let result: T;
  try {
    result = await run();
  } catch (err) {
    await watch.stop().catch(() => {}); // Redis's latency threshold back; the run's error is the one to see
    throw err;
  }
  return { result, tail: await watch.stop() };
}

/** Watch from now; `stop()` when the run is over. */
async function startTailWatch(redis: RedisClient, gateway_url: string): Promise<{ stop(): Promise<TailCauses> }> {
  const watch = await startStallWatch(redis, stall_threshold_ms);
  const from_ms = Date.now();
  const rewrites_before = await aofRewrites(redis);
  const pauses_before = await readPauses(gateway_url);
  return {
    async stop() {
      try {
        const pauses_after = await readPauses(gateway_url);
        const rewrites_after = await aofRewrites(redis);
        const to_ms = Date.now();
        // Whole seconds, as Redis's latency history keeps them: the seconds with a stall are
        // counted out of these, so never more than them.
        const [from_s, to_s] = [Math.floor(from_ms / 1000), Math.ceil(to_ms / 1000)];
        const redis_stalls = await readStalls(redis, from_s, to_s);
        return { seconds: to_s - from_s, redis_stalls, aof_rewrites: rewrites_after - rewrites_before, gateway: pausesBetween(pauses_before, pauses_after) };
      } finally {
        await watch.stop(); // Redis's own latency threshold back, whatever failed
      }
    },
  };
}

/** One line: Redis's stalls, its AOF rewrites, the gateway's pauses. */
export function formatTailCauses(c: TailCauses): string {
  const g = c.gateway;
  return `${formatStalls(c.redis_stalls, c.seconds, stall_threshold_ms)}; AOF rewrites begun: ${c.aof_rewrites}; gateway event loop late p99 ${g.loop_delay_p99_ms} ms (max ${g.loop_delay_max_ms}), GC ${formatGc(g.gc)}`;
}

/** The same, short, for the p99 target's figure: what no request of those seconds could beat. */
export function briefTailCauses(c: TailCauses): string {
  const fsync = c.redis_stalls.find((s) => s.event === 'aof-fsync-always');
  const stalls = fsync === undefined ? `no Redis fsync ≥ ${stall_threshold_ms} ms` : `Redis fsync ≥ ${stall_threshold_ms} ms in ${fsync.seconds} of ${c.seconds} s (longest ${fsync.max_ms} ms)`;
  return `${stalls}, AOF rewrites ${c.aof_rewrites}, gateway event loop late ≤ ${c.gateway.loop_delay_max_ms} ms`;
}
