// Child process of pg-terminate.test.ts (not a test file itself): drives postgres.js the way the
// ledger writer does while the parent terminates this process's PostgreSQL backends.
//
// It runs in a process of its own because the defect it reproduces (porsager/postgres#1154,
// #1208: `nextWrite` writing to a socket that is gone, from a setImmediate) kills the process
// that meets it, and no try/catch can stop it. So this file installs no 'uncaughtException' or
// 'unhandledRejection' handler on purpose: if postgres.js throws where nothing can catch it, the
// process dies with the TypeError on stderr, which is what the parent checks for.
//
// The workload: REPRO_WORKERS batches in flight at once on a pool of 4 connections (the writer's
// connectPostgres settings), each batch one sql.begin of REPRO_STATEMENTS statements of 32 rows,
// each statement one JSON text parameter taken apart by PostgreSQL, as recordEntries does. For
// REPRO_MS it starts new batches; once those in flight have settled (each bounded) it prints
// {"phase":"storm over"} (the parent stops terminating), checks that a batch commits again
// (recovery, bounded), prints a summary and exits 0.
//
// Environment: DATABASE_URL, REPRO_APP (application_name, so that the parent terminates only this
// process's backends), REPRO_TABLE, REPRO_MS, REPRO_WORKERS, REPRO_STATEMENTS.

import { connectPostgres } from '../processor/stores.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`${name} is required`);
  return v;
};
const url = new URL(env('DATABASE_URL'));
url.searchParams.set('application_name', env('REPRO_APP'));
const table = env('REPRO_TABLE');
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) throw new Error(`REPRO_TABLE ${table} is not a plain identifier`);
const storm_ms = Number(env('REPRO_MS'));
const workers = Number(env('REPRO_WORKERS'));
const statements = Number(env('REPRO_STATEMENTS'));
const rows_per_statement = 32;
/**
 * A batch that has not settled after this long is reported as hung, not waited for. Above what a
 * batch may legitimately wait: postgres.js backs off before reconnecting, up to 20 s after many
 * connection errors in a row, and connect_timeout is 10 s.
 */
const settle_ms_max = 45_000;
const recovery_ms_max = 45_000;

const sql = connectPostgres(url.toString(), 4);

const summary = {
  attempted: 0,
  committed: [] as string[],
  rejected: [] as string[],
  /** Rejections by error code (or constructor name when there is no code). */
  errors: {} as Record<string, number>,
  /** Rejections that were not Error objects, or Errors without a code: counted, never expected. */
  odd: [] as string[],
  hung: 0,
  /** Where each hung batch was when it was given up on: which step of the transaction it had reached. */
  hung_at: {} as Record<string, number>,
  recovered: false,
};
/** Each batch in flight and the step it has reached (begin, statement n, commit). */
const step_of = new Map<string, string>();

function batch(id: string): Promise<void> {
  step_of.set(id, 'begin');
  return sql.begin(async (tx) => {
    for (let s = 0; s < statements; s++) {
      step_of.set(id, `statement ${s}`);
      const rows = Array.from({ length: rows_per_statement }, (_, i) => `{"n":${s * rows_per_statement + i}}`);
      await tx`
        insert into ${tx(table)} (batch, n)
        select ${id}, (e->>'n')::int4 from json_array_elements(${`[${rows.join(',')}]`}::text::json) e
        on conflict do nothing`;
    }
    step_of.set(id, 'commit');
  }).then(() => undefined);
}

/** Run one batch and record how it settled; a batch that does not settle in time counts as hung. */
async function run(id: string): Promise<void> {
  summary.attempted++;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    batch(id).then(
      () => 'committed' as const,
      (err: unknown) => err,
    ),
    new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), settle_ms_max))),
  ]);
  clearTimeout(timer);
  const step = step_of.get(id);
  step_of.delete(id);
  if (outcome === 'committed') summary.committed.push(id);
  else if (outcome === 'hung') {
    summary.hung++;
    summary.hung_at[step ?? 'unknown'] = (summary.hung_at[step ?? 'unknown'] ?? 0) + 1;
  }
  else {
    summary.rejected.push(id);
    const code = (outcome as { code?: unknown } | null)?.code;
    const key = typeof code === 'string' ? code : outcome instanceof Error ? outcome.constructor.name : typeof outcome;
    summary.errors[key] = (summary.errors[key] ?? 0) + 1;
    if (!(outcome instanceof Error) || typeof code !== 'string') summary.odd.push(String(outcome));
  }
}

const started = Date.now();
let seq = 0;
const storm = Array.from({ length: workers }, async () => {
  while (Date.now() - started < storm_ms) await run(`${process.pid}-${seq++}`);
});
process.stdout.write(`${JSON.stringify({ phase: 'started' })}\n`);
await Promise.all(storm);
process.stdout.write(`${JSON.stringify({ phase: 'storm over' })}\n`);

// The pool must serve again once the terminations stop: a batch commits within the bound.
const recovery_deadline = Date.now() + recovery_ms_max;
while (!summary.recovered && Date.now() < recovery_deadline) {
  const before = summary.committed.length;
  await run(`${process.pid}-${seq++}`);
  summary.recovered = summary.committed.length > before;
  if (!summary.recovered) await new Promise((resolve) => setTimeout(resolve, 100));
}

process.stdout.write(`${JSON.stringify({ phase: 'done', ...summary })}\n`);
await sql.end({ timeout: 5 });
