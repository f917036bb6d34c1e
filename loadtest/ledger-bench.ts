// `npm run ledger-bench -- [options]`: what the ledger costs PostgreSQL, and how fast it reads back.
// Fills a ledger with realistic journal entries (loadtest/ledger-entries.ts: 100,000 contacts, a
// few merchants) through recordBatch, the writer's own write path, timing PostgreSQL's backend
// CPU per entry at two batch sizes; then times the three reads over it: GET /v1/transactions/{id},
// a contact's statement and a merchant's settlement (all time and one day).
//
// --baseline <dir> fills a second ledger with another checkout's code and schema
// (`git worktree add --detach /tmp/ledger-before <commit>`; symlink its node_modules to this
// one's), in a database of its own on the same server, chunks alternated A B B A, reads
// alternated too: on a shared, noisy machine only the ratios mean anything.
//
// Options: --transactions 1000000 --contacts 100000 --chunk 20000 --batches 32,256 --reads 1000
// --baseline <dir>; --reads-only times the reads again over the ledgers the last run left.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { JournalRecord } from '../processor/ledger/writer.ts';
import { connectPostgres, type Sql, type Stores } from '../processor/stores.ts';
import type { Business } from '../processor/network.ts';
import { LedgerEntries, ledgerWorld, seedLedgerWorld, type LedgerWorld } from './ledger-entries.ts';
import { median } from './measure.ts';
import { repo_root } from './processes.ts';

const { values: opt } = parseArgs({
  options: {
    transactions: { type: 'string', default: '1000000' },
    contacts: { type: 'string', default: '100000' },
    chunk: { type: 'string', default: '20000' },
    batches: { type: 'string', default: '32,256' },
    reads: { type: 'string', default: '1000' },
    baseline: { type: 'string' },
    'reads-only': { type: 'boolean', default: false },
  },
});
const transactions_n = Number(opt.transactions);
const contacts_n = Number(opt.contacts);
const chunk_n = Number(opt.chunk);
const batch_sizes = opt.batches.split(',').map(Number);
const reads_n = Number(opt.reads);
if (![transactions_n, contacts_n, chunk_n, reads_n, ...batch_sizes].every((n) => Number.isSafeInteger(n) && n > 0)) throw new Error('counts must be positive integers');
const database_url = process.env.DATABASE_URL;
if (database_url === undefined) throw new Error('run through `npm run ledger-bench`, which starts PostgreSQL');

const say = (line: string) => process.stdout.write(line + '\n');
const shard_count = 16;
// 1,000,000 transactions over 30 days of simulated time, whatever the count.
const start_ms = Date.parse('2026-01-01T00:00:00Z');
const span_ms = 30 * 86_400_000;

/** One implementation of the ledger: a checkout's schema, write path and reads. */
interface Impl {
  readonly label: string;
  readonly root: string;
  readonly newId: (kind: 'txn') => string;
  readonly migrate: (sql: Sql) => Promise<unknown>;
  readonly recordBatch: (sql: Sql, items: JournalRecord[]) => Promise<number>;
  readonly readTransaction: (stores: Stores, business: Business, id: string) => Promise<unknown>;
  readonly statement: (sql: Sql, business: Business, contact_id: string) => Promise<unknown>;
  readonly settlement: (sql: Sql, business: Business, merchant_id?: string, from?: string, to?: string) => Promise<unknown>;
}

async function loadImpl(label: string, root: string): Promise<Impl> {
  const load = (file: string) => import(pathToFileURL(join(root, file)).href);
  const [ids, migrate, writer, reports, transactions] = await Promise.all(
    ['core/ids.ts', 'processor/ledger/migrate.ts', 'processor/ledger/writer.ts', 'processor/ledger/reports.ts', 'processor/transactions.ts'].map(load),
  );
  // A checkout from before recordBatch existed: its LedgerWriter's write(), as it was.
  const recordBatch =
    writer.recordBatch ??
    (async (sql: Sql, items: JournalRecord[]) => {
      const max = writer.statement_entries_max as number;
      if (items.length <= max) return writer.recordEntries(sql, items);
      return sql.begin(async (tx) => {
        let inserted = 0;
        for (let i = 0; i < items.length; i += max) inserted += await writer.recordEntries(tx, items.slice(i, i + max));
        return inserted;
      });
    });
  return { label, root, newId: ids.newId, migrate: migrate.migrate, recordBatch, readTransaction: transactions.readTransaction, statement: reports.statement, settlement: reports.settlement };
}

