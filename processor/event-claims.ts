// A processor callback's event id, and the processor transaction it acts on, claimed in Redis by
// the one request that applies the event, whichever gateway process it reached (spec/EVENTS.md:
// "the same event id from the same processor gets the first result again, with "replayed": true,
// and changes nothing"). Within a process such events already wait for each other
// (adapters/callbacks/events.ts); the claims are for events sent to two processes at once: one id
// naming two transactions, each of which its own reference would let through (both would be
// booked, the second answered as a replay of the first), or an authorization and its clearing
// (each would book its own amount under the one reference: the second an idempotency conflict).
//
// The claims are leases (hot/lease.lua), both taken in one round trip or neither (so two
// requests never wait on each other in a cycle), renewed while their holder works and given back
// once the event's answer is stored in PostgreSQL, so the next holder reads that answer and
// replays it. A process that dies holding them holds them lease_ms at most: the processor's retry
// (EVENTS.md: after a 5xx or no answer) then takes them. A request that cannot have them within
// wait_ms, or while Redis cannot take writes, is 503 `unavailable`, which the processor retries.
// Both keys are tagged by the business: one Redis Cluster slot.

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PocketgateError } from '../core/errors.ts';
import type { LeaseOp } from './hot/lease.ts';
import { requireWritable } from './redis-health.ts';
import type { Stores } from './stores.ts';

export interface EventClaimTiming {
  /** The claim's time to live, renewed every third of it while its holder lives. */
  readonly lease_ms: number;
  /** How long an event waits for another request's claim of its id before answering 503. */
  readonly wait_ms: number;
  /** How often a waiting event tries the claim again. */
  readonly poll_ms: number;
}

export const event_claim_timing: EventClaimTiming = { lease_ms: 15_000, wait_ms: 5_000, poll_ms: 5 };

/** How often a claim whose answer was lost is tried back, and for how long at most (bounds its timers). */
const give_back_interval_ms = 1_000;
const give_back_attempts_max = 120;

export class EventClaims {
  constructor(
    private readonly stores: Pick<Stores, 'redis' | 'redis_health'>,
    private readonly timing: EventClaimTiming = event_claim_timing,
  ) {}

  /**
   * `work` run holding the claims of `keys` (hot/keys.ts eventClaimKey, transactionClaimKey; one
   * key: the same twice), waiting for another request's first.
   */
  async holding<T>(keys: readonly [string, string], work: () => Promise<T>): Promise<T> {
    const holder = randomBytes(12).toString('base64url');
    const { lease_ms } = this.timing;
    const lease = (op: LeaseOp) => this.stores.redis.leaseScript({ keys, holder, op, lease_ms });
    await this.take(lease);
    // A renewal that fails leaves the lease to run out: its holder's answer is stored by then, or
    // the next holder applies the event and the commands' own idempotency holds.
    const renewal = setInterval(() => lease('renew').catch(() => {}), Math.floor(lease_ms / 3));
    renewal.unref();
    try {
      return await work();
    } finally {
      clearInterval(renewal);
      // Not awaited: the answer is stored already (or nothing was, and the request fails). Sent
      // before any later command of this process on its connection; if Redis is gone, the lease
      // runs out by itself.
      lease('release').catch(() => {});
    }
  }

  private async take(lease: (op: LeaseOp) => Promise<number>): Promise<void> {
    const deadline = performance.now() + this.timing.wait_ms;
    for (;;) {
      await requireWritable(this.stores);
      let taken: number;
      try {
        taken = await lease('take');
      } catch (err) {
        this.giveBackOnceServed(lease);
        throw err;
      }
      if (taken === 1) return;
      if (performance.now() >= deadline) throw new PocketgateError('unavailable', 'another request is applying an event of this id or transaction; try again shortly');
      await sleep(this.timing.poll_ms);
    }
  }

  /**
   * A take whose answer was lost (the connection dropped under it, Redis frozen) may still be run
   * when Redis wakes, for a holder that has answered 503 and gone: every retry of the event would
   * wait for that lease until it ran out (15 s; a black-box probe under SIGSTOP). Given back (the
   * holder's alone: hot/lease.lua) once Redis answers, and once more a second later, after
   * anything the old connection left to run: a give-back before the take would leave it.
   */
  private giveBackOnceServed(lease: (op: LeaseOp) => Promise<number>): void {
    let attempt = 0;
    let given_back = 0;
    const next = () => {
      if (++attempt > give_back_attempts_max || given_back >= 2) return;
      setTimeout(tryBack, give_back_interval_ms).unref();
    };
    const tryBack = () => {
      if (this.stores.redis_health !== undefined && !this.stores.redis_health.writable) return next();
      lease('release').then(() => given_back++, () => {}).finally(next);
    };
    next();
  }
}
