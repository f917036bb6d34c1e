// What a gateway does with PostgreSQL before serving: apply pending migrations, and copy the
// business network into Redis when Redis does not have it (processor/network-load.ts). With
// PostgreSQL up this runs before the gateway serves; with PostgreSQL down the gateway serves
// anyway (the POS path reads only Redis) and this is tried again in the background until it
// succeeds once PostgreSQL is back.

import type { Logger } from 'pino';
import { migrate } from '../processor/ledger/migrate.ts';
import { loadNetworkIfMissing } from '../processor/network-load.ts';
import { pocketgateKey } from '../processor/ledger/rebuild.ts';
import type { PostgresHealth } from '../processor/postgres-health.ts';
import type { Stores } from '../processor/stores.ts';
import { isStoreUnavailable } from '../processor/unavailable.ts';
import { checkLedgerSettings, checkRedisSettings, SettingsMismatch } from '../processor/settings.ts';

const retry_first_ms = 1_000;
const retry_max_ms = 60_000;

async function prepare(stores: Stores, logger: Logger): Promise<void> {
  const applied = await migrate(stores.sql);
  if (applied.length > 0) logger.info({ applied }, 'migrations applied');
  await checkLedgerSettings(stores.sql, stores.config);
  await checkRedisSettings(stores.redis, stores.config);
  const loaded = await loadNetworkIfMissing(stores, async () => (await pocketgateKey(stores.redis, stores.config.shard_count)) !== null);
  if (loaded === undefined) return;
  const { unbuilt, ...counts } = loaded;
  logger.info({ loaded: counts }, 'business network copied from PostgreSQL into Redis');
  // Said where an operator looks: /readyz reads 200 (Redis takes writes, and a business made from
  // now on is served), while these businesses' POS calls answer 503 until rebuild (a lifecycle
  // audit, 2026-12-08, found the log silent about it).
  if (unbuilt > 0) logger.warn({ businesses: unbuilt }, `Redis holds none of the contacts of ${unbuilt} business(es) PostgreSQL has (a new Redis, or one that lost its data): their POS calls answer 503 until \`npm run rebuild\` loads them`);
}

/**
 * Prepares now if PostgreSQL answers; otherwise (or if it stops answering meanwhile) keeps trying
 * in the background, backing off to a minute. Any other failure stops the start, as before; in
 * the background, data made with other settings (settings.ts) is told to `refuse` and not tried
 * again. `prepared` is told once it has succeeded. Answers the function that stops the background retries.
 */
export async function prepareStores(stores: Stores, health: PostgresHealth, logger: Logger, refuse: (err: SettingsMismatch) => void, prepared: () => void): Promise<() => void> {
  if (await health.check()) {
    try {
      await prepare(stores, logger);
      prepared();
      return () => {};
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err;
      logger.warn({ err }, 'PostgreSQL failed while preparing; serving the POS path from Redis and trying again');
    }
  } else {
    logger.warn('PostgreSQL does not answer; serving the POS path from Redis and preparing once it is back');
  }
  return retryInBackground(stores, health, logger, refuse, prepared);
}

function retryInBackground(stores: Stores, health: PostgresHealth, logger: Logger, refuse: (err: SettingsMismatch) => void, prepared: () => void): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const attempt = async (delay_ms: number) => {
    if (stopped) return;
    const next = Math.min(delay_ms * 2, retry_max_ms);
    if (!health.up) return void schedule(retry_first_ms); // waits quietly while PostgreSQL is down
    try {
      await prepare(stores, logger);
      prepared();
      logger.info('PostgreSQL is back: prepared');
    } catch (err) {
      // What a start with PostgreSQL up refuses: serving on would tokenise CIMs (or place wallets)
      // apart from the data's, so the gateway stops as that start would have.
      if (err instanceof SettingsMismatch) return refuse(err);
      logger.warn({ err }, 'preparing failed; trying again');
      schedule(next);
    }
  };
  const schedule = (delay_ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => void attempt(delay_ms), delay_ms);
    timer.unref();
  };
  schedule(retry_first_ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