/** A fresh database for `impl`, migrated by its own code, holding the business network and contacts. */
async function prepare(impl: Impl, w: LedgerWorld): Promise<{ sql: Sql; url: string }> {
  const name = `ledger_bench_${impl.label}`;
  const admin = connectPostgres(database_url!, 1);
  await admin.unsafe(`drop database if exists ${name}`);
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(database_url!);
  url.pathname = `/${name}`;
  const sql = connectPostgres(url.toString(), 4);
  await impl.migrate(sql);
  await seedLedgerWorld(sql, w);
  return { sql, url: url.toString() };
}

/** CPU ms a process has used so far (user + system), from /proc: a PostgreSQL backend, say. */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** CPU ms of every process of this PostgreSQL server (backends, WAL writer, checkpointer, autovacuum). */
async function serverCpuMs(sql: Sql): Promise<number> {
  const rows = await sql<{ pid: number }[]>`select pid from pg_stat_activity`;
  let total = 0;
  for (const { pid } of rows) {
    try {
      total += processCpuMs(pid);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

interface Cost {
  entries: number;
  backend_ms: number;
  server_ms: number;
  node_ms: number;
  wall_ms: number;
}

interface Side {
  readonly impl: Impl;
  readonly sql: Sql;
  /** One connection, for the writes and then the reads: its backend's CPU is the measurement. */
  readonly measured: Sql;
  readonly entries: LedgerEntries;
  readonly costs: Map<number, Cost>;
}

async function backendPid(sql: Sql): Promise<number> {
  const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  return row!.pid;
}

/** Write the next chunk in batches of `batch`; only the writing is timed, not making the entries. */
async function writeChunk(side: Side, batch: number): Promise<void> {
  const items = side.entries.take(chunk_n);
  const pid = await backendPid(side.measured);
  const backend0 = processCpuMs(pid);
  const server0 = await serverCpuMs(side.sql);
  const node0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < items.length; i += batch) await side.impl.recordBatch(side.measured, items.slice(i, i + batch));
  const wall_ms = performance.now() - t0;
  const node = process.cpuUsage(node0);
  const backend_ms = processCpuMs(pid) - backend0;
  const server_ms = (await serverCpuMs(side.sql)) - server0;
  if ((await backendPid(side.measured)) !== pid) throw new Error('the writer reconnected mid-chunk: its CPU was not all measured');
  const c = side.costs.get(batch) ?? { entries: 0, backend_ms: 0, server_ms: 0, node_ms: 0, wall_ms: 0 };
  c.entries += items.length;
  c.backend_ms += backend_ms;
  c.server_ms += server_ms;
  c.node_ms += (node.user + node.system) / 1000;
  c.wall_ms += wall_ms;
  side.costs.set(batch, c);
}

/** Fill every side to transactions_n, chunk by chunk: batch sizes take turns, sides alternate A B B A. */
async function fill(sides: Side[]): Promise<void> {
  const chunks = Math.ceil(transactions_n / chunk_n);
  for (let k = 0; k < chunks; k++) {
    const batch = batch_sizes[k % batch_sizes.length]!;
    const order = k % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) await writeChunk(side, batch);
    if ((k + 1) % 5 === 0 || k + 1 === chunks) {
      say(`  ${(k + 1) * chunk_n} written: ${sides.map((s) => `${s.impl.label} ${[...s.costs].map(([b, c]) => `${b}: ${perEntry(c.backend_ms, c.entries)} µs`).join(', ')}`).join(' | ')}`);
    }
  }
}

const perEntry = (ms: number, n: number) => ((ms * 1000) / n).toFixed(1);

/** Per read: wall times (ms), and the CPU ms its backend spent on all of them. */
type Timings = Map<string, { wall: number[]; cpu_ms: number }>;

/** What a read returned without the ids and times that differ between two fills of the same sequence. */
function comparable(value: unknown): string {
  return JSON.stringify(value, (k, v) => (k === 'id' || k === 'transaction_id' || k === 'original_id' || k === 'recorded_at' ? undefined : v));
}

/**
 * The same transactions on every side: the n-th entry of the sequence has the same created_at
 * in every fill (the ids differ). A random sample of them, as ids per side.
 */
async function sampleIds(sides: Side[], n: number): Promise<string[][]> {
  const times = (await sides[0]!.sql<{ at: Date }[]>`select created_at as at from ledger_transactions order by random() limit ${n}`).map((r) => r.at);
  return Promise.all(
    sides.map(async (side) => {
      const rows = await side.sql<{ id: string; at: Date }[]>`
        select id, created_at as at from ledger_transactions where created_at = any(${times.map((t) => t.toISOString())}::timestamptz[])`;
      const by_time = new Map(rows.map((r) => [r.at.getTime(), r.id]));
      return times.map((t) => by_time.get(t.getTime())!);
    }),
  );
}

/**
 * Each read `n` times on every side, alternated request by request (A B, then B A); the sides
 * must answer the same. One kind of read after the other, so that a settlement's scans do not
 * empty the caches a GET would find warm.
 */
async function timeRead(sides: Side[], timings: Map<string, Timings>, name: string, n: number, read: (side: Side, s: number, i: number) => Promise<unknown>) {
  const pids = await Promise.all(sides.map((side) => backendPid(side.measured)));
  // The connection does nothing else meanwhile: the phase's CPU is its reads'. Read once per
  // phase, not per read, whose CPU is often less than one clock tick (10 ms).
  const cpu0 = pids.map(processCpuMs);
  const walls: number[][] = sides.map(() => []);
  for (let i = 0; i < n; i++) {
    const answers: string[] = [];
    for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
      const s = sides.indexOf(side);
      const t0 = performance.now();
      answers[s] = comparable(await read(side, s, i));
      walls[s]!.push(performance.now() - t0);
    }
    if (answers.some((a) => a !== answers[0])) throw new Error(`the sides answer ${name} differently:\n${answers.join('\n')}`);
  }
  for (const [s, side] of sides.entries()) {
    timings.get(side.impl.label)!.set(name, { wall: walls[s]!, cpu_ms: processCpuMs(pids[s]!) - cpu0[s]! });
    if ((await backendPid(side.measured)) !== pids[s]) throw new Error('the reader reconnected: its CPU was not all measured');
  }
}

