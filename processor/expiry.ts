// The expiry sweeper: finds, shard by shard, the contacts whose earliest commerce lot has expired
// (a sorted set the award scripts keep) and expires their lots in a shard script each.

import { newId } from '../core/ids.ts';
import { PocketgateError } from '../core/errors.ts';
import { rewardsCall } from './awards.ts';
import { expire_lots_max, type ExpireCall } from './hot/expire.ts';
import { expired_lots_kept_ms } from './hot/keys.ts';
import type { AwardItem } from './hot/award-items.ts';
import { contactKey, expiryKey } from './hot/keys.ts';
import type { Business, Network } from './network.ts';
import { shardReply } from './shard.ts';
import type { Stores } from './stores.ts';
import { expiryTemplates } from './templates.ts';
import { repeatWhenDue } from './repeat.ts';
import { isStoreUnavailable } from './unavailable.ts';

/** Contacts expired per shard per sweep: a sweep is bounded, the next one goes on. */
const contacts_per_shard_max = 200;

/**
 * The least wait between two sweeps: lots expiring one after another, or a backlog being
 * expired, make at most 1,000 / this sweeps a second.
 */
export const sweep_wait_ms_min = 25;

/** The longest wait after a sweep that failed (EXPIRY_SWEEP_MS when shorter). */
const sweep_retry_ms_max = 1_000;

/**
 * A contact whose expiry failed is set aside in its shard's index, 1 s after its first failure in
 * a row and twice as long after each next, up to this: a contact that keeps failing (data its
 * script cannot read) no longer takes a place among the contacts_per_shard_max each sweep reads.
 */
const set_aside_ms_max = 300_000;

/** Contacts whose failures in a row are counted at once; the oldest counted is forgotten past it. */
const set_aside_contacts_max = 10_000;

/**
 * Expiry calls per contact per sweep at most (each of up to expire_lots_max lots): the rest of a
 * contact's due lots wait for the next sweep.
 */
const expire_calls_max = 20;

export class Expiry {
  constructor(
    private readonly stores: Stores,
    private readonly network: Network,
  ) {}

  /**
   * Expire what is due now on every shard; returns the number of expiry transactions. A shard or
   * a contact that fails is passed by and the sweep goes on; the first failure is thrown at the
   * end (the sweeper tries again within a second: start). Thrown at once, one contact whose
   * script failed kept every contact after it from expiring until it no longer failed.
   */
  async sweep(now_ms = this.stores.clock.now()): Promise<number> {
    const { redis, config } = this.stores;
    let done = 0;
    let failed: { readonly err: unknown } | undefined;
    for (let shard = 0; shard < config.shard_count; shard++) {
      let due: string[];
      try {
        due = (await redis.sendCommand(['ZRANGE', expiryKey(shard), '-inf', String(now_ms), 'BYSCORE', 'LIMIT', '0', String(contacts_per_shard_max)])) as string[];
      } catch (err) {
        failed ??= { err };
        continue;
      }
      for (const contact_id of due) {
        try {
          done += await this.expire(shard, contact_id, now_ms);
          this.failures.delete(`${shard}:${contact_id}`);
        } catch (err) {
          failed ??= { err };
          // A store that cannot serve fails every contact alike: setting one aside would only
          // delay it past the store's return.
          if (!isStoreUnavailable(err) && !(err instanceof PocketgateError && err.code === 'unavailable')) await this.setAside(shard, contact_id, now_ms);
        }
      }
    }
    if (failed !== undefined) throw failed.err;
    return done;
  }

  /**
   * Expire the contact's lots now if its earliest is due: a reversal that gave back lots which
   * expired while they were redeemed (hot/reversal.lua) leaves no expired money in the wallet it
   * answers before, as if the redemption never happened, rather than until the next sweep.
   */
  async expireDue(shard: number, contact_id: string, now_ms: number): Promise<boolean> {
    return (await this.isDue(shard, contact_id, now_ms)) && (await this.expire(shard, contact_id, now_ms)) > 0;
  }

