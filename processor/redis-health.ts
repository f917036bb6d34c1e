// Whether Redis takes a write now, known without waiting on it: a probe (a SET with a short
// expiry, on the client every POS call goes through) every interval, given a deadline to answer.
//
// Two things only a probe can tell:
// - A Redis that hangs (frozen, its host paused) keeps the TCP connection open, so node-redis
//   fails nothing: each command, the POS's and its own PING's, waits for ever. When the probe
//   misses its deadline the connection is dropped, which fails every command in flight at once
//   (a POS answer 503 `unavailable`, ISO 8583 DE39 91, within OPERATIONS.md's 2 s) and makes
//   new ones fail fast until a new connection is ready. Commands already sent may still run
//   when Redis wakes: the terminal's retry under the same reference replays them.
// - A Redis that refuses writes (out of memory, a read-only replica) still answers reads, so a
//   quote or a wallet look-up would go on as if all were well while every purchase is refused:
//   POS reads ask `writable` first.

import { ErrorReply } from 'redis';
import { PocketgateError } from '../core/errors.ts';
import { withinOr } from './in-flight.ts';
import { networkLoaded } from './network-layout.ts';
import { redisErrorCode } from './unavailable.ts';
import type { RedisClient, Stores } from './stores.ts';

export type RedisState = 'unknown' | 'ok' | 'down' | 'loading' | 'refusing_writes' | 'stalled';

export interface RedisHealthOptions {
  readonly interval_ms: number;
  /** The probe's deadline: past it Redis is taken as hung and the connection dropped. */
  readonly timeout_ms: number;
  /**
   * A key whose absence says Redis lost its data (the gateway's: `n:loaded`), read with each
   * probe: absent, the state is 'loading' until it is back (`npm run rebuild`), as /readyz says.
   * Until 2026-12-04 the POS path went on meanwhile, answering a till's contacts 404.
   */
  readonly held_key?: string;
}

export const redis_health_defaults: RedisHealthOptions = { interval_ms: 250, timeout_ms: 1_000 };

/** The key the probes write (readyz's too): an expiring timestamp, no Pocketgate data (rebuild skips it). */
export const probe_key = 'ready';
const probe_ttl_ms = 60_000;

export class RedisHealth {
  private current: RedisState = 'unknown';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** When the connection being made reached Redis (TCP), while its handshake is unanswered. */
  private connected_at: number | undefined;
  /** Connections dropped because a probe missed its deadline (tests, logs). */
  stalls = 0;
  /** Probes begun (each its ticket), and the latest begun whose finding is `current`. */
  private tickets = 0;
  private newest_found = 0;
  private rechecking: Promise<'ok' | 'loading' | 'refusing_writes' | 'down'> | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly options: RedisHealthOptions = redis_health_defaults,
    /** Told each time a hung connection is dropped. */
    private readonly onStall: () => void = () => {},
  ) {
    if (!(options.interval_ms > 0 && options.timeout_ms > 0)) throw new RangeError('RedisHealth: interval_ms and timeout_ms must be positive');
    client.on('connect', () => (this.connected_at = performance.now()));
    client.on('ready', () => (this.connected_at = undefined));
    client.on('reconnecting', () => (this.connected_at = undefined));
  }

  get state(): RedisState {
    return this.current;
  }

  /** False once a probe found Redis refusing writes, hung or gone; true before the first probe. */
  get writable(): boolean {
    return this.current === 'unknown' || this.current === 'ok';
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.probe().then(tick), this.options.interval_ms);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** One probe: the state it found (never rejects). */
  async probe(): Promise<RedisState> {
    // Closed on purpose (shutting down): nothing to watch.
    if (!this.client.isOpen) return this.current;
    if (!this.client.isReady) {
      // Connecting: commands fail fast meanwhile (disableOfflineQueue; MULTIs and pipelines too
      // since patches/@redis+client+6.3.1.patch, which node-redis queued until the connection was
      // ready). Against a hung Redis the handshake is never answered, and the connection would
      // stay not ready for the whole stall (a minute, test/store-failure-matrix.test.ts): a
      // handshake unanswered past the deadline is a hung Redis, and its connection is dropped as one.
      if (this.connected_at !== undefined && performance.now() - this.connected_at >= this.options.timeout_ms) this.dropConnection();
      return (this.current = 'down');
    }
    const ticket = ++this.tickets;
    const state = await withinOr(probeState(this.client, this.options.held_key), this.options.timeout_ms, () => 'stalled' as const);
    this.found(ticket, state);
    if (state === 'stalled') this.dropConnection();
    return state;
  }

  /**
   * Another probe of the same client (/readyz's): the POS path follows what it finds at once. A
   * /readyz that answered 503 `refusing_writes` was followed by a quote approved for up to an
   * interval more (OPERATIONS.md: 200 "exactly when the POS path can approve").
   */
  async check(): Promise<'ok' | 'loading' | 'refusing_writes' | 'down'> {
    const ticket = ++this.tickets;
    const state = await probeState(this.client, this.options.held_key);
    if (!this.stopped && this.client.isOpen) this.found(ticket, state);
    return state;
  }

  /**
   * check() for the POS path while the state refuses (requireWritable): requests that come
   * meanwhile join the one in flight, so a refusing Redis is probed once at a time, not once more
   * for every request it refuses (50 purchases at once: 50 probe writes before).
   */
  recheck(): Promise<'ok' | 'loading' | 'refusing_writes' | 'down'> {
    this.rechecking ??= this.check().finally(() => {
      this.rechecking = undefined;
    });
    return this.rechecking;
  }

  /** A refusal a POS read's own write just met (requireWritableNow): newer than any probe in flight. */
  heard(state: 'loading' | 'refusing_writes' | 'down'): void {
    if (!this.stopped && this.client.isOpen) this.found(++this.tickets, state);
  }

  /**
   * Kept only if no probe begun later has been found first: replies on the one connection come in
   * order, but a probe's answer reaches here some promise steps after it (the deadline's wrapper).
   * A probe begun before Redis was emptied, told after /readyz's 'loading', undid it.
   */
  private found(ticket: number, state: RedisState): void {
    if (ticket < this.newest_found) return;
    this.newest_found = ticket;
    this.current = state;
  }

  private dropConnection(): void {
    if (this.stopped || !this.client.isOpen) return;
    this.stalls++;
    this.connected_at = undefined;
    this.client.destroy();
    // A new connection, retried by the client's own strategy until Redis answers again.
    this.client.connect().catch(() => {});
    this.onStall();
  }
}

