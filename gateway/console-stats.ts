// The console's dashboard figures for one business: POS approvals and declines per second and
// their latency, counted by every gateway and added up in Redis (gateways keep no state of their
// own, so one gateway's counts alone would show a part of the traffic), the ledger's lag, and the
// awards and spends of the day from the ledger.
//
// Each gateway counts in process and adds its counts to Redis once a second: one small pipeline
// per second per active business, nothing on the POS request's own path but a few additions.

import type { Logger } from 'pino';
import { exactAmount, type ExactAmount } from '../core/money.ts';
import { consoleStatsKey } from '../processor/hot/keys.ts';
import { accountId } from '../processor/journal.ts';
import type { Business } from '../processor/network.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';

/** Upper bounds of the latency buckets, in milliseconds; the last bucket is everything slower. */
export const latency_bounds_ms = [0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1_000, 2_000, 5_000] as const;

/** Seconds of history the dashboard shows, and how long Redis keeps a second's counts. */
export const window_seconds = 60;
const kept_seconds = window_seconds * 2;
/** Businesses counted per second per gateway: past this a second's counts of the rest are dropped (memory stays bounded). */
const businesses_per_second_max = 10_000;

interface Counts {
  approved: number;
  declined: number;
  readonly buckets: number[];
}


export function bucketOf(ms: number): number {
  const i = latency_bounds_ms.findIndex((b) => ms <= b);
  return i < 0 ? latency_bounds_ms.length : i;
}

/** The bound under which `share` of the counted requests fell (the bucket's upper bound; null without requests). */
export function percentile(buckets: readonly number[], share: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i]!;
    if (seen >= share * total) return latency_bounds_ms[i] ?? latency_bounds_ms[latency_bounds_ms.length - 1]! * 2;
  }
  return null;
}

/**
 * Seconds' counts a failing Redis leaves waiting, business by business: past this the oldest are
 * dropped. What a store failure keeps from the dashboard is its own 503s, the declines most worth
 * seeing: a console probe found them all lost (2026-12-06), each second's counts dropped when
 * their addition failed.
 */
const waiting_max = 100_000;
/** Business-seconds sent per flush: after an outage the backlog goes out over seconds, not as 100,000 MULTIs at once. */
const sent_per_flush_max = 1_000;

export class ConsoleStats {
  private counts = new Map<string, Counts>();
  /** Counts not yet in Redis, by `<second>|<business>`, oldest first: added again at each flush. */
  private waiting = new Map<string, { readonly second: number; readonly business_id: string; readonly counts: Counts }>();
  private dropped = 0;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private flushing: Promise<void> | undefined;

  constructor(private readonly redis: RedisClient, private readonly logger: Logger) {}

  /** A POS transaction's outcome, whichever channel it came through (HTTP, WebSocket, ISO 8583), and how long it took. */
  readonly record = (business_id: string, approved: boolean, seconds: number): void => {
    let c = this.counts.get(business_id);
    if (c === undefined) {
      if (this.counts.size >= businesses_per_second_max) {
        this.dropped++;
        return;
      }
      c = { approved: 0, declined: 0, buckets: new Array<number>(latency_bounds_ms.length + 1).fill(0) };
      this.counts.set(business_id, c);
    }
    if (approved) c.approved++;
    else c.declined++;
    c.buckets[bucketOf(seconds * 1_000)]!++;
  };

