// Where Redis itself stalls: its latency monitor (LATENCY HISTORY) keeps, for each second in which
// an event took longer than the threshold, the longest such event. With `appendfsync always`
// Redis's one thread waits for the disk's fsync before it answers anyone, so a slow fsync holds
// every request in flight at once: what a purchase's p99 cannot go below.

import type { RedisClient } from '../processor/stores.ts';

/** Redis events this long or longer are counted, by every benchmark that reads them. */
export const stall_threshold_ms = 5;

/** Events worth reading: the AOF's fsync and write, and commands (scripts) themselves. */
const events = ['aof-fsync-always', 'aof-write', 'command', 'fast-command'] as const;

export interface StallSummary {
  readonly event: string;
  /** Seconds in which the event took longer than the threshold at least once. */
  readonly seconds: number;
  /** Of those seconds' longest events: the median and the longest, ms. */
  readonly median_ms: number;
  readonly max_ms: number;
}

/**
 * Start counting events of `threshold_ms` or more, from now; `stop()` puts Redis's own threshold
 * back (0, off, unless it was set), so that what is measured next runs as Redis does in service.
 */
export async function startStallWatch(redis: RedisClient, threshold_ms: number): Promise<{ stop(): Promise<void> }> {
  const reply = (await redis.sendCommand(['CONFIG', 'GET', 'latency-monitor-threshold'])) as string[] | Record<string, string>;
  const before = Array.isArray(reply) ? (reply[1] ?? '0') : (reply['latency-monitor-threshold'] ?? '0');
  await redis.sendCommand(['CONFIG', 'SET', 'latency-monitor-threshold', String(threshold_ms)]);
  await redis.sendCommand(['LATENCY', 'RESET']);
  return {
    async stop() {
      await redis.sendCommand(['CONFIG', 'SET', 'latency-monitor-threshold', before]);
    },
  };
}

/** What was counted since startStallWatch, between `from_s` and `to_s` (Unix seconds). */
export async function readStalls(redis: RedisClient, from_s: number, to_s: number): Promise<StallSummary[]> {
  const out: StallSummary[] = [];
  for (const event of events) {
    const history = (await redis.sendCommand(['LATENCY', 'HISTORY', event])) as [number, number][];
    const worst = history.filter(([at]) => at >= from_s && at <= to_s).map(([, ms]) => ms).sort((a, b) => a - b);
    if (worst.length === 0) continue;
    out.push({ event, seconds: worst.length, median_ms: worst[worst.length >> 1]!, max_ms: worst.at(-1)! });
  }
  return out;
}

export function formatStalls(stalls: readonly StallSummary[], seconds: number, threshold_ms: number): string {
  if (stalls.length === 0) return `Redis stalls ≥ ${threshold_ms} ms: none`;
  return `Redis stalls ≥ ${threshold_ms} ms (seconds with one, of ${seconds}; median and longest of each second's longest): ${stalls.map((s) => `${s.event} ${s.seconds} s, ${s.median_ms}/${s.max_ms} ms`).join('; ')}`;
}
