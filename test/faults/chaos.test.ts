// The fault suite's short version, in `npm test`: every fault once, held for seconds, under a
// light load, on stores of its own (ports 17011-17014; `npm run chaos` uses 17001-17004). The
// ledger is waited for once, after the last fault, so the 30 s a dead writer's batch may wait to
// be claimed overlaps the other scenarios. Asserts the correctness targets in every scenario;
// latency and catch-up are printed, not asserted (that is the full suite's report).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileAvailable } from './checks.ts';
import { live_children } from './children.ts';
import { live_stores } from './stores.ts';
import { correctnessFailures, reportTable } from './report.ts';
import { short_order, type Durations } from './scenarios.ts';
import { runSuite, type ScenarioResult, type SuiteResult } from './suite.ts';

const durations: Durations = { redis_down_s: 1, pg_stop_s: 4, terminate_s: 4, terminate_every_s: 2, oom_s: 2, freeze_s: 3 };
let result: SuiteResult;
const log: string[] = [];

beforeAll(async () => {
  result = await runSuite({
    ports: { redis: 17_011, postgres: 17_012, gateway: 17_013, iso8583: 17_014 },
    scenarios: short_order,
    durations,
    warm_s: 1.5,
    post_s: 2,
    retry_s: 20,
    connections: 32,
    rate: 40,
    // Shorter than the freeze: requests to the frozen gateway time out and are retried.
    timeout_ms: 2_000,
    terminals: 8,
    contacts_per_group: 16,
    isolate: false,
    catch_up_timeout_s: 60,
    ledger_timeout_s: 60,
    replays: 40,
    log: (line) => log.push(line),
  });
}, 170_000);

afterAll(async () => {
  // The table and the log, for whoever reads the test output.
  if (result !== undefined) console.log(`${reportTable(result)}\n\n${log.join('\n')}`);
  else console.log(log.join('\n'));
  // A suite that timed out is still running: its gateway, writer, Redis and PostgreSQL would
  // outlive this file on their fixed ports, and the next run could not start its own.
  await Promise.allSettled([...live_children].map((c) => c.stop()));
  await Promise.allSettled([...live_stores].map((s) => s.destroy()));
}, 60_000);

function row(name: string): ScenarioResult {
  const r = result.rows.find((x) => x.scenario.name === name);
  if (r === undefined) throw new Error(`no row for ${name}`);
  return r;
}

describe('the fault suite, short', () => {
  it.each(short_order.map((s) => s.name))('%s: nothing lost, doubled or unexplained; replays answer the original; no 5xx but 503; every request answered once it was over', (name) => {
    const r = row(name);
    expect(r.answers.requests).toBeGreaterThan(20);
    expect(r.answers.ok).toBeGreaterThan(0);
    expect(correctnessFailures(r, result.final)).toEqual([]);
    expect(r.answers.unanswered).toBe(0);
  });

  it('each fault really happened: requests went unanswered, were refused with 503 or had to be retried', () => {
    expect(row('gateway kill -9').answers.no_answer).toBeGreaterThan(0);
    expect(row('gateway frozen (SIGSTOP)').answers.no_answer).toBeGreaterThan(0);
    expect(row('Redis kill -9, restart (AOF)').answers.unavailable).toBeGreaterThan(0);
    expect(row('Redis out of memory').answers.unavailable).toBeGreaterThan(0);
    expect(row('writer kill -9 mid-batch').times.note).toMatch(/^killed holding a batch/);
  });

  it('no open balance below zero, and reconcile (where this branch has it) finds Redis and the ledger agreeing', () => {
    expect(result.final?.negative_open).toBe(0);
    if (reconcileAvailable()) expect(result.final?.reconcile.mismatches, result.final?.reconcile.summary).toBe(0);
    else expect(result.final?.reconcile.summary).toMatch(/no reconcile script/);
  });
});
