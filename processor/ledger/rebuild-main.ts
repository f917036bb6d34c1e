// `npm run rebuild [--force]` (spec/OPERATIONS.md): reloads an empty Redis from PostgreSQL, with
// a progress bar on stderr and what it loaded on stdout. Exit 0 when rebuilt, 1 when it refused
// (Redis holds Pocketgate data and no --force), 2 when it could not run (another rebuild running
// on the database among the reasons), 3 when forced over a
// Redis the hot path wrote to meanwhile (its contacts may lack what was made: run it again with
// POS traffic held off).

import { parseArgs } from 'node:util';
import { operationsConfigFromEnv } from './config.ts';
import { closeStores, commandArgs, connectStores, exit_could_not_run, progressBar } from './cli.ts';
import { rebuild } from './rebuild.ts';

const usage = `npm run rebuild -- [--force]

For a Redis that lost its data (a new, empty instance): loads from PostgreSQL everything the hot
path needs (the business network, contacts, CIMs, wallet codes, balances and lots, memberships,
offers, tiers, caps, budgets, fee carries, and the references of the last REPLY_TTL_SECONDS),
with a progress bar on stderr and what it loaded on stdout. Refuses a Redis that holds Pocketgate
data unless --force (which waits for the ledger first; hold POS traffic off meanwhile).
Exit 0: rebuilt; 1: refused; 2: could not run (another rebuild running among the reasons);
3: forced while the hot path wrote (run it again, quiet).
The stores: REDIS_URL and DATABASE_URL, else the local ones npm start runs (README).`;

/** Forced while the hot path wrote: what was loaded may lack what was made meanwhile. */
const exit_rebuilt_under_traffic = 3;

async function main(): Promise<number> {
  let force: boolean;
  let config: ReturnType<typeof operationsConfigFromEnv>;
  try {
    const rebuild_options = { force: { type: 'boolean', default: false }, help: { type: 'boolean' } } as const;
    const { values } = parseArgs({ args: commandArgs(rebuild_options), options: rebuild_options, strict: true });
    if (values.help === true) {
      console.log(usage);
      return 0;
    }
    force = values.force === true;
    config = operationsConfigFromEnv(true);
  } catch (err) {
    console.error(`rebuild: ${(err as Error).message}`);
    return exit_could_not_run;
  }
  const stores = await connectStores(config.redis_url, config.database_url);
  // OPERATIONS.md: rebuild "prints a progress bar", wherever its output goes.
  const bar = progressBar(true);
  let network_kind: string | undefined;
  try {
    const started = Date.now();
    const result = await rebuild(stores.redis, stores.sql, config.processor, {
      force,
      wait_ms: 60_000,
      now_ms: Date.now(),
      // It printed nothing for up to a minute (a rebuild probe).
      onLedgerWait: () => console.error('rebuild: --force: waiting up to 60 s for the ledger to record what the journals hold (hold POS traffic off)'),
      onPhase: (label, total) => bar.start(total, label),
      onProgress: (n) => bar.update(n),
      onNetwork: (kind, done, total) => {
        if (kind !== network_kind) bar.start(total, `network: ${(network_kind = kind)}`);
        bar.update(done);
      },
    });
    bar.stop();
    if (result.outcome === 'refused') {
      console.error(`rebuild: refused: Redis already holds Pocketgate data (${result.key}); --force overwrites what rebuild loads`);
      return 1;
    }
    if (result.outcome === 'busy') {
      console.error('rebuild: another rebuild is running on this database; nothing loaded');
      return exit_could_not_run;
    }
    if (result.outcome === 'wait_timeout') {
      console.error('rebuild: the ledger has not caught up with the journal within 60 s; nothing loaded');
      return exit_could_not_run;
    }
    console.log(`rebuilt in ${((Date.now() - started) / 1000).toFixed(1)} s:`);
    const n = result.network;
    console.log(`  network: ${n.businesses} businesses, ${n.merchants} merchants, ${n.venues} venues, ${n.terminals} terminals, ${n.links} acquirer links, ${n.rewards} rewards snapshots`);
    console.log(`  contacts: ${result.contacts} (CIM index entries: ${result.cims}, hints of emails and phones on file: ${result.detail_hints}, commerce lots: ${result.lots}, cap counters: ${result.caps})`);
    // The window lays the records out (their hashes are named by its periods): a gateway with
    // another REPLY_TTL_SECONDS finds none of them, and each repeat is made anew (a probe).
    console.log(`  hot window: ${result.records} transaction records, ${result.states} refund/reversal/redemption states, ${result.refusals} refusals, laid out for REPLY_TTL_SECONDS=${config.processor.reply_ttl_seconds}: the gateways' must be the same`);
    console.log(`  budgets: ${result.budgets} offers`);
    console.log(`  contribution fee carries: ${result.fee_carries} (merchant and shard)`);
    console.log('  not in the ledger, so not rebuilt: claims of transactions recorded before migration 008, refusals made before migration 018, live OTPs');
    for (const w of result.warnings) console.log(`  warning: ${w}`);
    if (result.appended_meanwhile > 0) {
      console.error(`rebuild: ${result.appended_meanwhile} journal entries were appended while it ran (POS traffic, expiries): contacts rebuilt before their own may lack them in Redis (npm run reconcile shows which); hold POS traffic and run npm run rebuild --force again`);
      return exit_rebuilt_under_traffic;
    }
    return 0;
  } finally {
    bar.stop();
    await closeStores(stores);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`rebuild: could not run: ${(err as Error)?.message ?? err}`);
    process.exit(exit_could_not_run);
  },
);