  /**
   * Each second its counts are filed under it; they are sent unless the last sending still waits
   * for Redis (what it holds would go out twice), then with the next.
   */
  start(): void {
    this.timer = setInterval(() => {
      this.stage(Date.now());
      this.flushing ??= this.send().finally(() => (this.flushing = undefined));
    }, 1_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }

  /**
   * Adds this second's counts to Redis, with those a failure left waiting (under their own
   * seconds, while the dashboard still shows them). Never throws: a failure is logged once, until
   * a flush works again.
   */
  async flush(now_ms = Date.now()): Promise<void> {
    this.stage(now_ms);
    await this.send();
  }

  /** This second's counts filed under it, with what waits; what the dashboard no longer shows dropped. */
  private stage(now_ms: number): void {
    const second = Math.floor(now_ms / 1_000);
    for (const [business_id, counts] of this.counts) this.wait(second, business_id, counts);
    this.counts = new Map();
    for (const [key, w] of this.waiting) if (w.second <= second - window_seconds) this.waiting.delete(key);
    const dropped = this.dropped;
    this.dropped = 0;
    if (dropped > 0) this.logger.warn({ dropped, businesses_per_second_max, waiting_max }, 'console stats: more counts than kept');
  }

  /** What waits, to Redis (at most sent_per_flush_max business-seconds); what fails waits again. */
  private async send(): Promise<void> {
    if (this.waiting.size === 0) return;
    // Taken out while they are sent: what fails waits again, merged with what came meanwhile.
    const batch = [...this.waiting.values()].slice(0, sent_per_flush_max);
    for (const w of batch) this.waiting.delete(`${w.second}|${w.business_id}`);
    const sent = await Promise.allSettled(batch.map((w) => this.add(consoleStatsKey(w.business_id, w.second), w.counts)));
    const failed = sent.flatMap((r, i) => (r.status === 'rejected' ? [{ w: batch[i]!, err: r.reason as unknown }] : []));
    for (const { w } of failed) this.wait(w.second, w.business_id, w.counts);
    if (failed.length === 0) {
      if (this.failing) this.logger.info('console stats: counting in Redis again');
      this.failing = false;
    } else {
      if (!this.failing) this.logger.warn({ err: failed[0]!.err }, 'console stats: could not add the counts to Redis; kept for the dashboard\'s window, added once it can');
      this.failing = true;
    }
  }

  /** Counts waiting under their second, added to any already waiting there. */
  private wait(second: number, business_id: string, counts: Counts): void {
    const key = `${second}|${business_id}`;
    const w = this.waiting.get(key);
    if (w !== undefined) {
      w.counts.approved += counts.approved;
      w.counts.declined += counts.declined;
      counts.buckets.forEach((n, i) => (w.counts.buckets[i]! += n));
      return;
    }
    if (this.waiting.size >= waiting_max) {
      const oldest = this.waiting.keys().next().value!;
      this.waiting.delete(oldest);
      this.dropped++;
    }
    this.waiting.set(key, { second, business_id, counts });
  }

  /**
   * One second's counts of one business, added whole or not at all (MULTI), so that a refusal
   * adds them again once. (A connection lost under EXEC's answer after Redis ran it adds them twice.)
   */
  private async add(key: string, c: Counts): Promise<void> {
    const multi = this.redis.multi();
    if (c.approved > 0) multi.hIncrBy(key, 'a', c.approved);
    if (c.declined > 0) multi.hIncrBy(key, 'd', c.declined);
    c.buckets.forEach((n, i) => {
      if (n > 0) multi.hIncrBy(key, `l${i}`, n);
    });
    multi.expire(key, kept_seconds);
    await multi.exec();
  }

  /** The last window_seconds of a business, oldest first, with p50 and p99 over them. */
  async read(business_id: string): Promise<TrafficView> {
    const now = Math.floor(Date.now() / 1_000);
    const seconds = Array.from({ length: window_seconds }, (_, i) => now - window_seconds + i);
    const hashes = await Promise.all(seconds.map((s) => this.redis.hGetAll(consoleStatsKey(business_id, s))));
    const buckets = new Array<number>(latency_bounds_ms.length + 1).fill(0);
    const per_second = hashes.map((h, i) => {
      for (let b = 0; b < buckets.length; b++) buckets[b]! += Number(h[`l${b}`] ?? 0);
      return { at: new Date(seconds[i]! * 1_000).toISOString().replace('.000Z', 'Z'), approved: Number(h.a ?? 0), declined: Number(h.d ?? 0) };
    });
    return { per_second, latency_ms: { p50: percentile(buckets, 0.5), p99: percentile(buckets, 0.99) } };
  }
}

export interface TrafficView {
  readonly per_second: { at: string; approved: number; declined: number }[];
  readonly latency_ms: { p50: number | null; p99: number | null };
}

/**
 * Awards given and wallet money spent since `since`, net of refunds and reversals, from the ledger
 * (what it has recorded: the lag is shown beside them): at the business's terminals, and its own
 * sign-up and referral awards and their undoing (no terminal; OPERATIONS.md's "awards today" names
 * no kind, and the dashboard lists them as today's awards: a console probe found them left out).
 * Not its expiries: an award that expired was given. Read through the terminals' index and the
 * index of the business's own (migration 029); bounded by a statement timeout, as a dashboard must
 * not load the ledger.
 */
export async function ledgerToday(sql: Sql, business: Business, since: string): Promise<{ awards: ExactAmount; spends: ExactAmount }> {
  const rewards = accountId(business.id, 'rewards', business.currency);
  const spends_suffix = `:spends:${business.currency}`;
  return sql.begin('read only', async (tx) => {
    await tx`set local statement_timeout = 5000`;
    // As text: a busy business's day may pass 2^53 (processor/ledger/reports.ts).
    const [row] = await tx<{ awards: string; spends: string }[]>`
      select
        coalesce(sum(case when p.debit_account = ${rewards} then p.amount when p.credit_account = ${rewards} then -p.amount else 0 end), 0)::text as awards,
        coalesce(sum(case when right(p.credit_account, ${spends_suffix.length}) = ${spends_suffix} then p.amount
                          when right(p.debit_account, ${spends_suffix.length}) = ${spends_suffix} then -p.amount else 0 end), 0)::text as spends
      from (
        select t.id from terminals term join ledger_transactions t on t.terminal_id = term.id and t.created_at >= ${since}
        where term.business_id = ${business.id}
        union all
        select t.id from ledger_transactions t
        where t.business_id = ${business.id} and t.terminal_id is null and t.created_at >= ${since} and t.kind <> 'expiry'
      ) t
      join ledger_postings p on p.transaction_id = t.id`;
    return { awards: exactAmount(row!.awards), spends: exactAmount(row!.spends) };
  });
}
