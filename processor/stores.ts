// The two stores the processor works over, and its settings.

import { createClient, type RedisClientType } from 'redis';
import postgres from 'postgres';
import { hotCalls, type HotCalls } from './hot/library.ts';
import { withinOr } from './in-flight.ts';
import { hot_library, type hot_scripts } from './hot/scripts.ts';
import type { RedisHealth } from './redis-health.ts';

/** A client with the processor's scripts as methods (hot/scripts.ts): every client is made here. */
export type RedisClient = RedisClientType<{}, {}, {}> & HotCalls<typeof hot_scripts>;
export type Sql = postgres.Sql;

export interface ProcessorConfig {
  /** Shards of the hot path; fixed for the life of the data (it decides where keys live). */
  readonly shard_count: number;
  /** Secret of the CIM index tokens (HMAC-SHA256). */
  readonly cim_hmac_key: string;
  /**
   * Hashes the Redis CIM index is spread over (hot/cim-index.ts); fixed for the life of the data.
   * About a contact's CIMs × contacts ÷ 100 keeps each a compact listpack (default 4,096: up to
   * about 1.5 million CIMs); the index answers the same with any count, only memory differs.
   */
  readonly cim_index_buckets?: number;
  /**
   * The hot window: how long the hot path remembers a terminal's reference (at least this, at
   * most one and a half times it; hot/references.ts). Within it a repeated reference replays (or
   * is 409); after it the reference is free again, and refunds and reversals of an older
   * original find it in the ledger.
   */
  readonly reply_ttl_seconds: number;
  /** Hashes the hot window's references are spread over (hot/references.ts); memory only. */
  readonly reference_buckets?: number;
  /** Refuse new transactions when a shard's journal holds this many undrained entries. */
  readonly journal_length_max: number;
  /**
   * 'async' (default): reply once the transaction is in Redis (AOF, appendfsync always); the
   * ledger writer records it in PostgreSQL moments later. 'sync': reply only after PostgreSQL
   * has committed it too (slower; the baseline the fast path is measured against).
   */
  readonly durability?: Durability;
}

export type Durability = 'async' | 'sync';

/** The processor's clock: tests move it (OTP and award expiry) without waiting. */
export interface Clock {
  now(): number;
}

export interface Stores {
  readonly redis: RedisClient;
  readonly sql: Sql;
  readonly config: ProcessorConfig;
  readonly clock: Clock;
  /** Whether Redis takes writes now (a gateway's probe, redis-health.ts); POS reads ask it; /readyz probes through it (check). */
  readonly redis_health?: Pick<RedisHealth, 'writable' | 'check' | 'recheck' | 'heard'>;
  /** Whether PostgreSQL answers now (a gateway's probe, postgres-health.ts): the POS path's ledger reads ask it (ledger-reads.ts). */
  readonly postgres_health?: { readonly up: boolean };
}

export const system_clock: Clock = { now: () => Date.now() };

export const default_config: Omit<ProcessorConfig, 'cim_hmac_key'> = {
  shard_count: 16,
  cim_index_buckets: 4_096,
  // Every automatic retry of a POS or card network (seconds to a day: repeated 0420 advices) falls
  // within it; a refund or reversal of an older original is found in the ledger instead.
  reply_ttl_seconds: 48 * 3_600,
  reference_buckets: 4_096,
  journal_length_max: 1_000_000,
  durability: 'async',
};

/** A URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

export async function connectRedis(url: string): Promise<RedisClient> {
  const client = createRedis(url);
  await client.connect();
  return client;
}

/** How long a close waits for Redis to answer the commands in flight before it drops the connection. */
export const redis_close_timeout_ms = 2_000;

/**
 * Closes the client: the commands in flight answered first, for redis_close_timeout_ms at most,
 * then the connection destroyed. node-redis's close() waits for the reply to every command in its
 * queue: with Redis gone it waited for ever on a MULTI queued while offline (a gateway's close, its
 * SIGTERM, a test's afterAll: CI at fc12b47), which patches/@redis+client+6.3.1.patch now refuses;
 * a Redis that hangs with its connection open still owes replies, hence the bound.
 */
export async function closeRedis(client: Pick<RedisClient, 'close' | 'destroy'>, timeout_ms = redis_close_timeout_ms): Promise<void> {
  await withinOr(client.close().catch(() => {}), timeout_ms, () => client.destroy());
}

/**
 * A connection of its own listening to a pub/sub `channel`: `onMessage` per message. node-redis
 * subscribes again before it says 'ready' after a reconnect, so from then on no message is missed;
 * `onReconnect` is told, to forget what a message missed meanwhile would have changed. Close it
 * with closeRedis.
 */
export async function listen(redis: RedisClient, channel: string, onMessage: (message: string) => void, onReconnect: () => void): Promise<RedisClient> {
  const subscriber = redis.duplicate();
  subscriber.on('error', () => {}); // reconnects by itself
  await subscriber.connect();
  await subscriber.subscribe(channel, onMessage);
  // Attached after the first connect's 'ready': told reconnects only.
  subscriber.on('ready', onReconnect);
  return subscriber as RedisClient;
}

/** A client not connected yet: connect() waits (retrying) until Redis answers; commands fail fast meanwhile. */
export function createRedis(url: string): RedisClient {
  const client = createClient({
    url,
    // Bounded reconnect backoff; commands issued while disconnected fail fast rather than queue
    // without bound, so the POS gets 503 `unavailable` instead of a hang.
    socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2_000), connectTimeout: 5_000 },
    disableOfflineQueue: true,
    // node-redis's default per-command timeout arms an AbortSignal timer for every command: a
    // measurable share of the hot path's CPU. A closed connection fails every command in flight;
    // a server that hangs with the connection open is noticed by RedisHealth's probe instead
    // (redis-health.ts), which drops the connection (node-redis's own PING has no deadline).
    commandOptions: { timeout: 0 },
    pingInterval: 1_000,
  });
  client.on('error', () => {
    // node-redis reconnects by itself; failed commands surface as errors to their callers.
  });
  return Object.assign(client, hotCalls(client, hot_library));
}

export function connectPostgres(url: string, max = 10): Sql {
  return postgres(url, {
    max,
    idle_timeout: 60,
    connect_timeout: 10,
    // After failed connections postgres.js waits before the next (3^n / 100 s, up to 20 s): ten
    // seconds of an outage made the ledger's catch-up start 4–15 s after PostgreSQL was back (a
    // store-failures probe). A refused connection costs next to nothing: at most a second, jittered.
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** retries, 1),
    onnotice: () => {},
    // Amounts are bigint columns; every amount fits a safe integer (12 digits), so read them as
    // numbers and fail loudly on anything that would not.
    types: {
      bigint: {
        to: 20,
        from: [20],
        serialize: (x: number) => String(x),
        parse: (x: string) => {
          const n = Number(x);
          if (!Number.isSafeInteger(n)) throw new RangeError(`bigint ${x} is not a safe integer`);
          return n;
        },
      },
    },
    transform: { undefined: null },
  });
}
