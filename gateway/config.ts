// The environment the gateway honours (see spec/API.md), read once and checked at start.

import { cim_index_buckets_max } from '../processor/hot/cim-index.ts';
import { default_config, type Durability, type ProcessorConfig } from '../processor/stores.ts';

export interface GatewayConfig {
  readonly port: number;
  readonly iso8583_port: number;
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
}

export const referral_sweep_ms_default = 5_000;

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
    port: int('PORT', 8080, 0, 65_535),
    iso8583_port: int('ISO8583_PORT', 8583, 0, 65_535),
    redis_url: required('REDIS_URL'),
    database_url: required('DATABASE_URL'),
    platform_api_key: process.env.PLATFORM_API_KEY || undefined,
    log_level: process.env.LOG_LEVEL ?? 'info',
    ledger_writer: process.env.LEDGER_WRITER !== 'off',
    trust_proxy_hops: int('TRUST_PROXY_HOPS', 0, 0, 10),
    referral_sweep_ms: int('REFERRAL_SWEEP_MS', referral_sweep_ms_default, 100, 3_600_000),
    ...(process.env.LEDGER_COMMIT_DELAY_MS ? { ledger_commit_delay_ms: int('LEDGER_COMMIT_DELAY_MS', 0, 0, 60_000) } : {}),
    processor: {
      shard_count: int('SHARDS', default_config.shard_count, 1, 16_384),
      cim_hmac_key: required('CIM_HMAC_KEY'),
      cim_index_buckets: int('CIM_INDEX_BUCKETS', default_config.cim_index_buckets!, 1, cim_index_buckets_max),
      reply_ttl_seconds: int('REPLY_TTL_SECONDS', default_config.reply_ttl_seconds, 60, 90 * 86_400),
      reference_buckets: int('REFERENCE_BUCKETS', default_config.reference_buckets!, 1, 1 << 20),
      journal_length_max: int('JOURNAL_LENGTH_MAX', default_config.journal_length_max, 1_000, 100_000_000),
      durability: durability(),
    },
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
    processor: {
      shard_count: int('SHARDS', default_config.shard_count, 1, 16_384),
      cim_hmac_key: needs_hmac ? required('CIM_HMAC_KEY') : (process.env.CIM_HMAC_KEY ?? ''),
      cim_index_buckets: int('CIM_INDEX_BUCKETS', default_config.cim_index_buckets!, 1, cim_index_buckets_max),
      reply_ttl_seconds: int('REPLY_TTL_SECONDS', default_config.reply_ttl_seconds, 60, 90 * 86_400),
      reference_buckets: int('REFERENCE_BUCKETS', default_config.reference_buckets!, 1, 1 << 20),
      journal_length_max: int('JOURNAL_LENGTH_MAX', default_config.journal_length_max, 1_000, 100_000_000),
    },
  };
}
