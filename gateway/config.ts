// The environment the gateway honours (see spec/API.md), read once and checked at start.

import { isFramingMode, type FramingMode } from '../adapters/iso8583/framing.ts';
import type { BitmapEncoding } from '../adapters/iso8583/codec.ts';
import { cim_index_buckets_max } from '../processor/hot/cim-index.ts';
import { default_config, type Durability, type ProcessorConfig } from '../processor/stores.ts';

export interface GatewayConfig {
  /** The address both listeners bind (HOST). */
  readonly host: string;
  readonly port: number;
  readonly iso8583_port: number;
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

export const referral_sweep_ms_default = 5_000;

/**
 * 540 days: past processors' retries (days), clearings (up to 35 days after the sale) and the card
 * schemes' longest refund and dispute windows (about 18 months), so that no late refund of a
 * purchase a callback made finds its original forgotten.
 */
export const callback_events_retention_days_default = 540;

/**
 * 90 days: a business whose receiver was down or wrong for as long as a quarter can still see what
 * it missed in the deliveries listing and have it sent again (a retry needs the delivery), long
 * past the last automatic retry (about 2 days after the event with the default base). The events
 * themselves are only notices: the transactions stay in the ledger, readable for ever.
 */
export const webhook_events_retention_days_default = 90;

export interface IsoSettings {
  readonly framing: FramingMode;
  readonly bitmap: BitmapEncoding;
  readonly idle_seconds: number;
}

function isoSettings(): IsoSettings {
  const framing = process.env.ISO8583_FRAMING || 'binary2';
  if (!isFramingMode(framing)) throw new Error(`ISO8583_FRAMING must be binary2 or ascii4, not ${framing}`);
  const bitmap = process.env.ISO8583_BITMAP || 'hex';
  if (bitmap !== 'hex' && bitmap !== 'binary') throw new Error(`ISO8583_BITMAP must be hex or binary, not ${bitmap}`);
  return { framing, bitmap, idle_seconds: int('ISO8583_IDLE_SECONDS', 300, 0, 86_400) };
}

function int(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, not ${raw}`);
  return n;
}

function required(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`${name} is not set`);
  return v;
}

function durability(): Durability {
  const raw = process.env.DURABILITY;
  if (raw === undefined || raw === '') return default_config.durability ?? 'async';
  if (raw !== 'async' && raw !== 'sync') throw new Error(`DURABILITY must be async or sync, not ${raw}`);
  return raw;
}

export function configFromEnv(): GatewayConfig {
  return {
    host: process.env.HOST || '0.0.0.0',
    port: int('PORT', 8080, 0, 65_535),
    iso8583_port: int('ISO8583_PORT', 8583, 0, 65_535),
    iso8583: isoSettings(),
    expiry_sweep_ms: int('EXPIRY_SWEEP_MS', 10_000, 100, 3_600_000),
    callback_events_retention_days: int('CALLBACK_EVENTS_RETENTION_DAYS', callback_events_retention_days_default, 0, 3_650),
    webhook_events_retention_days: int('WEBHOOK_EVENTS_RETENTION_DAYS', webhook_events_retention_days_default, 0, 3_650),
    redis_url: required('REDIS_URL'),
    database_url: required('DATABASE_URL'),
    platform_api_key: process.env.PLATFORM_API_KEY || undefined,
    log_level: process.env.LOG_LEVEL ?? 'info',
    ledger_writer: process.env.LEDGER_WRITER !== 'off',
    trust_proxy_hops: int('TRUST_PROXY_HOPS', 0, 0, 10),
    referral_sweep_ms: int('REFERRAL_SWEEP_MS', referral_sweep_ms_default, 100, 3_600_000),
    ...(process.env.LEDGER_COMMIT_DELAY_MS ? { ledger_commit_delay_ms: int('LEDGER_COMMIT_DELAY_MS', 0, 0, 60_000) } : {}),
    processor: processorConfig(required('CIM_HMAC_KEY')),
    webhooks: {
      retry_base_ms: int('WEBHOOK_RETRY_BASE_MS', 30_000, 1, 86_400_000),
      allow_private: process.env.WEBHOOKS_ALLOW_PRIVATE === '1' || process.env.WEBHOOKS_ALLOW_PRIVATE === 'true',
      worker: process.env.WEBHOOK_WORKER !== 'off',
    },
  };
}

/** What the processor needs of the environment: the same for a gateway, a writer and the operations commands. */
function processorConfig(cim_hmac_key: string): ProcessorConfig {
  return {
    shard_count: int('SHARDS', default_config.shard_count, 1, 16_384),
    cim_hmac_key,
    cim_index_buckets: int('CIM_INDEX_BUCKETS', default_config.cim_index_buckets!, 1, cim_index_buckets_max),
    reply_ttl_seconds: int('REPLY_TTL_SECONDS', default_config.reply_ttl_seconds, 60, 90 * 86_400),
    reference_buckets: int('REFERENCE_BUCKETS', default_config.reference_buckets!, 1, 1 << 20),
    journal_length_max: int('JOURNAL_LENGTH_MAX', default_config.journal_length_max, 1_000, 100_000_000),
    durability: durability(),
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

/** A standalone ledger writer (`npm run ledger-writer`, processor/ledger/writer-main.ts). */
export interface WriterConfig {
  readonly redis_url: string;
  readonly database_url: string;
  readonly log_level: string;
  readonly shard_count: number;
  /** LEDGER_READ_COUNT: entries read per shard per round. */
  readonly read_count_max: number;
  /** LEDGER_CLAIM_IDLE_MS: the fallback for writers without a lease (older versions). */
  readonly claim_idle_ms: number;
  /** LEDGER_LEASE_MS: how long a writer's lease lives unrenewed. */
  readonly lease_ms: number;
  /** LEDGER_TRIM_INTERVAL_MS; 0: never trim (tests that read back every acknowledged entry). */
  readonly trim_interval_ms: number;
  /** Test hooks: hold each batch before its commit, or between its commit and its XACK. */
  readonly commit_delay_ms: number | undefined;
  readonly ack_delay_ms: number | undefined;
  readonly expiry_sweep_ms: number;
  readonly referral_sweep_ms: number;
  /** As the gateways' (GatewayConfig). */
  readonly callback_events_retention_days: number;
  readonly webhook_events_retention_days: number;
  /** With CIM_HMAC_KEY (the gateways' settings) the writer also expires awards and makes referral awards left behind. */
  readonly processor: ProcessorConfig | undefined;
}

export function writerConfigFromEnv(): WriterConfig {
  const optional = (name: string, max: number) => (process.env[name] ? int(name, 0, 0, max) : undefined);
  const cim_hmac_key = process.env.CIM_HMAC_KEY;
  return {
    redis_url: required('REDIS_URL'),
    database_url: required('DATABASE_URL'),
    log_level: process.env.LOG_LEVEL ?? 'info',
    shard_count: int('SHARDS', default_config.shard_count, 1, 16_384),
    read_count_max: int('LEDGER_READ_COUNT', 256, 1, 10_000),
    claim_idle_ms: int('LEDGER_CLAIM_IDLE_MS', 30_000, 100, 3_600_000),
    lease_ms: int('LEDGER_LEASE_MS', 3_000, 100, 600_000),
    trim_interval_ms: int('LEDGER_TRIM_INTERVAL_MS', 1_000, 0, 3_600_000) || Number.POSITIVE_INFINITY,
    commit_delay_ms: optional('LEDGER_COMMIT_DELAY_MS', 600_000),
    ack_delay_ms: optional('LEDGER_ACK_DELAY_MS', 600_000),
    expiry_sweep_ms: int('EXPIRY_SWEEP_MS', 10_000, 100, 3_600_000),
    referral_sweep_ms: int('REFERRAL_SWEEP_MS', referral_sweep_ms_default, 100, 3_600_000),
    callback_events_retention_days: int('CALLBACK_EVENTS_RETENTION_DAYS', callback_events_retention_days_default, 0, 3_650),
    webhook_events_retention_days: int('WEBHOOK_EVENTS_RETENTION_DAYS', webhook_events_retention_days_default, 0, 3_650),
    processor: cim_hmac_key === undefined || cim_hmac_key === '' ? undefined : processorConfig(cim_hmac_key),
  };
}

/** What the operations commands (`npm run reconcile`, `npm run rebuild`) need of the environment. */
export interface OperationsConfig {
  readonly redis_url: string;
  readonly database_url: string;
  /** The gateways' settings: where keys live and how long the hot window is. */
  readonly processor: ProcessorConfig;
}

/** `needs_hmac`: rebuild does (reference fields are HMACs); reconcile reads no reference. */
export function operationsConfigFromEnv(needs_hmac: boolean): OperationsConfig {
  return {
    redis_url: required('REDIS_URL'),
    database_url: required('DATABASE_URL'),
    processor: processorConfig(needs_hmac ? required('CIM_HMAC_KEY') : (process.env.CIM_HMAC_KEY ?? '')),
  };
}
