// How far behind the ledger is, counted from Redis: the age of the oldest journal entry not yet in
// PostgreSQL. The ledger writer reads each shard's stream `j:{s<n>}` through the consumer group
// `ledger` and XACKs an entry only after the PostgreSQL commit that holds it, so an entry is not
// yet in the ledger exactly while it is
//   - pending in the group (delivered to a writer, not acknowledged): the smallest id of XPENDING;
//   - or not delivered yet: the first entry after the group's last-delivered-id (XINFO GROUPS).
// A stream id starts with the Redis server's clock in ms when the entry was added (XADD *), so
// the oldest such id, against Redis's own TIME read after it, is how many seconds behind the
// ledger is. Reads per shard go last-delivered-id first, then pending and the first undelivered
// entry: an entry delivered in between is after that last-delivered-id, so it is never missed.

import { journal_group, journalKey } from '../processor/hot/keys.ts';
import type { RedisClient } from '../processor/stores.ts';

/** The ms part of a stream id ("1732435200123-7" → 1732435200123). */
export function streamIdMs(id: string): number {
  const dash = id.indexOf('-');
  const ms = Number(dash < 0 ? id : id.slice(0, dash));
  if (!Number.isSafeInteger(ms) || ms < 0) throw new Error(`not a stream id: ${id}`);
  return ms;
}

/** Stream ids in order: <0 when a is older than b. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  return am < bm ? -1 : am > bm ? 1 : as < bs ? -1 : as > bs ? 1 : 0;
}

/** The oldest of some stream ids (null when there are none): the oldest entry not in the ledger. */
export function oldestId(ids: readonly (string | null | undefined)[]): string | null {
  let oldest: string | null = null;
  for (const id of ids) if (id !== null && id !== undefined && id !== '' && (oldest === null || compareStreamIds(id, oldest) < 0)) oldest = id;
  return oldest;
}

/** Ms between a stream id's time and `now_ms` (never negative: the same clock, read later). */
export function ageMs(now_ms: number, id: string | null): number {
  return id === null ? 0 : Math.max(0, now_ms - streamIdMs(id));
}

/** Redis TIME ([seconds, microseconds]) in ms. */
export function timeMs(reply: readonly (string | number)[]): number {
  return Number(reply[0]) * 1000 + Math.floor(Number(reply[1]) / 1000);
}

/** XINFO GROUPS of a stream, our group as an object, whichever shape the client returns (map or flat pairs). */
export function groupOf(reply: unknown, name = journal_group): Record<string, unknown> | undefined {
  for (const g of (reply ?? []) as (Record<string, unknown> | unknown[])[]) {
    const info: Record<string, unknown> = Array.isArray(g) ? Object.fromEntries(Array.from({ length: g.length >> 1 }, (_, i) => [String(g[2 * i]), g[2 * i + 1]])) : g;
    if (info.name === name) return info;
  }
  return undefined;
}

/** First id of an XRANGE reply (entries as [id, fields] pairs or {id, message} objects), null when empty. */
export function firstRangeId(reply: unknown): string | null {
  const first = (reply as unknown[] | null)?.[0] as unknown;
  if (first === undefined || first === null) return null;
  if (Array.isArray(first)) return String(first[0]);
  return String((first as { id: unknown }).id);
}

export interface LagReading {
  /** Redis's clock when read, ms. */
  readonly now_ms: number;
  /** Age of the oldest journal entry not yet in the ledger (0 when there is none), ms. */
  readonly behind_ms: number;
  /** Entries not yet in the ledger (pending + not yet delivered), over all shards. */
  readonly entries: number;
  readonly oldest_id: string | null;
}

async function shardLag(redis: RedisClient, key: string): Promise<{ oldest: string | null; entries: number }> {
  const group = groupOf(await redis.sendCommand(['XINFO', 'GROUPS', key]).catch(() => []));
  if (group === undefined) {
    // No writer has read this shard yet: everything in the stream is behind.
    const [first, len] = await Promise.all([redis.sendCommand(['XRANGE', key, '-', '+', 'COUNT', '1']), redis.sendCommand(['XLEN', key])]);
    return { oldest: firstRangeId(first), entries: Number(len) };
  }
  const last = String(group['last-delivered-id']);
  const [pending, next] = await Promise.all([
    redis.sendCommand(['XPENDING', key, journal_group]) as Promise<[number, string | null, string | null, unknown]>,
    redis.sendCommand(['XRANGE', key, `(${last}`, '+', 'COUNT', '1']),
  ]);
  const lag = Number(group.lag);
  // lag is nil after some deletions; then at least the one found after last-delivered-id.
  const undelivered = Number.isFinite(lag) ? lag : firstRangeId(next) === null ? 0 : 1;
  return { oldest: oldestId([pending[1], firstRangeId(next)]), entries: Number(pending[0]) + undelivered };
}

/** One reading over every shard (`key` names a shard's stream: the tests use streams of their own). */
export async function ledgerLag(redis: RedisClient, shard_count: number, key: (shard: number) => string = journalKey): Promise<LagReading> {
  const shards = await Promise.all(Array.from({ length: shard_count }, (_, s) => shardLag(redis, key(s))));
  // TIME last: an entry added while the shards were read is younger than this, never negative.
  const now_ms = timeMs((await redis.sendCommand(['TIME'])) as string[]);
  const oldest = oldestId(shards.map((s) => s.oldest));
  return { now_ms, behind_ms: ageMs(now_ms, oldest), entries: shards.reduce((a, s) => a + s.entries, 0), oldest_id: oldest };
}

export interface LagSeries {
  readonly interval_ms: number;
  readonly samples: number;
  /** Largest age over the samples, seconds. */
  readonly max_behind_s: number;
  readonly max_entries: number;
  readonly errors: number;
  /** [seconds since the sampler started, seconds behind, entries behind] per sample. */
  readonly series: [number, number, number][];
}

/** Summary of samples ([t_s, behind_s, entries]). */
export function summariseLag(series: [number, number, number][], interval_ms: number, errors = 0): LagSeries {
  let max_behind_s = 0;
  let max_entries = 0;
  for (const [, b, e] of series) {
    if (b > max_behind_s) max_behind_s = b;
    if (e > max_entries) max_entries = e;
  }
  return { interval_ms, samples: series.length, max_behind_s, max_entries, errors, series };
}

/** Reads `ledgerLag` every `interval_ms` (the next one at once when a reading took longer) until stopped. */
export class LagSampler {
  private running = true;
  private readonly series: [number, number, number][] = [];
  private errors = 0;
  private wake: (() => void) | undefined;
  private readonly loop: Promise<void>;

  constructor(
    private readonly redis: RedisClient,
    private readonly shard_count: number,
    private readonly interval_ms = 250,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const start = performance.now();
    while (this.running) {
      const t0 = performance.now();
      try {
        const r = await ledgerLag(this.redis, this.shard_count);
        this.series.push([Math.round(t0 - start) / 1000, r.behind_ms / 1000, r.entries]);
      } catch {
        this.errors++;
      }
      const wait = this.interval_ms - (performance.now() - t0);
      if (this.running && wait > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          this.wake = () => (clearTimeout(timer), resolve());
        });
        this.wake = undefined;
      }
    }
  }

  async stop(): Promise<LagSeries> {
    this.running = false;
    this.wake?.();
    await this.loop;
    return summariseLag(this.series, this.interval_ms, this.errors);
  }
}
