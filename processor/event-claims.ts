// A processor callback's event id, and the processor transaction it acts on, claimed in Redis by
// the one request that applies the event, whichever gateway process it reached (spec/EVENTS.md:
// "the same event id from the same processor gets the first result again, with "replayed": true,
// and changes nothing"). Within a process such events already wait for each other
// (adapters/callbacks/events.ts); the claims are for events sent to two processes at once: one id
// naming two transactions, each of which its own reference would let through (both would be
// booked, the second answered as a replay of the first), or an authorization and its clearing
// (each would book its own amount under the one reference: the second an idempotency conflict).
//
// The claim is a lease (SET NX PX), renewed while its holder works and given back once the event's
// answer is stored in PostgreSQL, so the next holder reads that answer and replays it. A process
// that dies holding it holds it lease_ms at most: the processor's retry (EVENTS.md: after a 5xx or
// no answer) then takes it. A request that cannot have it within claim_wait_ms, or while Redis
// cannot take writes, is 503 `unavailable`, which the processor retries. One key per command:
// a Redis Cluster serves it wherever the key lives.

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { PocketgateError } from '../core/errors.ts';
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

// Only the holder's own claim is renewed or given back: one whose lease ran out (its holder
// stalled past it) may be another request's by now.
const renew_script = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0";
const release_script = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

export class EventClaims {
  constructor(
    private readonly stores: Pick<Stores, 'redis' | 'redis_health'>,
    private readonly timing: EventClaimTiming = event_claim_timing,
  ) {}

  /** `work` run holding the claim of `key` (hot/keys.ts eventClaimKey, transactionClaimKey), waiting for another request's first. */
  async holding<T>(key: string, work: () => Promise<T>): Promise<T> {
    const holder = randomBytes(12).toString('base64url');
    await this.take(key, holder);
    const { lease_ms } = this.timing;
    const renewal = setInterval(() => void this.eval(renew_script, key, holder, String(lease_ms)).catch(() => {}), Math.floor(lease_ms / 3));
    renewal.unref();
    try {
      return await work();
    } finally {
      clearInterval(renewal);
      // Not awaited: the answer is stored already (or nothing was, and the request fails). Sent
      // before any later command of this process on its connection; if Redis is gone, the lease
      // runs out by itself.
      void this.eval(release_script, key, holder).catch(() => {});
    }
  }

  private async take(key: string, holder: string): Promise<void> {
    const deadline = performance.now() + this.timing.wait_ms;
    for (;;) {
      requireWritable(this.stores);
      const reply = await this.stores.redis.sendCommand(['SET', key, holder, 'NX', 'PX', String(this.timing.lease_ms)]);
      if ((reply as unknown) === 'OK') return;
      if (performance.now() >= deadline) throw new PocketgateError('unavailable', 'another request is applying an event of this id; try again shortly');
      await sleep(this.timing.poll_ms);
    }
  }

  private eval(script: string, key: string, ...args: string[]): Promise<unknown> {
    return this.stores.redis.sendCommand(['EVAL', script, '1', key, ...args]);
  }
}
