// The fault suite: its own stores, the gateway (and a standalone writer where a scenario needs
// one) as children, the seeded business, then each scenario under load, then the checks. Used by
// `npm run chaos` (test/faults/main.ts, the full version) and by test/faults/chaos.test.ts (the
// short one in `npm test`).

import { connectPostgres, connectRedis, type RedisClient, type Sql } from '../../processor/stores.ts';
import { checkLedger, checkReplays, negativeOpenBalances, runReconcile, waitLedgerCaughtUp, type LedgerFindings, type ReconcileResult } from './checks.ts';
import { gatewayChild, startGateway, writerChild, type Child } from './children.ts';
import { sleep } from './exec.ts';
import { watchCatchUp, type CatchUp } from './lag.ts';
import { Load } from './load.ts';
import type { Durations, FaultTimes, Scenario } from './scenarios.ts';
import { platform_key, seed, type Seeded } from './seed.ts';
import { startSuiteStores, type SuitePorts, type SuiteStores } from './stores.ts';
import { countAnswers, faultWindow, type Answers, type Window } from './tally.ts';

export interface SuiteOptions {
  readonly ports: SuitePorts;
  readonly scenarios: readonly Scenario[];
  readonly durations: Durations;
  /** Load before the fault, and after the recovery before the load stops. */
  readonly warm_s: number;
  readonly post_s: number;
  /** After the load stops, how long requests without an answer go on being retried. */
  readonly retry_s: number;
  readonly connections: number;
  readonly rate: number;
  readonly timeout_ms: number;
  readonly terminals: number;
  readonly contacts_per_group: number;
  /** Wait for the ledger and check after each scenario; false: once, after the last (faster, catch-ups overlap). */
  readonly isolate: boolean;
  readonly catch_up_timeout_s: number;
  readonly ledger_timeout_s: number;
  /** Answered requests sent again per scenario to check the replay. */
  readonly replays: number;
  readonly log: (line: string) => void;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly times: FaultTimes;
  readonly answers: Answers;
  /** Inside [fault, recovery]. */
  readonly window: Window;
  readonly catch_up_s: number | undefined;
  readonly ledger: LedgerFindings;
  readonly replays_wrong: number;
  /** Set on each row when isolated, else on the suite's last check only. */
  readonly negative_open: number | undefined;
  readonly reconcile: ReconcileResult | undefined;
  /** Processes that died by themselves (OPERATIONS.md: no store's failure may take one down). */
  readonly exited: readonly string[];
}

export interface SuiteResult {
  readonly rows: ScenarioResult[];
  /** When not isolated: the balances checked once, after every scenario. */
  readonly final?: { readonly negative_open: number; readonly reconcile: ReconcileResult };
}

interface Run {
  readonly o: SuiteOptions;
  readonly stores: SuiteStores;
  readonly env: Record<string, string>;
  readonly base_url: string;
  readonly redis: RedisClient;
  readonly sql: Sql;
  readonly seeded: Seeded;
  gateway: Child;
  writer: Child | undefined;
  /** Aborted when the suite ends: the catch-up watchers stop. */
  readonly ending: AbortController;
}

interface Played {
  readonly scenario: Scenario;
  readonly load: Load;
  readonly times: FaultTimes;
  readonly catch_up: CatchUp;
  readonly prefix: string;
  /** Children that exited on their own during the scenario (a fault of ours is not that). */
  readonly exited: string[];
}

const shard_count = 16;

/**
 * A child that exited on its own (not by a fault of ours) is a finding: its last output goes to
 * the log, and it is started again so that the next scenarios test what they say.
 */
async function revive(run: Run): Promise<void> {
  if (!run.gateway.running) {
    run.o.log(`the gateway had exited on its own; its last output:\n${run.gateway.output()}`);
    await startGateway(run.gateway, run.base_url);
  }
  if (run.writer !== undefined && !run.writer.running) {
    run.o.log(`the ledger writer had exited on its own; its last output:\n${run.writer.output()}`);
    run.writer.spawn();
  }
}

/** Where the ledger writer runs for this scenario; restarts the gateway when that changes. */
async function arrange(run: Run, want: Scenario['writer']): Promise<void> {
  if (want === 'any' || (want === 'standalone') === (run.writer !== undefined)) return;
  run.o.log(`restarting the gateway with ${want === 'standalone' ? 'a standalone ledger writer' : 'its own ledger writer'}`);
  await run.writer?.stop();
  await run.gateway.stop();
  run.gateway = gatewayChild(run.env, run.o.ports.gateway, run.o.ports.iso8583, want === 'gateway');
  await startGateway(run.gateway, run.base_url);
  run.writer = want === 'standalone' ? writerChild(run.env) : undefined;
  run.writer?.spawn();
}

