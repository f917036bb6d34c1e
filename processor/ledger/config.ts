// What the ledger's own processes read of the environment: the standalone writer (writer-main.ts)
// and the operations commands (rebuild-main.ts, reconcile-main.ts). The settings they share with
// the gateways are read as the gateways read them (processor/config.ts).

import { callback_events_retention_days_default, database_url_schemes, int, logLevel, processorConfigFromEnv, redis_url_schemes, referral_sweep_ms_default, required, storeUrl, webhook_events_retention_days_default } from '../config.ts';
import { default_config, type ProcessorConfig } from '../stores.ts';

/** A standalone ledger writer (`npm run ledger-writer`, writer-main.ts). */
export interface WriterConfig {
  readonly redis_url: string;
  readonly database_url: string;
  readonly log_level: string;
  readonly shard_count: number;
  /** LEDGER_READ_COUNT: entries taken per shard per round. */
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
  /** CALLBACK_EVENTS_RETENTION_DAYS, as the gateways read it. */
  readonly callback_events_retention_days: number;
  /** WEBHOOK_EVENTS_RETENTION_DAYS, likewise. */
  readonly webhook_events_retention_days: number;
  /** With CIM_HMAC_KEY (the gateways' settings) the writer also expires awards and makes referral awards left behind. */
  readonly processor: ProcessorConfig | undefined;
}

export function writerConfigFromEnv(): WriterConfig {
  const optional = (name: string, max: number) => (process.env[name] ? int(name, 0, 0, max) : undefined);
  const cim_hmac_key = process.env.CIM_HMAC_KEY;
  return {
    redis_url: storeUrl('REDIS_URL', redis_url_schemes),
    database_url: storeUrl('DATABASE_URL', database_url_schemes),
    log_level: logLevel(),
    shard_count: int('SHARDS', default_config.shard_count, 1, 16_384),
    read_count_max: int('LEDGER_READ_COUNT', 256, 1, 10_000),
    claim_idle_ms: int('LEDGER_CLAIM_IDLE_MS', 30_000, 100, 3_600_000),
    lease_ms: int('LEDGER_LEASE_MS', 3_000, 100, 600_000),
    trim_interval_ms: int('LEDGER_TRIM_INTERVAL_MS', 1_000, 0, 3_600_000) || Number.POSITIVE_INFINITY,
    commit_delay_ms: optional('LEDGER_COMMIT_DELAY_MS', 600_000),
    ack_delay_ms: optional('LEDGER_ACK_DELAY_MS', 600_000),
    // As the gateway's (gateway/config.ts): a lot leaves the commerce balance within a second of its expires_at, whichever process sweeps.
    expiry_sweep_ms: int('EXPIRY_SWEEP_MS', 1_000, 100, 3_600_000),
    referral_sweep_ms: int('REFERRAL_SWEEP_MS', referral_sweep_ms_default, 100, 3_600_000),
    callback_events_retention_days: int('CALLBACK_EVENTS_RETENTION_DAYS', callback_events_retention_days_default, 0, 3_650),
    webhook_events_retention_days: int('WEBHOOK_EVENTS_RETENTION_DAYS', webhook_events_retention_days_default, 0, 3_650),
    processor: cim_hmac_key === undefined || cim_hmac_key === '' ? undefined : processorConfigFromEnv(cim_hmac_key),
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
    processor: processorConfigFromEnv(needs_hmac ? required('CIM_HMAC_KEY') : (process.env.CIM_HMAC_KEY ?? '')),
  };
}
