// The environment as every Pocketgate process reads it, the gateway (gateway/config.ts), the
// standalone ledger writer and the operations commands (ledger/config.ts): read once at start and
// checked, so that a bad value stops the process with the variable's name, never later. Here: how
// a variable is read, and the settings of the processor, which every one of them shares.

import { cim_index_buckets_max } from './hot/cim-index.ts';
import { default_config, type Durability, type ProcessorConfig } from './stores.ts';

/** REFERRAL_SWEEP_MS: how often the process that writes the ledger makes the referral awards a crashed one left behind. */
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

/** The integer variable `name`, from `min` to `max`; `fallback` when it is unset or empty. */
export function int(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  // Decimal digits only: Number() reads "0x1F90" as 8080 and " " as 0 (PORT=" " took a random port).
  const n = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, not ${raw}`);
  return n;
}

/** The variable `name`, which must be set and not empty. */
export function required(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`${name} is not set`);
  return v;
}

/**
 * The store URL `name` (REDIS_URL, DATABASE_URL): set, a URL, of one of `schemes`. A bad one is
 * named and never echoed: it may hold a password. Checked here because the clients' own errors
 * ("Invalid URL") name no variable and came as a stack trace.
 */
export function storeUrl(name: string, schemes: readonly string[]): string {
  const raw = required(name);
  let scheme: string;
  try {
    // postgres.js reads several hosts (`h1,h2`) where a URL has one: checked with the first.
    scheme = new URL(raw.replace(/^([^:/]+:\/\/[^/?,]*)(,[^/?]*)/, '$1')).protocol;
  } catch {
    throw new Error(`${name} is not a URL`);
  }
  if (!schemes.includes(scheme)) throw new Error(`${name} must start with ${schemes.map((s) => `${s}//`).join(' or ')}, not ${scheme}//`);
  return raw;
}

export const redis_url_schemes = ['redis:', 'rediss:', 'unix:'] as const; // unix: a local Redis's socket (node-redis reads it)
export const database_url_schemes = ['postgres:', 'postgresql:'] as const;

/** pino's levels, and `silent`. */
const log_levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** LOG_LEVEL: one of pino's levels; `info` when unset or empty, as an empty number is its default. */
export function logLevel(): string {
  const raw = process.env.LOG_LEVEL;
  if (raw === undefined || raw === '') return 'info';
  if (!log_levels.includes(raw)) throw new Error(`LOG_LEVEL must be one of ${log_levels.join(', ')}, not ${raw}`);
  return raw;
}

function durability(): Durability {
  const raw = process.env.DURABILITY;
  if (raw === undefined || raw === '') return default_config.durability ?? 'async';
  if (raw !== 'async' && raw !== 'sync') throw new Error(`DURABILITY must be async or sync, not ${raw}`);
  return raw;
}

/** What the processor needs of the environment: the same for a gateway, a writer and the operations commands. */
export function processorConfigFromEnv(cim_hmac_key: string): ProcessorConfig {
  return {
    shard_count: int('SHARDS', default_config.shard_count, 1, 16_384),
    cim_hmac_key,
    cim_index_buckets: int('CIM_INDEX_BUCKETS', default_config.cim_index_buckets!, 1, cim_index_buckets_max),
    reply_ttl_seconds: int('REPLY_TTL_SECONDS', default_config.reply_ttl_seconds, 60, 90 * 86_400),
    reference_buckets: int('REFERENCE_BUCKETS', default_config.reference_buckets!, 1, 1 << 20),
    journal_length_max: int('JOURNAL_LENGTH_MAX', default_config.journal_length_max, 1, 100_000_000),
    durability: durability(),
  };
}
