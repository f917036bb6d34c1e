// The ledger writer as its own process (`npm run ledger-writer`): for deployments that run
// writers apart from gateways, and for tests that kill one mid-batch.

import pino from 'pino';
import { installLastResort } from '../last-resort.ts';
import { Processor } from '../processor.ts';
import { connectPostgres, connectRedis, default_config, system_clock, type Stores } from '../stores.ts';
import { migrate } from './migrate.ts';
import { LedgerWriter } from './writer.ts';

const logger = pino({ level: process.env.LOG_LEVEL ?? 'info' });
const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);

const redis = await connectRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const sql = connectPostgres(process.env.DATABASE_URL ?? 'postgres://localhost/pocketgate', 4);
await migrate(sql);
const writer = new LedgerWriter(redis, sql, {
  shard_count: num('SHARDS', 16),
  read_count_max: num('LEDGER_READ_COUNT', 256),
  claim_idle_ms: num('LEDGER_CLAIM_IDLE_MS', 30_000),
  lease_ms: num('LEDGER_LEASE_MS', 3_000),
  trim_interval_ms: num('LEDGER_TRIM_INTERVAL_MS', 1_000),
  // Test hooks: hold each batch before its commit, or between its commit and its XACK.
  ...(process.env.LEDGER_COMMIT_DELAY_MS ? { commit_delay_ms: num('LEDGER_COMMIT_DELAY_MS', 0) } : {}),
  ...(process.env.LEDGER_ACK_DELAY_MS ? { ack_delay_ms: num('LEDGER_ACK_DELAY_MS', 0) } : {}),
  onError: (err) => logger.warn({ err }, 'batch failed, retrying'),
  onLeaseLost: (given_up, consumer, dropped) => logger.warn({ given_up, consumer, dropped }, 'writer lease lost (process frozen or cut off from Redis): going on as a new consumer'),
  onBatch: (entries, inserted) => logger.info({ entries, inserted }, 'batch written'),
  onDeadLetter: (id, err) => logger.error({ transaction_id: id, err }, 'journal entry refused by PostgreSQL or unreadable, set aside on the dead-letter stream'),
});
writer.start();
logger.info({ consumer: writer.consumer }, 'ledger writer started');

// With LEDGER_WRITER=off the gateways neither write the ledger nor expire awards nor make the
// referral awards a crash left behind: the writers do. Expiry and referral award transactions go
// through the hot path like any other, with the gateway's settings.
const cim_hmac_key = process.env.CIM_HMAC_KEY;
let stop_expiry: (() => void) | undefined;
let stop_referrals: (() => void) | undefined;
if (cim_hmac_key === undefined || cim_hmac_key === '') {
  logger.warn('CIM_HMAC_KEY is not set: this writer neither expires awards nor makes referral awards left behind (give it the gateways\' settings)');
} else {
  const stores: Stores = {
    redis,
    sql,
    clock: system_clock,
    config: {
      ...default_config,
      cim_hmac_key,
      shard_count: num('SHARDS', default_config.shard_count),
      reply_ttl_seconds: num('REPLY_TTL_SECONDS', default_config.reply_ttl_seconds),
      reference_buckets: num('REFERENCE_BUCKETS', default_config.reference_buckets!),
    },
  };
  const processor = new Processor(stores);
  processor.onFailure = (err, context, message) => logger.error({ err, ...context }, message);
  const sweep_ms = num('EXPIRY_SWEEP_MS', 10_000);
  stop_expiry = processor.expiry.start(sweep_ms, (err) => logger.warn({ err }, 'expiry sweep failed'));
  logger.info({ sweep_ms }, 'award expiry sweeper started');
  // The referral awards a crashed gateway left behind (processor/referrals.ts).
  const referral_sweep_ms = num('REFERRAL_SWEEP_MS', 5_000);
  stop_referrals = processor.referrals.start(referral_sweep_ms, (err) => logger.warn({ err }, 'referral sweep failed'));
  logger.info({ referral_sweep_ms }, 'referral sweeper started');
}
// Errors nothing caught: logged, bounded, and survived when they come from postgres.js (the
// writer's loop retries the batch) or from a promise nobody awaited; the process exits on the
// others (processor/last-resort.ts says which and why). Only now: a failure to start, above, must
// still stop the process.
installLastResort(logger);

async function stop() {
  stop_expiry?.();
  stop_referrals?.();
  await writer.stop();
  await redis.close().catch(() => {});
  await sql.end({ timeout: 5 });
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
