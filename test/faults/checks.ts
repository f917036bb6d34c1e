// What the fault suite checks once a scenario's load has stopped and the ledger has caught up:
// every answered 2xx is in the ledger exactly once (by id, and by terminal + reference, with the
// id the client was told), nothing is in the ledger that no client was told about (except what a
// request without an answer may have left), replays answer the original transaction, no open
// balance is below zero, and `npm run reconcile` finds Redis and the ledger agreeing.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { journalBacklog } from '../../processor/ledger/writer.ts';
import type { RedisClient, Sql } from '../../processor/stores.ts';
import { repo_root } from './children.ts';
import { runCommand, sleep } from './exec.ts';
import type { RequestRecord } from './load.ts';
import { api, type Seeded } from './seed.ts';

export interface LedgerFindings {
  /** 2xx answers whose transaction is not in the ledger. */
  lost: number;
  /** terminal + reference recorded more than once, or recorded under another id than the client was told. */
  doubled: number;
  /** Ledger rows no client was told about (a 4xx answer, or no request at all). */
  unexplained: number;
  /** Ledger rows of requests that never got an answer: allowed. */
  unanswered_recorded: number;
  /** A few of the problems, to say what went wrong. */
  readonly notes: string[];
}

export interface LedgerRow {
  id: string;
  terminal_id: string;
  reference: string;
}

/** Polls the journal backlog (what /readyz reports as ledger_lag) until it is 0; the time it took, or undefined past timeout_ms. */
export async function waitLedgerCaughtUp(redis: RedisClient, shard_count: number, timeout_ms: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeout_ms) {
    const lag = await within(journalBacklog(redis, shard_count), 2_000).catch(() => undefined);
    if (lag === 0) return Date.now() - started;
    await sleep(200);
  }
  return undefined;
}

/** `promise`, or a rejection after `ms`: the suite's own store calls are bounded too. */
export function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function checkLedger(sql: Sql, requests: readonly RequestRecord[], prefix: string): Promise<LedgerFindings> {
  const rows = await sql<LedgerRow[]>`select id, terminal_id, reference from ledger_transactions where reference like ${`${prefix}-%`}`;
  return classifyLedger(rows, requests);
}

/** What the clients were told against what the ledger holds (the rows of their references). */
export function classifyLedger(rows: readonly LedgerRow[], requests: readonly RequestRecord[]): LedgerFindings {
  const by_key = new Map<string, LedgerRow[]>();
  for (const r of rows) {
    const key = `${r.terminal_id} ${r.reference}`;
    by_key.set(key, [...(by_key.get(key) ?? []), r]);
  }
  const ids = new Set(rows.map((r) => r.id));
  const found: LedgerFindings = { lost: 0, doubled: 0, unexplained: 0, unanswered_recorded: 0, notes: [] };
  const note = (s: string) => found.notes.length < 10 && found.notes.push(s);
  const told = new Set<string>();
  for (const q of requests) {
    const key = `${q.terminal_id} ${q.reference}`;
    told.add(key);
    const recorded = by_key.get(key) ?? [];
    const ok = q.status !== undefined && q.status >= 200 && q.status < 300;
    if (ok && (q.id === undefined || !ids.has(q.id))) {
      found.lost++;
      note(`lost: ${q.kind} ${q.reference} answered ${q.status} ${q.id} after ${q.attempts} attempt(s), not in the ledger`);
    }
    if (recorded.length > 1 || (ok && recorded.length === 1 && recorded[0]!.id !== q.id)) {
      found.doubled++;
      note(`doubled: ${q.kind} ${q.reference} told ${q.id}, ledger has ${recorded.map((r) => r.id).join(', ')}`);
    }
    if (recorded.length > 0 && !ok) {
      // Without an answer (or with a 500, counted apart) the client cannot know: allowed.
      if (q.status === undefined || q.status >= 500) found.unanswered_recorded++;
      else {
        found.unexplained++;
        note(`unexplained: ${q.kind} ${q.reference} answered ${q.status}, yet the ledger has ${recorded[0]!.id}`);
      }
    }
  }
  for (const [key, recorded] of by_key) {
    if (told.has(key)) continue;
    found.unexplained += recorded.length;
    note(`unexplained: ${key} in the ledger, no client sent it`);
  }
  return found;
}

const replay_tries = 5;

