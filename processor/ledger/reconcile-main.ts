// `npm run reconcile [--wait-seconds N] [--business <id>]` (spec/OPERATIONS.md): prints
// `contacts checked: N, mismatches: M`, then a line per mismatch: contact id, balance, Redis
// value, ledger value. Exit 0 when M is 0, 1 otherwise, 2 when it could not run or the wait for
// the ledger ran out.

import { parseArgs } from 'node:util';
import { operationsConfigFromEnv } from './config.ts';
import { closeStores, commandArgs, connectStores, exit_could_not_run, progressBar } from './cli.ts';
import { reconcile, type Mismatch } from './reconcile.ts';
import { checkRedisSettings } from '../settings.ts';

const reconcile_options = { 'wait-seconds': { type: 'string' }, business: { type: 'string' }, help: { type: 'boolean' } } as const;

const usage = `npm run reconcile -- [--wait-seconds N] [--business <id>]

Waits until every journal entry that existed when it started is in the ledger (up to
--wait-seconds, default 60), then compares every contact's open and commerce balances in Redis
with its accounts in the PostgreSQL ledger (--business: one business's contacts). Changes nothing.
Prints "contacts checked: N, mismatches: M", then a line per mismatch: contact id, balance, Redis
value, ledger value. Exit 0: no mismatch; 1: mismatches; 2: could not run, or the wait ran out.
The stores: REDIS_URL and DATABASE_URL, else the local ones npm start runs (README).`;

function options(): { wait_ms: number; business_id: string | undefined } | 'help' {
  const { values } = parseArgs({ args: commandArgs(reconcile_options), options: reconcile_options, strict: true });
  if (values.help === true) return 'help';
  const raw = values['wait-seconds'] ?? '60';
  const seconds = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(seconds) || seconds > 86_400) throw new Error(`--wait-seconds must be a number of seconds from 0 to 86400, not ${raw}`);
  return { wait_ms: seconds * 1000, business_id: values.business };
}

async function main(): Promise<number> {
  let args: Exclude<ReturnType<typeof options>, 'help'>;
  let config: ReturnType<typeof operationsConfigFromEnv>;
  try {
    const parsed = options();
    if (parsed === 'help') {
      console.log(usage);
      return 0;
    }
    args = parsed;
    config = operationsConfigFromEnv(false);
  } catch (err) {
    console.error(`reconcile: ${(err as Error).message}`);
    return exit_could_not_run;
  }
  const stores = await connectStores(config.redis_url, config.database_url);
  const bar = progressBar();
  // Mismatches are printed after the summary line, which needs their count: kept until then, bounded.
  const lines: Mismatch[] = [];
  const moving: string[] = [];
  let unprinted = 0;
  try {
    // Read only: reconcile changes nothing. Another SHARDS than the data's would compare every
    // contact on a shard it is not on.
    await checkRedisSettings(stores.redis, { shard_count: config.processor.shard_count }, 'check');
    const result = await reconcile(stores.redis, stores.sql, {
      shard_count: config.processor.shard_count,
      business_id: args.business_id,
      wait_ms: args.wait_ms,
      onTotal: (n) => bar.start(n, 'contacts'),
      onProgress: (n) => bar.update(n),
      onMismatch: (m) => (lines.length < mismatch_lines_max ? lines.push(m) : unprinted++),
      onUnsettled: (id) => (moving.length < mismatch_lines_max ? moving.push(id) : undefined),
    });
    bar.stop();
    if (result.outcome === 'unknown_business') {
      console.error(`reconcile: no business ${args.business_id}`);
      return exit_could_not_run;
    }
    if (result.outcome === 'wait_timeout') {
      console.error(`reconcile: the ledger has not caught up with the journal within ${args.wait_ms / 1000} s (${result.behind_shards} shard(s) behind); nothing compared`);
      return exit_could_not_run;
    }
    console.log(`contacts checked: ${result.checked}, mismatches: ${result.mismatches}`);
    for (const m of lines) console.log(`${m.contact_id} ${m.balance} ${m.redis} ${m.ledger}`);
    if (unprinted > 0) console.log(`… and ${unprinted} more mismatches not listed`);
    // Not mismatches (their difference never stayed): on stderr, so stdout keeps the contract's lines.
    if (result.unsettled > 0) {
      console.error(`reconcile: ${result.unsettled} contact(s) moved during every second look and could not be compared still; run again when quiet: ${moving.join(' ')}`);
    }
    return result.mismatches === 0 ? 0 : 1;
  } finally {
    bar.stop();
    await closeStores(stores);
  }
}

/** Mismatch lines printed at most: a Redis that lost its data mismatches every contact. */
const mismatch_lines_max = 100_000;

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`reconcile: could not run: ${(err as Error)?.message ?? err}`);
    process.exit(exit_could_not_run);
  },
);