async function play(run: Run, scenario: Scenario, prefix: string): Promise<Played> {
  const { o } = run;
  await revive(run);
  await arrange(run, scenario.writer);
  const load = new Load({ base_url: run.base_url, seeded: run.seeded, prefix, connections: o.connections, rate: o.rate, timeout_ms: o.timeout_ms });
  load.start();
  let times: FaultTimes;
  try {
    await sleep(o.warm_s * 1_000);
    o.log(`${scenario.name}: fault`);
    times = await scenario.run({ stores: run.stores, base_url: run.base_url, redis: run.redis, shard_count, gateway: run.gateway, writer: run.writer }, o.durations);
  } catch (err) {
    await load.stop(0);
    throw err;
  }
  o.log(`${scenario.name}: recovered after ${((times.recovered_at - times.fault_at) / 1_000).toFixed(1)} s${times.note === undefined ? '' : `; ${times.note}`}`);
  const catch_up = watchCatchUp(run.redis, shard_count, times.recovered_at, o.catch_up_timeout_s * 1_000, run.ending.signal);
  await sleep(o.post_s * 1_000);
  await load.stop(o.retry_s * 1_000);
  const exited = [run.gateway, ...(run.writer === undefined ? [] : [run.writer])].filter((c) => !c.running).map((c) => c.name);
  return { scenario, load, times, catch_up, prefix, exited };
}

async function check(run: Run, p: Played, balances: boolean): Promise<ScenarioResult> {
  const ledger = await checkLedger(run.sql, p.load.requests, p.prefix);
  const replays_wrong = await checkReplays(run.base_url, p.load.requests, run.o.replays, ledger.notes);
  const negative_open = balances ? await negativeOpenBalances(run.base_url, run.seeded, ledger.notes) : undefined;
  const reconcile = balances ? await runReconcile(run.env, run.seeded.business_id) : undefined;
  const result: ScenarioResult = {
    scenario: p.scenario,
    times: p.times,
    answers: countAnswers(p.load.requests, p.load.attempts),
    window: faultWindow(p.load.attempts, p.times.fault_at, p.times.recovered_at),
    catch_up_s: await p.catch_up.seconds,
    ledger,
    replays_wrong,
    negative_open,
    reconcile,
    exited: p.exited,
  };
  const statuses = Object.entries(result.answers.statuses).sort(([, a], [, b]) => b - a).map(([k, n]) => `${k}: ${n}`).join(', ');
  run.o.log(`${p.scenario.name}: attempts ${statuses}; ${result.answers.retried} requests retried`);
  for (const n of ledger.notes) run.o.log(`${p.scenario.name}: ${n}`);
  return result;
}

async function caughtUp(run: Run): Promise<void> {
  await revive(run);
  const took = await waitLedgerCaughtUp(run.redis, shard_count, run.o.ledger_timeout_s * 1_000);
  run.o.log(took === undefined ? `the ledger did NOT catch up within ${run.o.ledger_timeout_s} s` : `ledger caught up (${(took / 1_000).toFixed(1)} s after the load stopped)`);
}

async function scenarios(run: Run): Promise<SuiteResult> {
  const run_id = Date.now().toString(36).slice(-4);
  const rows: ScenarioResult[] = [];
  const played: Played[] = [];
  for (const [i, scenario] of run.o.scenarios.entries()) {
    const p = await play(run, scenario, `${run_id}${i}`);
    if (!run.o.isolate) {
      played.push(p);
      continue;
    }
    await caughtUp(run);
    rows.push(await check(run, p, true));
  }
  if (run.o.isolate) return { rows };
  await caughtUp(run);
  for (const p of played) rows.push(await check(run, p, false));
  const notes: string[] = [];
  const negative_open = await negativeOpenBalances(run.base_url, run.seeded, notes);
  const reconcile = await runReconcile(run.env, run.seeded.business_id);
  for (const n of notes) run.o.log(n);
  return { rows, final: { negative_open, reconcile } };
}

export async function runSuite(o: SuiteOptions): Promise<SuiteResult> {
  o.log(`starting Redis on ${o.ports.redis} and PostgreSQL on ${o.ports.postgres} of the suite's own`);
  const stores = await startSuiteStores(o.ports);
  const env = { REDIS_URL: stores.redis.url, DATABASE_URL: stores.postgres.url, PLATFORM_API_KEY: platform_key, CIM_HMAC_KEY: 'faults-hmac-key', SHARDS: String(shard_count) };
  const base_url = `http://127.0.0.1:${o.ports.gateway}`;
  const first_writer = o.scenarios[0]?.writer === 'standalone';
  const gateway = gatewayChild(env, o.ports.gateway, o.ports.iso8583, !first_writer);
  let redis: RedisClient | undefined;
  let sql: Sql | undefined;
  const writer = first_writer ? writerChild(env) : undefined;
  const ending = new AbortController();
  let run: Run | undefined;
  try {
    redis = await connectRedis(stores.redis.url);
    sql = connectPostgres(stores.postgres.url, 2);
    await startGateway(gateway, base_url);
    writer?.spawn();
    const seeded = await seed(base_url, { terminals: o.terminals, contacts_per_group: o.contacts_per_group });
    run = { o, stores, env, base_url, redis, sql, seeded, gateway, writer, ending };
    return await scenarios(run);
  } finally {
    ending.abort();
    // The children of this run, whichever a scenario left (a restart replaces them on `run`).
    await (run === undefined ? writer : run.writer)?.stop();
    await (run?.gateway ?? gateway).stop();
    await redis?.close().catch(() => {});
    await sql?.end({ timeout: 5 }).catch(() => {});
    await stores.destroy();
  }
}
