// `npm run chaos`: the full fault-injection suite. Starts its own Redis, PostgreSQL, gateway and
// ledger writer (never the stores REDIS_URL and DATABASE_URL name), runs every scenario under
// load, prints the report table and exits 1 when a correctness target failed (lost, doubled,
// unexplained, replay, negative balance, reconcile mismatch, a 5xx other than 503), 2 when the
// suite itself could not run. Latency and catch-up targets are reported, not enforced.
//
//   npm run chaos -- [--scenarios gateway-kill,pg-stop,...] [--pg-stop-s 30] [--freeze-s 10]
//     [--oom-s 10] [--terminate-s 20] [--terminate-every-s 2] [--redis-down-s 2]
//     [--warm-s 5] [--post-s 10] [--rate 100] [--connections 32] [--base-port 17000]

import { parseArgs } from 'node:util';
import { correctnessHeld, reportTable } from './report.ts';
import { all_scenarios, full_durations, scenario_keys, type Scenario } from './scenarios.ts';
import { runSuite } from './suite.ts';
import { live_children } from './children.ts';
import { live_stores } from './stores.ts';

const { values } = parseArgs({
  options: {
    scenarios: { type: 'string' },
    'pg-stop-s': { type: 'string' },
    'freeze-s': { type: 'string' },
    'oom-s': { type: 'string' },
    'terminate-s': { type: 'string' },
    'terminate-every-s': { type: 'string' },
    'redis-down-s': { type: 'string' },
    'warm-s': { type: 'string' },
    'post-s': { type: 'string' },
    rate: { type: 'string' },
    connections: { type: 'string' },
    'base-port': { type: 'string' },
  },
});

function num(name: keyof typeof values, fallback: number, min: number, max: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number from ${min} to ${max}, not ${String(raw)}`);
  return n;
}

function chosen(): readonly Scenario[] {
  if (values.scenarios === undefined) return all_scenarios;
  return values.scenarios.split(',').map((k) => {
    const s = scenario_keys[k.trim()];
    if (s === undefined) throw new Error(`unknown scenario ${k}; one of ${Object.keys(scenario_keys).join(', ')}`);
    return s;
  });
}

async function main(): Promise<number> {
  const base = num('base-port', 17_000, 1_024, 65_000);
  const started = new Date();
  const result = await runSuite({
    ports: { redis: base + 1, postgres: base + 2, gateway: base + 3, iso8583: base + 4 },
    scenarios: chosen(),
    durations: {
      redis_down_s: num('redis-down-s', full_durations.redis_down_s, 0, 600),
      pg_stop_s: num('pg-stop-s', full_durations.pg_stop_s, 1, 3_600),
      terminate_s: num('terminate-s', full_durations.terminate_s, 1, 3_600),
      terminate_every_s: num('terminate-every-s', full_durations.terminate_every_s, 0.1, 60),
      oom_s: num('oom-s', full_durations.oom_s, 1, 3_600),
      freeze_s: num('freeze-s', full_durations.freeze_s, 1, 3_600),
    },
    warm_s: num('warm-s', 5, 1, 600),
    post_s: num('post-s', 10, 1, 600),
    retry_s: 30,
    connections: num('connections', 32, 1, 256),
    rate: num('rate', 100, 1, 5_000),
    timeout_ms: 5_000,
    terminals: 8,
    contacts_per_group: 50,
    isolate: true,
    catch_up_timeout_s: 120,
    ledger_timeout_s: 120,
    replays: 200,
    log: (line) => console.error(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`),
  });
  console.log(`\nFault-injection suite, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC (\`${['npm run chaos', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ')}\`)\n`);
  console.log(reportTable(result));
  const held = correctnessHeld(result);
  console.log(`\nCorrectness targets: ${held ? 'met in every scenario' : 'NOT MET'}`);
  return held ? 0 : 1;
}

// Interrupted: the children and the stores go too (PostgreSQL runs detached, a signal to this
// process group does not reach it).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`[chaos] ${signal}: stopping what the suite started`);
    void Promise.allSettled([...live_children].map((c) => c.stop()))
      .then(() => Promise.allSettled([...live_stores].map((s) => s.destroy())))
      .finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`[chaos] could not run: ${(err as Error)?.stack ?? String(err)}`);
    process.exit(2);
  },
);