/**
 * GET /v1/transactions/{id}, statements and settlements, through the measured connection, with
 * no parallel workers (their CPU would not be its backend's).
 */
async function reads(sides: Side[], w: LedgerWorld): Promise<Map<string, Timings>> {
  const business: Business = { id: w.business_id, name: 'Ledger', currency: w.currency, reward_resolution: 'all', created_at: new Date(start_ms).toISOString() };
  const timings = new Map(sides.map((s) => [s.impl.label, new Map() as Timings]));
  const ids = await sampleIds(sides, reads_n);
  for (const side of sides) await side.measured`set max_parallel_workers_per_gather = 0`;
  const stores = sides.map((side) => ({ sql: side.measured, config: { shard_count } }) as unknown as Stores);
  const merchant = (i: number) => w.merchants[i % w.merchants.length]!.id;
  const day = (i: number) => new Date(start_ms + (i % 30) * 86_400_000).toISOString();
  await timeRead(sides, timings, 'GET /v1/transactions/{id}', reads_n, (side, s, i) => side.impl.readTransaction(stores[s]!, business, ids[s]![i]!));
  await timeRead(sides, timings, 'statement', reads_n, (side, _s, i) => side.impl.statement(side.measured, business, w.contacts[(i * 7_919) % w.contacts.length]!));
  await timeRead(sides, timings, 'settlement, a day', Math.min(reads_n, 120), (side, _s, i) => side.impl.settlement(side.measured, business, merchant(i), day(i), day(i + 1)));
  await timeRead(sides, timings, 'settlement, all time', 12, (side, _s, i) => side.impl.settlement(side.measured, business, merchant(i)));
  return timings;
}

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;
const ms = (xs: number[]) => `${median(xs).toFixed(2)} / ${q(xs, 0.9).toFixed(2)} / ${Math.max(...xs).toFixed(2)}`;

async function tableSizes(sql: Sql): Promise<string> {
  const rows = await sql<{ name: string; mb: number }[]>`
    select c.relname as name, round(pg_total_relation_size(c.oid) / 1048576.0)::int as mb
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r' and c.relname like 'ledger%' order by 1`;
  return rows.map((r) => `${r.name} ${r.mb} MB`).join(', ');
}