  /**
   * After awards committed: expire now the lots of those made already past their expiry
   * (madeExpired), as they would have expired had their sale been booked when it was made; their
   * script's wallet left them out. Whether it did; failing, the sweep does it.
   */
  async expireMade(shard: number, contact_id: string, items: readonly AwardItem[], accepted: readonly number[] | undefined, now_ms: number): Promise<boolean> {
    // Lots already due are expired just below; a wake at least sweep_wait_ms_min on, as any sweep.
    this.wakeBy?.(Math.max(earliestLotMade(items, accepted, now_ms), now_ms + sweep_wait_ms_min));
    return madeExpired(items, accepted, now_ms) && this.expireDue(shard, contact_id, now_ms);
  }

  /** Failures in a row of the contacts set aside (`shard:contact`), the latest to fail last. */
  private readonly failures = new Map<string, number>();

  /**
   * Moves a contact whose expiry failed later in its shard's index (only later: an award's earlier
   * lot brings it forward again, ZADD LT), so that the next sweeps expire the contacts behind it.
   * With every contact set aside in turn, 200 that kept failing on one shard kept every other
   * contact of that shard from expiring (a review, 2026-12-07). Failing too, the contact stays
   * where it was: nothing is lost, the sweep only retries it.
   */
  private async setAside(shard: number, contact_id: string, now_ms: number): Promise<void> {
    const key = `${shard}:${contact_id}`;
    const failures_n = (this.failures.get(key) ?? 0) + 1;
    this.failures.delete(key);
    if (this.failures.size >= set_aside_contacts_max) this.failures.delete(this.failures.keys().next().value!);
    this.failures.set(key, failures_n);
    const wait_ms = Math.min(set_aside_ms_max, 1_000 * 2 ** Math.min(failures_n - 1, 20));
    try {
      await this.stores.redis.sendCommand(['ZADD', expiryKey(shard), 'XX', 'GT', String(now_ms + wait_ms), contact_id]);
    } catch {
      // The sweep reports its first failure; this one is of the same Redis.
    }
  }

  /** Set while this process sweeps (start): brings its next sweep forward to a lot made here that falls due sooner. */
  private wakeBy: ((due_ms: number) => void) | undefined;

  private async isDue(shard: number, contact_id: string, now_ms: number): Promise<boolean> {
    const due = await this.stores.redis.zScore(expiryKey(shard), contact_id);
    return due !== null && due <= now_ms;
  }

  /**
   * The contact's lots due at `now_ms`, expired: one expiry transaction per script call, each of
   * at most expire_lots_max lots, until none is due (at most expire_calls_max). Returns how many.
   */
  private async expire(shard: number, contact_id: string, now_ms: number): Promise<number> {
    const business_id = await this.stores.redis.hGet(contactKey(shard, contact_id), 'b');
    const business = business_id === null || business_id === undefined ? undefined : await this.network.business(business_id);
    if (business === undefined) {
      await this.stores.redis.zRem(expiryKey(shard), contact_id);
      return 0;
    }
    let done = 0;
    for (let call_n = 0; call_n < expire_calls_max; call_n++) {
      // Each call a reference of its own: the first as it always was.
      const reference = call_n === 0 ? `expiry:${contact_id}:${now_ms}` : `expiry:${contact_id}:${now_ms}:${call_n}`;
      if (!(await this.expireOnce(business, shard, contact_id, reference, now_ms))) break;
      done++;
      if (!(await this.isDue(shard, contact_id, now_ms))) break;
    }
    return done;
  }

  private async expireOnce(business: Business, shard: number, contact_id: string, reference: string, now_ms: number): Promise<boolean> {
    const id = newId('txn');
    const templates = expiryTemplates({ id, business_id: business.id, contact_id, currency: business.currency, now_ms, reference });
    const call: ExpireCall = { ...rewardsCall(this.stores, business, contact_id, shard, reference, id, now_ms, templates), lots_max: expire_lots_max, expired_kept_ms: expired_lots_kept_ms };
    const out = await shardReply(this.stores, call, this.stores.redis.expireScript(call));
    return out.status === 201;
  }

