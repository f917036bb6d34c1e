// A ledger writer's liveness lease: the key `writer:<consumer>`, set with a time to live and
// renewed well within it while the writer lives. Its absence tells other writers that the
// consumer of that name is gone for good, so that they take its pending entries at once instead
// of after claim_idle_ms (writer.ts says how, and why that is sound).
//
// A consumer name holds one lease, once: a writer that lost its lease (frozen, partitioned, or
// an event loop stalled past the lease) never uses that name again; it carries on under a new
// one (`<base>@<generation+1>`). So "no lease" is a fact that cannot be undone, which is what lets
// another writer claim the consumer's entries without a lock over both keys.
//
// One key per command (SET, EXISTS, DEL): a Redis Cluster serves it wherever the key lives.

import { hostname } from 'node:os';
import type { RedisClient } from '../stores.ts';

/** Every lease key starts so: not data (rebuild and its checks pass over them), a writer's liveness. */
export const lease_prefix = 'writer:';

export function leaseKey(consumer: string): string {
  return `${lease_prefix}${consumer}`;
}

/** Consumers that hold leases are named `<base>@<generation>`; a writer of an older version does not. */
export function isLeased(consumer: string): boolean {
  return /@[1-9][0-9]*$/.test(consumer);
}

/**
 * Taken off the lease's time to live when the writer judges, by its own clocks, whether its key
 * is certainly still in Redis. Redis counts from when the SET arrived, later than it was sent,
 * which is already on the safe side; this covers the two machines' clocks running at slightly
 * different rates, and the millisecond precision of Redis's expiry.
 */
const safety_ms = 250;

/** The key's value: who holds it, for a person looking at Redis. */
const holder = `${hostname()}:${process.pid}`;

export class WriterLease {
  private generation = 1;
  private name: string;
  /** The key of `name` was set (it may have been lost since). */
  private taken = false;
  /** Until when (both clocks, ms) the key is certainly still in Redis; 0: not held. */
  private valid_until_mono = 0;
  private valid_until_wall = 0;
  private last_renewal_sent = 0;
  /** A renewal found the key gone. */
  private lost = false;
  /** One renewal at a time: a slow Redis gets no queue of them. */
  private renewal: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly base: string,
    readonly lease_ms: number,
  ) {
    this.name = `${base}@1`;
  }

  /** The consumer name this lease is for: the writer reads and claims under it. */
  get consumer(): string {
    return this.name;
  }

  /** How often the lease is renewed: three chances before it runs out. */
  get renew_ms(): number {
    return Math.max(1, Math.floor(this.lease_ms / 3));
  }

  /**
   * True while the key is certainly still in Redis. Both clocks must agree: the monotonic clock
   * runs on while the process is stopped (SIGSTOP), the wall clock jumps ahead after the machine
   * or VM was suspended, when the monotonic one may not.
   */
  held(): boolean {
    return this.taken && !this.lost && performance.now() < this.valid_until_mono && Date.now() < this.valid_until_wall;
  }

  /**
   * At the start of a round: renew if due; if the lease is not certainly held (not yet taken, or
   * lost), take it, under a new name if the old one was ever taken, giving up the old one (DEL
   * its key, so that its pending entries are claimed at once, by this writer too). The name
   * changes before anything is awaited: a caller sees it changed even if this then throws.
   */
  async ensure(): Promise<void> {
    if (this.held() && performance.now() - this.last_renewal_sent >= this.renew_ms) await this.renew();
    if (this.held()) return;
    if (this.taken) {
      const old = this.name;
      this.generation++;
      this.name = `${this.base}@${this.generation}`;
      this.taken = false;
      // If this fails the key runs out by itself; the new name is taken next round.
      await this.redis.sendCommand(['DEL', leaseKey(old)]);
    }
    this.lost = false;
    const sent = this.clocks();
    const reply = await this.redis.sendCommand(['SET', leaseKey(this.name), holder, 'NX', 'PX', String(this.lease_ms)]);
    if ((reply as unknown) !== 'OK') {
      // Another writer was given the same base name: this one moves on to the next generation.
      const taken = this.name;
      this.generation++;
      this.name = `${this.base}@${this.generation}`;
      throw new Error(`writer lease ${leaseKey(taken)} is another writer's (given the same consumer name); trying ${this.name}`);
    }
    this.taken = true;
    this.extend(sent);
  }

  /** Renew every renew_ms from now until `stop`, whatever the writer's loop is waiting for. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.renew(), this.renew_ms);
    this.timer.unref();
  }

  /** Stop renewing and delete the key: the writer is gone, what it left pending is for others now. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.renewal;
    // Lost for good: should this writer start again, it takes a new name (a name is leased once).
    this.lost = true;
    if (this.taken) await this.redis.sendCommand(['DEL', leaseKey(this.name)]);
    this.valid_until_mono = 0;
    this.valid_until_wall = 0;
  }

  /** Extend the key if it is still there (XX): one that expired stays lost. Never throws. */
  renew(): Promise<void> {
    if (this.renewal !== undefined) return this.renewal;
    if (!this.taken || this.lost) return Promise.resolve();
    const name = this.name;
    const sent = this.clocks();
    this.last_renewal_sent = sent.mono;
    this.renewal = (async () => {
      try {
        const reply = await this.redis.sendCommand(['SET', leaseKey(name), holder, 'XX', 'PX', String(this.lease_ms)]);
        // A reply about a name already given up changes nothing.
        if (name !== this.name) return;
        if ((reply as unknown) === 'OK') this.extend(sent);
        else this.lost = true;
      } catch {
        // Redis unreachable: the lease runs out by itself, and the writer's rounds fail and say so.
      } finally {
        this.renewal = undefined;
      }
    })();
    return this.renewal;
  }

  private clocks(): { mono: number; wall: number } {
    return { mono: performance.now(), wall: Date.now() };
  }

  /** Valid from when the SET was sent (Redis received it later, so its key outlives this). */
  private extend(sent: { mono: number; wall: number }): void {
    this.last_renewal_sent = sent.mono;
    this.valid_until_mono = sent.mono + this.lease_ms - safety_ms;
    this.valid_until_wall = sent.wall + this.lease_ms - safety_ms;
  }
}
