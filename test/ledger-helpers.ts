// Shared by the ledger, idempotency, kill-writer and no-PAN tests: direct clients on the test
// Redis (optionally a database of its own) and PostgreSQL, journal inspection, ledger checks and
// writer child processes.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { journal_group, journalKey } from '../processor/hot/keys.ts';
import type { JournalEntry } from '../processor/journal.ts';
import { connectPostgres, connectRedis, type RedisClient, type Sql } from '../processor/stores.ts';
import { call, eventually, type BusinessFixture, type TestGateway } from './helpers.ts';

export const root = join(import.meta.dirname, '..');
export const shard_count = Number(process.env.SHARDS || 16);

/**
 * The Redis databases test files hold for themselves, one file each (test/redis-dbs.test.ts checks
 * it): one whose writer must be the only consumer of its journal streams, or that counts, scans or
 * flushes its database. Database 0 is every other gateway's; 13 to 15 are the script specs'
 * (processor/hot/script-spec.ts: shards 201 and up, which no writer reads). Until 2026-12-04 files
 * added later took numbers already held: references.test.ts flushed after-commit's database under
 * its gateway, cim-index.test.ts deleted a CIM bucket of reversal-undo's, and hot-window-equivalence's
 * writer drained ledger-writer's journal.
 */
export const redis_dbs = {
  idempotency: 1,
  ledger: 2,
  kill_writer: 3,
  no_pan: 4,
  ledger_invariant: 5,
  double_spend: 6,
  durability: 7,
  reversal_race: 8,
  reversal_undo: 9,
  cim_index: 10,
  after_commit: 11,
  hot_window: 12,
  hot_cim_index: 16,
  hot_references: 17,
  races_cold: 18,
  hot_window_equivalence: 19,
  writer_terminate: 20,
  ledger_writer: 21,
  budget_sync_failure: 22,
} as const;

/** The script specs' databases (processor/hot/script-spec.ts). */
export const spec_redis_dbs = [13, 14, 15] as const;

/**
 * The test Redis URL on database `db`. Streams and scripts are per database, so a test that must
 * be the only consumer of its journal streams (no in-process writer of another test file reading
 * them) runs its gateway and writers on a database no other file uses. `npm test` FLUSHALLs every
 * database at the start.
 */
export function redisUrl(db: number): string {
  const url = new URL(process.env.REDIS_URL!);
  url.pathname = `/${db}`;
  return url.toString();
}

export function connectTestRedis(db: number): Promise<RedisClient> {
  return connectRedis(redisUrl(db));
}

export function connectTestSql(): Sql {
  return connectPostgres(process.env.DATABASE_URL!, 4);
}

export interface Contact {
  readonly id: string;
  readonly card: string;
}

/** `n` contacts, each with one card CIM, created through the API. */
export async function createContacts(gw: TestGateway, biz: BusinessFixture, cards: string[]): Promise<Contact[]> {
  const out: Contact[] = [];
  for (let i = 0; i < cards.length; i += 20) {
    const chunk = cards.slice(i, i + 20);
    const created = await Promise.all(chunk.map((card) => call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })));
    created.forEach((c, j) => {
      if (c.status !== 201) throw new Error(`create contact: ${c.status} ${c.text}`);
      out.push({ id: c.body.id, card: chunk[j]! });
    });
  }
  return out;
}

export async function addCashbackOffer(gw: TestGateway, biz: BusinessFixture, percent = 5): Promise<void> {
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: `${percent}% back`, goal: 'spend', kind: 'cashback', award: { percent } });
  if (o.status !== 201) throw new Error(`create offer: ${o.status} ${o.text}`);
}

/** An approved purchase of cardPurchases: its id, reference and the 5% cashback it awarded. */
export interface ApprovedPurchase {
  readonly id: string;
  readonly reference: string;
  readonly awarded: number;
}

/**
 * `n` purchases of 500 + 13·i by card, spread over `contacts`, 50 at a time, each asserted approved,
 * with references `<prefix>-<i>`; `awarded` is what addCashbackOffer's default 5% gives.
 */
export async function cardPurchases(gw: TestGateway, biz: BusinessFixture, contacts: readonly Contact[], n: number, prefix: string): Promise<ApprovedPurchase[]> {
  const amount = (i: number) => 500 + 13 * i;
  const replies = await inBatches(
    Array.from({ length: n }, (_, i) => () =>
      call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `${prefix}-${i}`, cim: { type: 'card', value: contacts[i % contacts.length]!.card }, amount: amount(i), currency: 'EUR' }),
    ),
    50,
  );
  return replies.map((r, i) => {
    expect(r.status, r.text).toBe(201);
    return { id: r.body.id as string, reference: `${prefix}-${i}`, awarded: Math.floor(amount(i) / 20) };
  });
}

/** Run `tasks` with at most `width` in flight. */
export async function inBatches<T>(tasks: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < tasks.length; i += width) out.push(...(await Promise.all(tasks.slice(i, i + width).map((t) => t()))));
  return out;
}