  /**
   * Sweep until stopped: when the earliest lot known is due, and at least every `interval_ms`
   * (lots made since, by purchases dated back, may expire sooner than any known). Swept only
   * every interval, a lot stayed in the commerce balance up to 10 s past its expiry: a wallet read
   * then, or a refund's claw-back, counted it as money the contact still held (a black-box probe,
   * 2026-12-05). Errors are reported and the next sweep goes on. The first sweep runs at once:
   * lots that fell due while no sweeper ran (a restart) counted in wallets for the first interval
   * after the start (a black-box probe, 2026-12-05: 500 shown 19 s past its expiry, swept 0.5 s
   * after /readyz said ready).
   */
  start(interval_ms: number, onError: (err: unknown) => void): () => void {
    // A sweep that failed is tried again within a second, not a whole interval on: with
    // EXPIRY_SWEEP_MS at 30 s, one failure kept a lot due now in the wallet for 30 s.
    const sweeps = repeatWhenDue(0, () => this.sweepThenWait(interval_ms), Math.min(interval_ms, sweep_retry_ms_max), onError, this.stores.clock);
    // A lot made in this process since the last sweep, due before the next: the sweep is brought
    // forward to it (sweepThenWait knows only the lots there were then): a lot made between sweeps
    // stayed until the next, up to EXPIRY_SWEEP_MS late (a probe, 2026-12-06). Lots made by other
    // gateway processes wait at most the interval, as before.
    this.wakeBy = (due_ms) => sweeps.wakeBy(due_ms);
    return () => {
      this.wakeBy = undefined;
      sweeps.stop();
    };
  }

  /**
   * One sweep, then how long to wait until the next (start's repetition): until the earliest lot
   * not due at the sweep's time is, within [sweep_wait_ms_min, interval_ms]; the least while a
   * backlog is being expired (lots still due after a sweep that expired some). Lots still due
   * after a sweep that expired none are stuck (a script refusing), not a backlog: they wait the
   * interval, lest the sweeper spin on them. The wait is from the lots after the sweep's time, not
   * after the time it ends: a lot falling due in between (a timer woken a few ms early for it, as
   * Node's are by a busy loop's cached time) was neither swept nor waited for, and stayed until
   * the next interval (CI's test/expiry-on-time.test.ts, 30 s apart: past 10 s late in several runs).
   */
  async sweepThenWait(interval_ms: number): Promise<number> {
    const { redis, config, clock } = this.stores;
    const swept_at_ms = clock.now();
    const done = await this.sweep(swept_at_ms);
    const shards = Array.from({ length: config.shard_count }, (_, shard) => shard);
    const [next, due] = await Promise.all([
      Promise.all(shards.map(async (shard) => (await redis.zRangeWithScores(expiryKey(shard), `(${swept_at_ms}`, '+inf', { BY: 'SCORE', LIMIT: { offset: 0, count: 1 } }))[0]?.score ?? Infinity)),
      done > 0 ? Promise.all(shards.map((shard) => redis.zCount(expiryKey(shard), '-inf', swept_at_ms))) : [],
    ]);
    if (due.some((n) => n > 0)) return sweep_wait_ms_min;
    return Math.max(sweep_wait_ms_min, Math.min(interval_ms, Math.min(...next) - clock.now()));
  }
}

/**
 * Whether an accepted award (indexes into `items`) went into a commerce lot already past its
 * expiry: a purchase dated back further than the award's validity (a processor's clearing may be
 * dated 35 days back, EVENTS.md), or a referrer's award made of it.
 */
/** The earliest expiry after `now_ms` of the commerce lots an award call made (Infinity for none). */
export function earliestLotMade(items: readonly AwardItem[], accepted: readonly number[] | undefined, now_ms: number): number {
  let earliest = Infinity;
  for (const i of accepted ?? []) {
    const item = items[i];
    if (item?.kind !== 'c') continue;
    const expiry_ms = Number(item.lot.slice(0, 13));
    if (expiry_ms > now_ms && expiry_ms < earliest) earliest = expiry_ms;
  }
  return earliest;
}

export function madeExpired(items: readonly AwardItem[], accepted: readonly number[] | undefined, now_ms: number): boolean {
  return (accepted ?? []).some((i) => items[i]?.kind === 'c' && Number(items[i]!.lot.slice(0, 13)) <= now_ms);
}
