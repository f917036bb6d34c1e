// The environment the gateway honours (see spec/API.md), read once and checked at start. How a
// variable is read, and the processor's settings, are processor/config.ts's: the standalone ledger
// writer and the operations commands read them the same way (processor/ledger/config.ts).

import { isFramingMode, type FramingMode } from '../adapters/iso8583/framing.ts';
import type { BitmapEncoding } from '../adapters/iso8583/codec.ts';
import { callback_events_retention_days_default, database_url_schemes, int, logLevel, processorConfigFromEnv, redis_url_schemes, referral_sweep_ms_default, required, storeUrl, webhook_events_retention_days_default } from '../processor/config.ts';
import { default_health_options } from '../processor/postgres-health.ts';
import { redis_health_defaults } from '../processor/redis-health.ts';
import type { ProcessorConfig } from '../processor/stores.ts';

export interface GatewayConfig {
  /** The address both listeners bind (HOST). */
  readonly host: string;
  readonly port: number;
  readonly iso8583_port: number;
  /**
   * HTTP_CONNECTIONS_MAX: sockets the HTTP server holds at once; one more is closed as it opens
   * (node's maxConnections). WebSocket terminals count in it: node counts a socket until it
   * closes, upgraded or not.
   */
  readonly http_connections_max: number;
  /**
   * POSTGRES_CALLS_IN_FLIGHT_MAX: HTTP calls waiting on PostgreSQL at once (admin, console and
   * callbacks: gateway/app.ts); one more is 503 `unavailable` at once, as with PostgreSQL down.
   */
  readonly postgres_calls_in_flight_max: number;
  /**
   * POSTGRES_PROBE_TIMEOUT_MS: how long the gateway's PostgreSQL probe (`select 1`, every 500 ms:
   * processor/postgres-health.ts) waits before it takes PostgreSQL for down, and admin calls
   * answer 503 until a probe answers again. Longer rides out a stalled machine; shorter answers a
   * frozen server sooner.
   */
  readonly postgres_probe_timeout_ms: number;
  /**
   * REDIS_PROBE_TIMEOUT_MS: how long the gateway's Redis probe (a `SET ready … PX`, every 250 ms:
   * processor/redis-health.ts) waits before it takes Redis for hung, drops the connection and
   * answers POS calls 503 until a new connection is ready. Longer rides out a stalled machine;
   * shorter answers a frozen server sooner (OPERATIONS.md's 503 within 2 s of a freeze needs the
   * interval plus this under 2,000).
   */
  readonly redis_probe_timeout_ms: number;
  /** ISO 8583 framing, bitmap encoding and idle timeout (ISO8583_FRAMING, ISO8583_BITMAP, ISO8583_IDLE_SECONDS). */
  readonly iso8583: IsoSettings;
  /** How often the process that writes the ledger expires awards (EXPIRY_SWEEP_MS). */
  readonly expiry_sweep_ms: number;
  /** CALLBACK_EVENTS_RETENTION_DAYS: how long callback answers are kept (0: for ever); the ledger-writing process forgets older ones. */
  readonly callback_events_retention_days: number;
  /** WEBHOOK_EVENTS_RETENTION_DAYS: how long webhook events and their deliveries are kept once all delivered or failed (0: for ever); the ledger-writing process forgets older ones. */
  readonly webhook_events_retention_days: number;
  readonly redis_url: string;
  readonly database_url: string;
  readonly platform_api_key: string | undefined;
  readonly log_level: string;
  /** Run the ledger writer inside this process (default) or leave it to its own process. */
  readonly ledger_writer: boolean;
  /**
   * Proxies of our own in front of the gateway that append the client's address to
   * X-Forwarded-For (0: none, the socket's peer is the client). Wrong codes are counted per
   * client address (core/guesses.ts): behind a load balancer with 0, every client is the balancer.
   */
  readonly trust_proxy_hops: number;
  /**
   * How often the process that writes the ledger makes the referral awards a crashed process left
   * behind (ms; processor/referrals.ts). Default 5 s.
   */
  readonly referral_sweep_ms?: number;
  /** Test hook (LEDGER_COMMIT_DELAY_MS): the writer in this process holds each batch this long before its commit, to kill the process mid-batch. */
  readonly ledger_commit_delay_ms?: number;
  readonly processor: ProcessorConfig;
  readonly webhooks: WebhooksConfig;
}

/** Webhooks out (spec/EVENTS.md). */
export interface WebhooksConfig {
  /** WEBHOOK_RETRY_BASE_MS (default 30000): attempt k (2..8) waits this × 4^(k−2), ±20%. */
  readonly retry_base_ms: number;
  /** WEBHOOKS_ALLOW_PRIVATE=1: URLs on loopback, private and link-local addresses are allowed. */
  readonly allow_private: boolean;
  /** WEBHOOK_WORKER=off: this process sends no webhooks (others sharing the database do). */
  readonly worker: boolean;
}

