// The ledger writer as its own process (`npm run ledger-writer`): for deployments that run
// writers apart from gateways, and for tests that kill one mid-batch.

import pino from 'pino';
import { installLastResort } from '../last-resort.ts';
import { CallbackEvents } from '../callback-events.ts';
import { startWebhookRetention } from '../webhook-retention.ts';
import { startRefusalRetention } from '../refusals.ts';
import { Processor } from '../processor.ts';
import { writerConfigFromEnv } from './config.ts';
import { closeRedis, connectPostgres, connectRedis, system_clock, type Stores } from '../stores.ts';
import { migrate } from './migrate.ts';
import { checkLedgerSettings, checkRedisSettings, SettingsMismatch, settings_watch_interval_ms, watchRedisSettings } from '../settings.ts';
import { LedgerWriter } from './writer.ts';
import { copies_owed_sweep_ms } from '../copies-owed.ts';
import { PostgresHealth } from '../postgres-health.ts';
import { RedisHealth } from '../redis-health.ts';

const config = writerConfigFromEnv();
const logger = pino({ level: config.log_level });

const redis = await connectRedis(config.redis_url);
const sql = connectPostgres(config.database_url, 4);
await migrate(sql);
// A writer reads the journals of SHARDS shards: with another count than the data's, some are never read.
const settings = { ...config.processor, shard_count: config.shard_count };
/** The one line an operator reads when the data was made with other settings (settings.ts), then exit 1. */
function refused(err: unknown): never {
  if (!(err instanceof SettingsMismatch)) throw err;
  process.stderr.write(`[pocketgate] ledger writer not started: ${err.message}\n`);
  process.exit(1);
}
await checkLedgerSettings(sql, settings).catch(refused);
await checkRedisSettings(redis, settings).catch(refused);
const writer = new LedgerWriter(redis, sql, {
  shard_count: config.shard_count,
  read_count_max: config.read_count_max,
  claim_idle_ms: config.claim_idle_ms,
  lease_ms: config.lease_ms,
  trim_interval_ms: config.trim_interval_ms,
  // Test hooks: hold each batch before its commit, or between its commit and its XACK.
  ...(config.commit_delay_ms === undefined ? {} : { commit_delay_ms: config.commit_delay_ms }),
  ...(config.ack_delay_ms === undefined ? {} : { ack_delay_ms: config.ack_delay_ms }),
  onError: (err) => logger.warn({ err }, 'batch failed, retrying'),
  onLeaseLost: (given_up, consumer, dropped) => logger.warn({ given_up, consumer, dropped }, 'writer lease lost (process frozen or cut off from Redis): going on as a new consumer'),
  onBatch: (entries, inserted) => logger.info({ entries, inserted }, 'batch written'),
  onDeadLetter: (id, err) => logger.error({ transaction_id: id, err }, 'journal entry refused by PostgreSQL or unreadable, set aside on the dead-letter stream'),
});
writer.start();
logger.info({ consumer: writer.consumer }, 'ledger writer started');
// Kept after the start too: a Redis that restarts empty, then filled by rebuild with another SHARDS.
const stop_settings_watch = watchRedisSettings(redis, settings, {
  interval_ms: settings_watch_interval_ms,
  mode: () => 'adopt',
  onMismatch: (err) => {
    process.stderr.write(`[pocketgate] ledger writer stopped: ${err.message}\n`);
    void stop(1);
  },
});

// With LEDGER_WRITER=off the gateways neither write the ledger nor expire awards nor make the
// referral awards a crash left behind: the writers do. Expiry and referral award transactions go
// through the hot path like any other, with the gateway's settings.
let stop_expiry: (() => void) | undefined;
let stop_referrals: (() => void) | undefined;
let stop_refusal_retention: (() => void) | undefined;
let stop_copies_owed: (() => void) | undefined;
let stop_health: (() => Promise<void>) | undefined;
if (config.processor === undefined) {
  logger.warn('CIM_HMAC_KEY is not set: this writer neither expires awards nor makes referral awards left behind (give it the gateways\' settings)');
} else {
  // Watched as a gateway's are: the sweeps skip a store known down (no warning a second through an
  // outage), and a Redis that hangs has its connection dropped, so that a copy owed waiting on it
  // (under a contact's row lock or a business's rewards lock) is given up on, not held for minutes.
  const redis_health = new RedisHealth(redis, undefined, () => logger.warn('Redis did not answer in time: connection dropped; reconnecting'));
  const postgres_health = new PostgresHealth(config.database_url);
  redis_health.start();
  postgres_health.start();
  stop_health = async () => {
    redis_health.stop();
    await postgres_health.stop();
  };
  const stores: Stores = { redis, sql, clock: system_clock, config: config.processor, redis_health, postgres_health };
  const processor = new Processor(stores);
  processor.onFailure = (err, context, message) => logger.error({ err, ...context }, message);
  stop_expiry = processor.expiry.start(config.expiry_sweep_ms, (err) => logger.warn({ err }, 'expiry sweep failed'));
  logger.info({ sweep_ms: config.expiry_sweep_ms }, 'award expiry sweeper started');
  // The referral awards a crashed gateway left behind (processor/referrals.ts).
  stop_referrals = processor.referrals.start(config.referral_sweep_ms, (err) => logger.warn({ err }, 'referral sweep failed'));
  logger.info({ referral_sweep_ms: config.referral_sweep_ms }, 'referral sweeper started');
  // The Redis copies admin changes owe (processor/copies-owed.ts).
  stop_copies_owed = processor.copies_owed.start(copies_owed_sweep_ms, (err) => logger.warn({ err }, 'Redis copies owed: sweep failed'));
  // Refusals older than the hot windows rebuild reads them for (processor/refusals.ts).
  stop_refusal_retention = startRefusalRetention(sql, config.processor.reply_ttl_seconds, (err) => logger.warn({ err }, 'refusals: pruning failed'));
}
// Callback answers and webhook events past their retention are forgotten by whichever process writes the ledger.
const stop_callback_retention = config.callback_events_retention_days > 0
  ? new CallbackEvents(sql).startRetention(config.callback_events_retention_days, (err) => logger.warn({ err }, 'callback answers: pruning failed'))
  : undefined;
const stop_webhook_retention = config.webhook_events_retention_days > 0
  ? startWebhookRetention(sql, config.webhook_events_retention_days, (err) => logger.warn({ err }, 'webhook events: pruning failed'))
  : undefined;
// Errors nothing caught: logged, bounded, and survived when they come from postgres.js (the
// writer's loop retries the batch) or from a promise nobody awaited; the process exits on the
// others (processor/last-resort.ts says which and why). Only now: a failure to start, above, must
// still stop the process.
installLastResort(logger);

async function stop(code = 0) {
  stop_settings_watch();
  stop_expiry?.();
  stop_referrals?.();
  stop_copies_owed?.();
  await stop_health?.();
  stop_callback_retention?.();
  stop_webhook_retention?.();
  stop_refusal_retention?.();
  await writer.stop();
  await closeRedis(redis);
  await sql.end({ timeout: 5 });
  process.exit(code);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
