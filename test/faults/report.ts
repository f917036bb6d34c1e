// The suite's report: a markdown table, a row per scenario, and which targets each met.
//
// Targets (OPERATIONS.md, issue 11): correctness in every scenario (0 lost, 0 doubled, nothing
// unexplained in the ledger, replays answer the original, no negative open balance, 0
// reconcile mismatches, no 5xx but 503 `unavailable`, no process dying on its own); during the PostgreSQL outage every POS
// request answered as without it (2xx/4xx), none slower than 2 s; catch-up ≤ 5 s after a single
// process's death.

import type { ScenarioResult, SuiteResult } from './suite.ts';

export const pg_outage_latency_max_ms = 2_000;
export const catch_up_max_s = 5;

export type Verdict = 'met' | 'NOT MET' | 'not checked' | '—';

/** The correctness failures of a row ('' for none); balances from the row, or the suite's final check. */
export function correctnessFailures(r: ScenarioResult, final?: SuiteResult['final']): string[] {
  const out: string[] = [];
  if (r.ledger.lost > 0) out.push(`${r.ledger.lost} lost`);
  if (r.ledger.doubled > 0) out.push(`${r.ledger.doubled} doubled`);
  if (r.ledger.unexplained > 0) out.push(`${r.ledger.unexplained} unexplained in the ledger`);
  if (r.replays_wrong > 0) out.push(`${r.replays_wrong} replays not the original`);
  if (r.answers.other_5xx > 0) out.push(`${r.answers.other_5xx} 5xx other than 503 unavailable`);
  for (const name of r.exited) out.push(`the ${name} exited on its own`);
  const negative = r.negative_open ?? final?.negative_open ?? 0;
  if (negative > 0) out.push(`${negative} negative open balances`);
  const mismatches = (r.reconcile ?? final?.reconcile)?.mismatches;
  if (mismatches !== undefined && mismatches > 0) out.push(`${mismatches} reconcile mismatches`);
  return out;
}

export function pgOutageVerdict(r: ScenarioResult): Verdict {
  if (!r.scenario.pg_outage) return '—';
  return r.window.not_answered_as_usual === 0 && r.window.max_ms <= pg_outage_latency_max_ms ? 'met' : 'NOT MET';
}

export function catchUpVerdict(r: ScenarioResult): Verdict {
  if (!r.scenario.process_death) return '—';
  return r.catch_up_s !== undefined && r.catch_up_s <= catch_up_max_s ? 'met' : 'NOT MET';
}

function mismatchCell(r: ScenarioResult): string {
  if (r.reconcile === undefined) return 'at end';
  return r.reconcile.mismatches === undefined ? 'not run' : String(r.reconcile.mismatches);
}

function row(r: ScenarioResult, final?: SuiteResult['final']): string {
  const a = r.answers;
  const l = r.ledger;
  const failures = correctnessFailures(r, final);
  const reconciled = (r.reconcile ?? final?.reconcile)?.mismatches !== undefined;
  const correctness: Verdict = failures.length > 0 ? 'NOT MET' : reconciled ? 'met' : 'not checked';
  const cells = [
    r.scenario.name,
    a.requests,
    a.ok,
    a.client_errors,
    a.unavailable,
    a.other_5xx,
    a.no_answer,
    a.unanswered,
    l.lost,
    l.doubled,
    l.unexplained,
    r.replays_wrong,
    r.negative_open ?? 'at end',
    mismatchCell(r),
    r.window.max_ms,
    r.catch_up_s === undefined ? 'none' : r.catch_up_s.toFixed(1),
    correctness,
    pgOutageVerdict(r),
    catchUpVerdict(r),
  ];
  return `| ${cells.join(' | ')} |`;
}

export function reportTable(result: SuiteResult): string {
  const lines = [
    '| scenario | requests | 2xx | 4xx | 503 | other 5xx | no answer | unanswered | lost | doubled | unexplained | replay ≠ | negative open | mismatches | max ms in fault | catch-up s | correctness | PG outage: 2xx/4xx ≤ 2 s | catch-up ≤ 5 s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|',
    ...result.rows.map((r) => row(r, result.final)),
  ];
  for (const r of result.rows) {
    const failures = correctnessFailures(r, result.final);
    if (failures.length > 0) lines.push('', `${r.scenario.name}: correctness NOT MET: ${failures.join(', ')}.`);
  }
  if (result.final !== undefined) {
    lines.push('', `After every scenario: negative open balances ${result.final.negative_open}; reconcile ${result.final.reconcile.summary}.`);
  } else {
    const unrun = new Set(result.rows.filter((r) => r.reconcile?.mismatches === undefined).map((r) => r.reconcile?.summary ?? ''));
    for (const summary of unrun) lines.push('', `reconcile ${summary}`);
  }
  return lines.join('\n');
}

/** True when every correctness target held (latency and catch-up are reported, not required). */
export function correctnessHeld(result: SuiteResult): boolean {
  return result.rows.every((r) => correctnessFailures(r, result.final).length === 0);
}