function report(sides: Side[], timings: Map<string, Timings>): void {
  if (sides[0]!.costs.size > 0) reportWrites(sides);
  say(`\nReads over the ledger: wall ms (median / p90 / max), and PostgreSQL CPU ms per read`);
  for (const name of timings.get(sides[0]!.impl.label)!.keys()) {
    say(`  ${name}`);
    for (const side of sides) {
      const t = timings.get(side.impl.label)!.get(name)!;
      say(`    ${side.impl.label.padEnd(8)} ${ms(t.wall)}   CPU ${(t.cpu_ms / t.wall.length).toFixed(2)}`);
    }
  }
}

function reportWrites(sides: Side[]): void {
  say(`\nPostgreSQL CPU per entry, µs (backend: the writer's connection; server: every PostgreSQL process, WAL writer and autovacuum included)`);
  for (const batch of batch_sizes) {
    for (const side of sides) {
      const c = side.costs.get(batch)!;
      say(`  batch ${String(batch).padStart(4)}  ${side.impl.label.padEnd(8)} backend ${perEntry(c.backend_ms, c.entries).padStart(6)}  server ${perEntry(c.server_ms, c.entries).padStart(6)}  writer (node) ${perEntry(c.node_ms, c.entries).padStart(5)}  wall ${perEntry(c.wall_ms, c.entries).padStart(6)}   (${c.entries} entries)`);
    }
    if (sides.length === 2) {
      const [a, b] = sides.map((s) => s.costs.get(batch)!) as [Cost, Cost];
      say(`  batch ${String(batch).padStart(4)}  ${sides[0]!.impl.label}/${sides[1]!.impl.label}: backend ${(a.backend_ms / b.backend_ms).toFixed(2)}, server ${(a.server_ms / b.server_ms).toFixed(2)}`);
    }
  }
}

/** A fresh, empty ledger per implementation (or the one the last run left, with --reads-only). */
async function open(impls: Impl[], w: LedgerWorld | undefined): Promise<Side[]> {
  const sides: Side[] = [];
  for (const impl of impls) {
    const url = new URL(database_url!);
    url.pathname = `/ledger_bench_${impl.label}`;
    const sql = w === undefined ? connectPostgres(url.toString(), 4) : (await prepare(impl, w)).sql;
    const measured = connectPostgres(url.toString(), 1);
    sides.push({ impl, sql, measured, entries: new LedgerEntries(w ?? emptyWorld, impl.newId, start_ms, span_ms / transactions_n), costs: new Map() });
  }
  return sides;
}

const emptyWorld: LedgerWorld = { business_id: '', currency: 'EUR', merchants: [], own_terminals: [], contacts: [], shard_count };

/** The business, merchants and contacts a previous run seeded (what the reads need of its world). */
async function loadWorld(sql: Sql): Promise<LedgerWorld> {
  const [b] = await sql<{ id: string; currency: string }[]>`select id, currency from businesses`;
  const merchants = await sql<{ id: string; settle_on: 'award' | 'spend'; fee_bp: number }[]>`select id, settle_on, contribution_fee_bp as fee_bp from merchants order by code`;
  const contacts = await sql<{ id: string }[]>`select id from contacts order by id`;
  return { ...emptyWorld, business_id: b!.id, currency: b!.currency, merchants: merchants.map((m) => ({ ...m, terminals: [] })), contacts: contacts.map((c) => c.id) };
}

async function main(): Promise<void> {
  const impls = [await loadImpl('new', repo_root)];
  if (opt.baseline !== undefined) impls.unshift(await loadImpl('old', opt.baseline));
  const fresh = opt['reads-only'] ? undefined : ledgerWorld(contacts_n, shard_count);
  const sides = await open(impls, fresh);
  try {
    const w = fresh ?? (await loadWorld(sides[0]!.sql));
    if (fresh !== undefined) {
      say(`ledger bench: ${transactions_n} transactions, ${contacts_n} contacts, ${w.merchants.length} merchants, chunks of ${chunk_n}, batches of ${batch_sizes.join(' and ')}`);
      await fill(sides);
      for (const side of sides) await side.sql`vacuum analyze`;
    }
    const [row] = await sides[0]!.sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions`;
    say(`\n${row!.n} transactions in each ledger`);
    report(sides, await reads(sides, w));
    say('');
    for (const side of sides) say(`  ${side.impl.label.padEnd(8)} ${await tableSizes(side.sql)}`);
  } finally {
    for (const side of sides) await Promise.all([side.sql.end(), side.measured.end()]);
  }
}

await main();