/** The write a probe makes (the gateway's own, and /readyz's): an expiring timestamp. */
export function probeWrite(client: RedisClient): Promise<unknown> {
  return client.set(probe_key, String(Date.now()), { expiration: { type: 'PX', value: probe_ttl_ms } });
}

/** What a probe write gets: 'ok', or what its refusal says of Redis (refusalState). Never rejects. */
export function writeState(client: RedisClient): Promise<'ok' | 'loading' | 'refusing_writes' | 'down'> {
  return probeWrite(client).then(() => 'ok' as const, refusalState);
}

/**
 * A probe's finding (the gateway's own, and /readyz's, so that each tells the POS path the
 * same): what a write gets, and 'loading' when `held_key` is given and Redis has lost it.
 */
export function probeState(client: RedisClient, held_key?: string): Promise<'ok' | 'loading' | 'refusing_writes' | 'down'> {
  const written = writeState(client);
  if (held_key === undefined) return written;
  // Held: the network's copy marked, not absent nor a rebuild's mark (network-layout.ts).
  const held = client.get(held_key).then(networkLoaded, () => true);
  return Promise.all([written, held]).then(([state, is_held]) => (state === 'ok' && !is_held ? 'loading' : state));
}

/** What a failed probe write says of Redis: loading its data, refusing writes, or gone. */
export function refusalState(err: unknown): 'loading' | 'refusing_writes' | 'down' {
  if (err instanceof ErrorReply) return redisErrorCode(err) === 'LOADING' ? 'loading' : 'refusing_writes';
  return 'down';
}

/**
 * Every POS request (a transaction, a quote, a wallet look-up, an ISO 8583 balance inquiry) and a
 * processor callback's claim of its event id (event-claims.ts) is refused while the last probe
 * found Redis refusing writes, hung, or holding no network (emptied): OPERATIONS.md, every POS
 * request 503. A refusing state is asked again first (one round trip, only while it refuses): it
 * may be an interval old (250 ms), and a purchase sent as Redis came back, or just after `npm run
 * rebuild`, was refused though /readyz would have said 200.
 */
export async function requireWritable(stores: Pick<Stores, 'redis_health'>): Promise<void> {
  const health = stores.redis_health;
  if (health === undefined || health.writable) return;
  if ((await health.recheck()) !== 'ok') throw new PocketgateError('unavailable', 'Redis cannot take a transaction now; try again shortly');
}

/**
 * A POS read's own proof that Redis takes writes, sent beside its first read so that both wait for
 * one answer: the probe's state may be an interval old (250 ms), and a quote or a wallet look-up
 * that came first after Redis began refusing writes was answered 200 though a purchase would have
 * been 503 (OPERATIONS.md: every POS request). A refusal found here is told to the probe at once.
 */
export async function requireWritableNow(stores: Pick<Stores, 'redis' | 'redis_health'>): Promise<void> {
  await requireWritable(stores);
  if (stores.redis_health === undefined) return;
  try {
    await probeWrite(stores.redis);
  } catch (err) {
    stores.redis_health.heard(refusalState(err));
    throw err instanceof ErrorReply ? new PocketgateError('unavailable', 'Redis cannot take a transaction now; try again shortly') : err;
  }
}