/** One replay as a POS sends it: a 503 or no answer is tried again (the count of those is returned too). */
async function replay(base_url: string, q: RequestRecord): Promise<{ status: number; id: string | undefined; replayed: boolean; refused: number }> {
  let refused = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(base_url + q.path, { method: 'POST', headers: { authorization: `Bearer ${q.key}`, 'content-type': 'application/json' }, body: q.body, signal: AbortSignal.timeout(10_000) });
      const body = (await res.json().catch(() => ({}))) as { id?: string };
      if (res.status !== 503 || attempt >= replay_tries) return { status: res.status, id: body.id, replayed: res.headers.get('idempotent-replayed') === 'true', refused };
    } catch (err) {
      if (attempt >= replay_tries) throw err;
    }
    refused++;
    await sleep(200);
  }
}

/**
 * Sends up to `n` answered 2xx requests again, byte for byte: each must answer the same status
 * and transaction id, marked as a replay. Returns the number that did not; a note says how many
 * replays needed a second try (503, no answer) though the system was quiet by then.
 */
export async function checkReplays(base_url: string, requests: readonly RequestRecord[], n: number, notes: string[]): Promise<number> {
  const answered = requests.filter((q) => q.status !== undefined && q.status < 300);
  // The requests that needed retries first: they are the ones a fault touched.
  const sample = [...answered.filter((q) => q.attempts > 1), ...answered.filter((q) => q.attempts === 1)].slice(0, n);
  let wrong = 0;
  let refused = 0;
  for (let i = 0; i < sample.length; i += 8) {
    const results = await Promise.all(
      sample.slice(i, i + 8).map(async (q) => {
        try {
          const r = await replay(base_url, q);
          refused += r.refused;
          const same = r.status === q.status && r.id === q.id && r.replayed;
          if (!same && notes.length < 10) notes.push(`replay: ${q.kind} ${q.reference} first ${q.status} ${q.id}, again ${r.status} ${r.id}`);
          return same;
        } catch (err) {
          if (notes.length < 10) notes.push(`replay: ${q.kind} ${q.reference}: ${(err as Error).message}`);
          return false;
        }
      }),
    );
    wrong += results.filter((same) => !same).length;
  }
  if (refused > 0 && notes.length < 10) notes.push(`replays: ${refused} answered 503 or nothing before the answer, after the fault was over`);
  return wrong;
}

/** Contacts whose open balance (Redis, through the wallet API) is below zero. */
export async function negativeOpenBalances(base_url: string, seeded: Seeded, notes: string[]): Promise<number> {
  let negative = 0;
  for (const c of [...seeded.spenders, ...seeded.refunders]) {
    const r = await api(base_url, seeded.admin_key, 'GET', `/v1/contacts/${c.id}/wallet`);
    if (r.status !== 200) throw new Error(`wallet of ${c.id}: ${r.status} ${JSON.stringify(r.body)}`);
    if ((r.body.open as number) < 0) {
      negative++;
      if (notes.length < 10) notes.push(`negative open balance: ${c.id} ${r.body.open}`);
    }
  }
  return negative;
}

export interface ReconcileResult {
  /** Mismatches reported; undefined when it could not run (exit 2, or no such script yet). */
  readonly mismatches: number | undefined;
  readonly summary: string;
}

export function reconcileAvailable(): boolean {
  const pkg = JSON.parse(readFileSync(join(repo_root, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  return pkg.scripts?.reconcile !== undefined;
}

/** `npm run reconcile` on the suite's stores (OPERATIONS.md: exit 0 clean, 1 mismatches, 2 could not run). */
export async function runReconcile(env: Record<string, string>, business_id: string): Promise<ReconcileResult> {
  if (!reconcileAvailable()) return { mismatches: undefined, summary: 'not run: package.json has no reconcile script on this branch' };
  const r = await runCommand('npm', ['run', '--silent', 'reconcile', '--', '--business', business_id], { cwd: repo_root, env: { ...process.env, ...env }, timeout_ms: 180_000 });
  const m = /mismatches:\s*(\d+)/.exec(r.output);
  const line = r.output.trim().split('\n').find((l) => l.includes('mismatches:')) ?? r.output.trim().split('\n').slice(-3).join(' | ');
  if (r.code === 0 || r.code === 1) return { mismatches: m ? Number(m[1]) : r.code, summary: `exit ${r.code}: ${line}` };
  return { mismatches: undefined, summary: `could not run (exit ${r.code}): ${line}` };
}
