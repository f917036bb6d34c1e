// The fault suite's judge, without stores: a checker that cannot see a loss or a double would
// let every scenario pass.

import { describe, expect, it } from 'vitest';
import { classifyLedger, type LedgerRow } from './checks.ts';
import type { RequestRecord } from './load.ts';
import { correctnessFailures } from './report.ts';
import { all_scenarios } from './scenarios.ts';
import type { ScenarioResult } from './suite.ts';

function request(reference: string, status: number | undefined, id?: string, attempts = 1): RequestRecord {
  return { kind: 'purchase', terminal_id: 'ter_1', reference, path: '/v1/purchases', key: 'k', body: '{}', attempts, status, id, refundable: false };
}

const row = (id: string, reference: string, terminal_id = 'ter_1'): LedgerRow => ({ id, terminal_id, reference });

describe('classifyLedger', () => {
  it('passes a 2xx recorded once under its id, and a 4xx not recorded', () => {
    const found = classifyLedger([row('t1', 'r1')], [request('r1', 201, 't1'), request('r2', 422)]);
    expect([found.lost, found.doubled, found.unexplained, found.unanswered_recorded]).toEqual([0, 0, 0, 0]);
  });

  it('counts a 2xx missing from the ledger as lost', () => {
    const found = classifyLedger([], [request('r1', 201, 't1')]);
    expect(found.lost).toBe(1);
    expect(found.notes[0]).toMatch(/^lost: /);
  });

  it('counts a reference recorded twice, or under another id than the client was told, as doubled', () => {
    expect(classifyLedger([row('t1', 'r1'), row('t2', 'r1')], [request('r1', 201, 't1')]).doubled).toBe(1);
    const other = classifyLedger([row('t2', 'r1')], [request('r1', 201, 't1')]);
    expect([other.doubled, other.lost]).toEqual([1, 1]);
  });

  it('counts a recorded 4xx and a reference nobody sent as unexplained; a request never answered may be recorded', () => {
    const found = classifyLedger([row('t1', 'r1'), row('t2', 'r9'), row('t3', 'r3')], [request('r1', 422), request('r3', undefined, undefined, 4)]);
    expect(found.unexplained).toBe(2);
    expect(found.unanswered_recorded).toBe(1);
  });

  it('tells terminals apart: the same reference on another terminal is another request', () => {
    const found = classifyLedger([row('t1', 'r1'), row('t2', 'r1', 'ter_2')], [request('r1', 201, 't1')]);
    expect([found.doubled, found.unexplained]).toEqual([0, 1]);
  });
});

describe('correctnessFailures', () => {
  const clean: ScenarioResult = {
    scenario: all_scenarios[0]!,
    times: { fault_at: 0, recovered_at: 1 },
    answers: { requests: 10, retried: 0, unanswered: 0, ok: 10, client_errors: 0, unavailable: 0, other_5xx: 0, no_answer: 0, statuses: {} },
    window: { max_ms: 5, not_answered_as_usual: 0 },
    catch_up_s: 0.1,
    ledger: { lost: 0, doubled: 0, unexplained: 0, unanswered_recorded: 0, notes: [] },
    replays_wrong: 0,
    negative_open: 0,
    reconcile: { mismatches: 0, summary: 'exit 0' },
    exited: [],
  };

  it('is empty for a clean row and names every target a row missed', () => {
    expect(correctnessFailures(clean)).toEqual([]);
    const bad: ScenarioResult = {
      ...clean,
      answers: { ...clean.answers, other_5xx: 1 },
      ledger: { ...clean.ledger, lost: 2, doubled: 1 },
      reconcile: { mismatches: 3, summary: 'exit 1' },
      exited: ['gateway'],
    };
    expect(correctnessFailures(bad)).toEqual(['2 lost', '1 doubled', '1 5xx other than 503 unavailable', 'the gateway exited on its own', '3 reconcile mismatches']);
  });
});
