// Counting what the load saw: answers by status over every attempt, and what happened inside
// the fault's window (the longest wait, the answers a PostgreSQL outage must not change).

import type { Attempt, RequestRecord } from './load.ts';

export interface Answers {
  /** Requests (first attempts; their retries are not requests of their own). */
  requests: number;
  /** Requests that needed more than one attempt. */
  retried: number;
  /** Requests never answered by the end of the scenario's retries. */
  unanswered: number;
  /** Attempts by what came of them. */
  ok: number;
  client_errors: number;
  unavailable: number;
  /** 5xx other than 503 `unavailable`: never acceptable. */
  other_5xx: number;
  no_answer: number;
  /** Attempts by status and problem code ('422 insufficient_funds', 'timeout'): what the load met. */
  readonly statuses: Record<string, number>;
}

export function countAnswers(requests: readonly RequestRecord[], attempts: readonly Attempt[]): Answers {
  const a: Answers = { requests: requests.length, retried: 0, unanswered: 0, ok: 0, client_errors: 0, unavailable: 0, other_5xx: 0, no_answer: 0, statuses: {} };
  for (const q of requests) {
    if (q.attempts > 1) a.retried++;
    if (q.status === undefined) a.unanswered++;
  }
  for (const t of attempts) {
    const o = t.outcome;
    const label = t.code === undefined ? String(o) : `${o} ${t.code}`;
    a.statuses[label] = (a.statuses[label] ?? 0) + 1;
    if (o === 'network' || o === 'timeout') a.no_answer++;
    else if (o >= 200 && o < 300) a.ok++;
    else if (o >= 400 && o < 500) a.client_errors++;
    else if (o === 503 && t.code === 'unavailable') a.unavailable++;
    else a.other_5xx++;
  }
  return a;
}

export interface Window {
  /** The longest attempt that began in the window, an abandoned one counted at its timeout. */
  max_ms: number;
  /** Attempts begun in the window that got neither a 2xx nor a 4xx. */
  not_answered_as_usual: number;
}

export function faultWindow(attempts: readonly Attempt[], from: number, to: number): Window {
  const w: Window = { max_ms: 0, not_answered_as_usual: 0 };
  for (const t of attempts) {
    if (t.at < from || t.at > to) continue;
    w.max_ms = Math.max(w.max_ms, t.ms);
    if (typeof t.outcome !== 'number' || t.outcome >= 500 || t.outcome < 200) w.not_answered_as_usual++;
  }
  return w;
}