export interface StreamItem {
  readonly shard: number;
  readonly stream_id: string;
  readonly fields: string[];
  readonly entry: JournalEntry;
}

/** Every transaction's entry still in the shard streams, with its raw fields (to re-add one verbatim); refusals (field `x`) left out. */
export async function journalEntries(redis: RedisClient): Promise<StreamItem[]> {
  const out: StreamItem[] = [];
  for (let shard = 0; shard < shard_count; shard++) {
    const entries = (await redis.sendCommand(['XRANGE', journalKey(shard), '-', '+'])) as [string, string[]][];
    for (const [stream_id, fields] of entries) {
      if (!fields.includes('e')) continue;
      const e = fields[fields.indexOf('e') + 1]!;
      out.push({ shard, stream_id, fields, entry: JSON.parse(e) as JournalEntry });
    }
  }
  return out;
}

export async function streamLengths(redis: RedisClient): Promise<number[]> {
  return Promise.all(Array.from({ length: shard_count }, async (_, s) => Number(await redis.sendCommand(['XLEN', journalKey(s)]))));
}

/** Pending (delivered, not acknowledged) entries over all shards, per consumer. */
export async function pendingByConsumer(redis: RedisClient): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (let shard = 0; shard < shard_count; shard++) {
    const reply = (await redis.sendCommand(['XPENDING', journalKey(shard), journal_group]).catch((err: Error) => {
      if (String(err.message).startsWith('NOGROUP')) return [0, null, null, null];
      throw err;
    })) as [number, string | null, string | null, [string, string][] | null];
    for (const [consumer, count] of reply[3] ?? []) out.set(consumer, (out.get(consumer) ?? 0) + Number(count));
  }
  return out;
}

export async function pendingTotal(redis: RedisClient): Promise<number> {
  let n = 0;
  for (const c of (await pendingByConsumer(redis)).values()) n += c;
  return n;
}

export interface LedgerRow {
  id: string;
  terminal_id: string | null;
  reference: string | null;
  contact_id: string | null;
  kind: string;
  amount: number;
  reply: Record<string, unknown> | null;
}

export async function ledgerRows(sql: Sql, business_id: string): Promise<LedgerRow[]> {
  return [...(await sql<LedgerRow[]>`select id, terminal_id, reference, contact_id, kind, amount, reply from ledger_transactions where business_id = ${business_id}`)];
}

export interface PostingRow {
  transaction_id: string;
  debit_account: string;
  credit_account: string;
  amount: number;
  currency: string;
}

export async function ledgerPostings(sql: Sql, business_id: string): Promise<PostingRow[]> {
  return [
    ...(await sql<PostingRow[]>`
      select p.transaction_id, p.debit_account, p.credit_account, p.amount, t.currency
      from ledger_postings p join ledger_transactions t on t.id = p.transaction_id
      where t.business_id = ${business_id}`),
  ];
}

/** The journal entries of a business still in the streams, by transaction id (before a writer drains them). */
export async function journalOf(redis: RedisClient, business_id: string): Promise<Map<string, JournalEntry>> {
  return new Map((await journalEntries(redis)).filter((j) => j.entry.business_id === business_id).map((j) => [j.entry.id, j.entry]));
}

/** A transaction's postings as the ledger records them: one per account pair, amounts summed, sorted. */
export function byPair(postings: readonly (readonly [string, string, number])[]): [string, string, number][] {
  const sums = new Map<string, number>();
  for (const [d, c, a] of postings) sums.set(`${d} ${c}`, (sums.get(`${d} ${c}`) ?? 0) + a);
  return [...sums].map(([k, a]) => [k.split(' ')[0]!, k.split(' ')[1]!, a] as [string, string, number]).sort();
}

/**
 * The ledger of a business holds each approved purchase exactly once, with the postings its
 * journal entry names (`journal`: every approved transaction's entry, kept before it was
 * drained; undefined when a writer trimmed them, and then only the sums below are checked),
 * every posting well formed, and each contact's commerce account summing to its Redis
 * commerce balance.
 */