export interface IsoSettings {
  readonly framing: FramingMode;
  readonly bitmap: BitmapEncoding;
  readonly idle_seconds: number;
}

/**
 * The terminal channel's 10,000 WebSocket connections (adapters/ws/channel.ts) and as many for
 * plain HTTP: the channel's own bound (503 on the upgrade) is still the one a terminal meets.
 */
export const http_connections_max_default = 20_000;

/**
 * A burst past the pool's 10 connections waits in postgres.js's queue: this many at most. High
 * enough for the bursts a back office sends while PostgreSQL is well (a check reading a thousand
 * transactions at once: test/ledger.test.ts), low enough to bound what a stall holds (about 14 KB
 * a waiting call: some 60 MB).
 */
export const postgres_calls_in_flight_max_default = 4_096;

function isoSettings(): IsoSettings {
  const framing = process.env.ISO8583_FRAMING || 'binary2';
  if (!isFramingMode(framing)) throw new Error(`ISO8583_FRAMING must be binary2 or ascii4, not ${framing}`);
  const bitmap = process.env.ISO8583_BITMAP || 'hex';
  if (bitmap !== 'hex' && bitmap !== 'binary') throw new Error(`ISO8583_BITMAP must be hex or binary, not ${bitmap}`);
  return { framing, bitmap, idle_seconds: int('ISO8583_IDLE_SECONDS', 300, 0, 86_400) };
}

export function configFromEnv(): GatewayConfig {
  return {
    host: process.env.HOST || '0.0.0.0',
    port: int('PORT', 8080, 0, 65_535),
    iso8583_port: int('ISO8583_PORT', 8583, 0, 65_535),
    postgres_calls_in_flight_max: int('POSTGRES_CALLS_IN_FLIGHT_MAX', postgres_calls_in_flight_max_default, 1, 100_000),
    postgres_probe_timeout_ms: int('POSTGRES_PROBE_TIMEOUT_MS', default_health_options.timeout_ms, 100, 60_000),
    redis_probe_timeout_ms: int('REDIS_PROBE_TIMEOUT_MS', redis_health_defaults.timeout_ms, 100, 60_000),
    http_connections_max: int('HTTP_CONNECTIONS_MAX', http_connections_max_default, 1, 1_000_000),
    iso8583: isoSettings(),
    expiry_sweep_ms: int('EXPIRY_SWEEP_MS', 1_000, 100, 3_600_000),
    callback_events_retention_days: int('CALLBACK_EVENTS_RETENTION_DAYS', callback_events_retention_days_default, 0, 3_650),
    webhook_events_retention_days: int('WEBHOOK_EVENTS_RETENTION_DAYS', webhook_events_retention_days_default, 0, 3_650),
    redis_url: storeUrl('REDIS_URL', redis_url_schemes),
    database_url: storeUrl('DATABASE_URL', database_url_schemes),
    platform_api_key: process.env.PLATFORM_API_KEY || undefined,
    log_level: logLevel(),
    ledger_writer: process.env.LEDGER_WRITER !== 'off',
    trust_proxy_hops: int('TRUST_PROXY_HOPS', 0, 0, 10),
    referral_sweep_ms: int('REFERRAL_SWEEP_MS', referral_sweep_ms_default, 100, 3_600_000),
    ...(process.env.LEDGER_COMMIT_DELAY_MS ? { ledger_commit_delay_ms: int('LEDGER_COMMIT_DELAY_MS', 0, 0, 60_000) } : {}),
    processor: processorConfigFromEnv(required('CIM_HMAC_KEY')),
    webhooks: {
      retry_base_ms: int('WEBHOOK_RETRY_BASE_MS', 30_000, 1, 86_400_000),
      allow_private: process.env.WEBHOOKS_ALLOW_PRIVATE === '1' || process.env.WEBHOOKS_ALLOW_PRIVATE === 'true',
      worker: process.env.WEBHOOK_WORKER !== 'off',
    },
  };
}

/** How `gateway/main.ts` runs: processes sharing the port, which one this is, the demo business. */
export interface ProcessesConfig {
  /** GATEWAY_PROCESSES (1 to 64): gateway processes sharing the port through node:cluster. */
  readonly processes: number;
  /** GATEWAY_WORKER, set by the primary: the first one (0) writes the ledger and seeds the demo. */
  readonly first: boolean;
  /** POCKETGATE_SEED_DEMO=1 (npm start): seed the demo business on an empty database. */
  readonly seed_demo: boolean;
  /** POCKETGATE_DATA_DIR: where the demo's keys are kept. */
  readonly data_dir: string | undefined;
}

export function processesConfigFromEnv(): ProcessesConfig {
  const worker = process.env.GATEWAY_WORKER;
  return {
    processes: int('GATEWAY_PROCESSES', 1, 1, 64),
    first: worker === undefined || worker === '' || worker === '0',
    seed_demo: process.env.POCKETGATE_SEED_DEMO === '1',
    data_dir: process.env.POCKETGATE_DATA_DIR || undefined,
  };
}