export async function expectLedgerMatches(
  gw: TestGateway,
  sql: Sql,
  biz: BusinessFixture,
  approved: { id: string; reference: string; awarded: number }[],
  contact_ids: string[],
  journal: ReadonlyMap<string, JournalEntry> | undefined,
): Promise<void> {
  const rows = await ledgerRows(sql, biz.business_id);
  expect(rows.length).toBe(approved.length);
  // The reply is stored as a JSON document, not as a JSON string holding one; nothing else of a
  // purchase's entry needs storing besides the columns (its awards and discount are the reply's).
  const shapes = await sql<{ body: string | null; reply: string; n: number }[]>`
    select json_typeof(body) as body, json_typeof(reply) as reply, count(*)::int as n
    from ledger_transactions where business_id = ${biz.business_id} group by 1, 2`;
  expect([...shapes]).toEqual([{ body: null, reply: 'object', n: approved.length }]);
  const by_id = new Map(rows.map((r) => [r.id, r]));
  expect(by_id.size).toBe(rows.length);
  const by_reference = new Map<string, number>();
  for (const r of rows) by_reference.set(`${r.terminal_id}|${r.reference}`, (by_reference.get(`${r.terminal_id}|${r.reference}`) ?? 0) + 1);
  for (const a of approved) {
    expect(by_id.get(a.id)?.reference).toBe(a.reference);
    expect(by_reference.get(`${biz.terminal_id}|${a.reference}`)).toBe(1);
  }

  const postings = await ledgerPostings(sql, biz.business_id);
  const per_txn = new Map<string, PostingRow[]>();
  for (const p of postings) {
    expect(p.debit_account).not.toBe(p.credit_account);
    expect(p.amount).toBeGreaterThan(0);
    expect(p.currency).toBe('EUR');
    const list = per_txn.get(p.transaction_id) ?? [];
    list.push(p);
    per_txn.set(p.transaction_id, list);
  }
  for (const a of approved) {
    if (journal !== undefined) {
      const entry = journal.get(a.id);
      expect(entry, `the journal entry of ${a.id}`).toBeDefined();
      const got = (per_txn.get(a.id) ?? []).map((p) => [p.debit_account, p.credit_account, p.amount]).sort();
      expect(got).toEqual(byPair(entry!.postings));
    }
    // The award is what the business's rewards account paid; the merchant's contribution fee
    // on it is a posting of its own between merchant and business.
    const rewards = `${biz.business_id}:rewards:EUR`;
    expect((per_txn.get(a.id) ?? []).filter((p) => p.debit_account === rewards).reduce((s, p) => s + p.amount, 0)).toBe(a.awarded);
  }

  // Balances: what the ledger says each contact's commerce account holds is what Redis holds.
  const sums = new Map<string, number>();
  for (const p of postings) {
    sums.set(p.credit_account, (sums.get(p.credit_account) ?? 0) + p.amount);
    sums.set(p.debit_account, (sums.get(p.debit_account) ?? 0) - p.amount);
  }
  let total = 0;
  for (const id of contact_ids) {
    // A 503 is Redis's connection dropped a moment (a probe past its deadline on a loaded machine:
    // the fresh clone's run at 05:27 had one right after writer-terminate's storm): read again.
    const w = await eventually('the wallet read', async () => {
      const r = await call(gw, 'GET', `/v1/contacts/${id}/wallet`, biz.admin_key);
      return r.status === 503 ? undefined : r;
    }, 10_000);
    expect(w.status, w.text).toBe(200);
    expect(sums.get(`${id}:commerce:EUR`) ?? 0).toBe(w.body.commerce);
    total += w.body.commerce;
  }
  // Double entry: what the contacts were credited is what the business's rewards account paid.
  expect(sums.get(`${biz.business_id}:rewards:EUR`)).toBe(-total);
  expect(total).toBe(approved.reduce((s, a) => s + a.awarded, 0));
}

export interface LoggedProcess {
  readonly child: ChildProcess;
  readonly output: string[];
  /** Resolves with what `ready` picked from the first log line it recognised. */
  readonly ready: Promise<string>;
  readonly exited: Promise<number | null>;
}

export interface WriterProcess extends LoggedProcess {
  /** Resolves with the consumer name once the writer logged that it started. */
  readonly consumer: Promise<string>;
}

/**
 * `node --import tsx <script>` with the test environment plus `env`, its output kept line by
 * line; `ready` resolves with what `pick` finds in the first JSON log line it finds anything in.
 */
export function spawnLogged(script: string, env: Record<string, string>, pick: (line: Record<string, unknown>) => string | undefined): LoggedProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  let resolveReady: (c: string) => void;
  let rejectReady: (e: Error) => void;
  const ready = new Promise<string>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {});
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffered += String(d);
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      output.push(line);
      try {
        const found = pick(JSON.parse(line) as Record<string, unknown>);
        if (found !== undefined) resolveReady(found);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => output.push(String(d)));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, signal) => {
      rejectReady(new Error(`${script} exited (${code ?? signal}) before it started:\n${output.join('\n')}`));
      resolve(code);
    }),
  );
  return { child, output, ready, exited };
}

/** `node --import tsx processor/ledger/writer-main.ts` with the test environment plus `env`. */
export function spawnWriter(env: Record<string, string>): WriterProcess {
  const w = spawnLogged('processor/ledger/writer-main.ts', env, (j) => (typeof j.consumer === 'string' ? j.consumer : undefined));
  return { ...w, consumer: w.ready };
}

/** Kill a writer (or any process) we spawned (by its own pid) and wait for it to be gone. */
export async function killWriter(w: LoggedProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (w === undefined || w.child.exitCode !== null || w.child.signalCode !== null) return;
  w.child.kill(signal);
  await w.exited;
}
