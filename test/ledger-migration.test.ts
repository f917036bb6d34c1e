// Migration 007 narrows a ledger that already holds transactions: rows written by the writer as
// it was before (its statement is kept here verbatim) read back the same after it, byte for byte
// through GET /v1/transactions/{id}, and so do statements and settlements; the accounts are still
// there to list; an entry recorded before is not recorded again after; and what only an old row's
// body held (awards its missing reply did not carry, a field no column holds) survives in `body`.
//
// Runs in a database of its own (created and dropped here), migrated to 006 first.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newId } from '../core/ids.ts';
import { iso, type Business } from '../processor/network.ts';
import { migrate, migrationFiles } from '../processor/ledger/migrate.ts';
import { ledgerOriginal, type LedgerOriginal } from '../processor/ledger/originals.ts';
import { settlement, statement } from '../processor/ledger/reports.ts';
import { recordEntries, type JournalRecord } from '../processor/ledger/writer.ts';
import { connectPostgres, type Sql, type Stores } from '../processor/stores.ts';
import { readTransaction } from '../processor/transactions.ts';
import { LedgerEntries, ledgerWorld, seedLedgerWorld, type LedgerWorld } from '../loadtest/ledger-entries.ts';

const database = `pocketgate_migration_${process.pid}`;
let admin: Sql;
let sql: Sql;

/** New connections: what a gateway started after the migration has (none of its statements were prepared before). */
function connect(): Sql {
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${database}`;
  return connectPostgres(url.toString(), 2);
}

beforeAll(async () => {
  admin = connectPostgres(process.env.DATABASE_URL!, 1);
  await admin.unsafe(`drop database if exists ${database}`);
  await admin.unsafe(`create database ${database}`);
  sql = connect();
});
afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await admin?.unsafe(`drop database if exists ${database}`);
  await admin?.end({ timeout: 5 });
});

/** The migrations before `first`, as migrate() applies them. */
async function migrateBefore(first: string): Promise<void> {
  await sql`create table schema_migrations (name text primary key, applied_at timestamptz not null default now())`;
  for (const file of (await migrationFiles()).filter((f) => f < first)) {
    await sql.begin(async (tx) => {
      await tx.unsafe(await readFile(join(import.meta.dirname, '..', 'processor', 'ledger', 'migrations', file), 'utf8'));
      await tx`insert into schema_migrations (name) values (${file})`;
    });
  }
}

/** The writer's statement before 007, verbatim. */
async function recordEntriesBefore007(items: readonly JournalRecord[]): Promise<number> {
  const parts: string[] = [];
  for (const i of items) {
    parts.push(`{"shard":${i.shard},"journal_id":"${i.stream_id}","body":${i.entry},"reply":${i.reply === '' ? 'null' : i.reply}}`);
  }
  const batch = `[${parts.join(',')}]`;
  const [row] = await sql<{ n: number }[]>`
    with batch as (
      select distinct on (e->'body'->>'id') e->'body' as b, (e->>'shard')::int4 as shard, e->>'journal_id' as journal_id, e->'reply' as reply
      from json_array_elements(${batch}::text::json) e
      order by e->'body'->>'id'
    ),
    accounts as (
      insert into ledger_accounts (id, business_id, owner_id, kind, currency)
      select distinct a.id, batch.b->>'business_id', split_part(a.id, ':', 1), split_part(a.id, ':', 2), split_part(a.id, ':', 3)
      from batch, json_array_elements(batch.b->'postings') p, lateral (values (p->>0), (p->>1)) a(id)
      order by a.id
      on conflict do nothing
    ),
    fresh as (
      insert into ledger_transactions (id, business_id, kind, terminal_id, reference, contact_id, amount, currency,
        original_id, shard, journal_id, body, reply, created_at)
      select b->>'id', b->>'business_id', b->>'kind', b->>'terminal_id', b->>'reference', b->>'contact_id',
        (b->>'amount')::int8, b->>'currency', b->>'original_id', shard, journal_id, b::jsonb, case when json_typeof(reply) = 'null' then null else reply end,
        (b->>'created_at')::timestamptz
      from batch
      on conflict (id) do nothing
      returning id
    ),
    postings as (
      insert into ledger_postings (transaction_id, debit_account, credit_account, amount, currency)
      select batch.b->>'id', p.v->>0, p.v->>1, sum((p.v->>2)::int8), batch.b->>'currency'
      from batch join fresh on fresh.id = batch.b->>'id', json_array_elements(batch.b->'postings') with ordinality p(v, n)
      group by batch.b->>'id', p.v->>0, p.v->>1, batch.b->>'currency'
      order by batch.b->>'id', min(p.n)
      returning 1
    )
    select (select count(*) from fresh)::int4 as n`;
  return row!.n;
}

interface Body {
  readonly contact_id: string;
  readonly amount: number;
  readonly awards?: readonly { kind: string; amount: number }[];
  readonly discount?: number;
  readonly paid_from_wallet?: number;
  readonly lots?: unknown;
  readonly postings: readonly (readonly [string, string, number])[];
}

/** Sum of the postings whose debit account is of `kind` (':<kind>:' in the account id). */
function debited(postings: Body['postings'], kind: string): number {
  return postings.reduce((sum, p) => (p[0].includes(`:${kind}:`) ? sum + p[2] : sum), 0);
}

/** processor/ledger/originals.ts's ledgerOriginal before 007, verbatim. */
async function ledgerOriginalBefore007(business_id: string, terminal_id: string, reference: string): Promise<LedgerOriginal | undefined> {
  const [row] = await sql<{ id: string; kind: string; body: string }[]>`
    select id, kind, body::text as body from ledger_transactions
    where terminal_id = ${terminal_id} and reference = ${reference} and business_id = ${business_id}
      and kind in ('purchase', 'spend', 'redemption')
    order by created_at desc, id desc limit 1`;
  if (row === undefined) return undefined;
  const body = JSON.parse(row.body) as Body;
  const later = await sql<{ kind: string; body: string; reply: string | null }[]>`
    select kind, body::text as body, reply::text as reply from ledger_transactions
    where original_id = ${row.id} and business_id = ${business_id} and kind in ('refund', 'reversal')`;
  let refunded = 0, clawed = 0, returned = 0, discount_returned = 0, reversed = false;
  for (const t of later) {
    if (t.kind === 'reversal') {
      reversed = true;
      continue;
    }
    const refund = JSON.parse(t.body) as Body;
    const reply = JSON.parse(t.reply ?? '{}') as { clawed_back?: number; returned_to_wallet?: number };
    refunded += refund.amount;
    clawed += reply.clawed_back ?? 0;
    returned += reply.returned_to_wallet ?? 0;
    discount_returned += debited(refund.postings, 'discounts');
  }
  const awarded = (body.awards ?? []).reduce((sum, a) => (a.kind === 'instant_discount' ? sum : sum + a.amount), 0);
  return {
    id: row.id,
    kind: row.kind,
    contact_id: body.contact_id,
    amount: body.amount,
    awarded,
    paid: body.paid_from_wallet ?? 0,
    discount: body.discount ?? 0,
    // Not read before 007 (added 2026-12-04): a purchase's postings from rewards into open.
    to_open: row.kind === 'purchase' ? body.postings.reduce((sum, p) => (p[0].includes(':rewards:') && p[1].includes(':open:') ? sum + p[2] : sum), 0) : 0,
    refunded,
    clawed,
    returned,
    discount_returned,
    // Not read before 2026-12-05: its refunds' postings from open back to rewards.
    clawed_open: later.reduce((sum, t) => (t.kind === 'refund' ? sum + (JSON.parse(t.body) as Body).postings.reduce((n, p) => (p[0].includes(':open:') && p[1].includes(':rewards:') ? n + p[2] : n), 0) : sum), 0),
    reversed,
    lots: body.lots === undefined ? '' : JSON.stringify(body.lots),
    // Not kept before 2026-12-07: where redeem.lua raised a redemption's `since`.
    since: null,
    awards: row.kind === 'purchase' ? (body.awards ?? []) : [],
    // Not kept before 2026-12-07: what of a purchase's awards paid commerce debt.
    settled: 0,
  };
}

/** GET /v1/transactions/{id} of a recorded transaction as it read before 007 (processor/transactions.ts then; the gateway's own made_by named 'system' since 028). */
async function readBefore007(id: string): Promise<unknown> {
  const [row] = await sql<{ body: Record<string, any>; recorded_at: Date }[]>`select body, recorded_at from ledger_transactions where id = ${id}`;
  const postings = await sql`select debit_account, credit_account, amount from ledger_postings where transaction_id = ${id} order by id`;
  const b = row!.body;
  return {
    id, kind: b.kind, reference: b.reference, terminal_id: b.terminal_id, made_by: b.terminal_id === null ? 'system' : 'terminal', contact_id: b.contact_id, amount: b.amount, currency: b.currency,
    status: 'approved', awards: b.awards ?? [], discount: b.discount ?? 0, original_id: b.original_id ?? null, created_at: iso(b.created_at),
    recorded_at: iso(row!.recorded_at), ledger: 'recorded', postings: [...postings],
  };
}

/** Old-style ids (96 random bits), and entries the old writer met only by accident. */
function oldRecords(w: LedgerWorld): JournalRecord[] {
  const old_id = () => newId('con').replace('con_', 'txn_');
  const made = new LedgerEntries(w, old_id, Date.parse('2026-01-01T00:00:00Z'), 60_000).take(600);
  const purchase = made.find((r) => r.entry.includes('"kind":"purchase"') && r.entry.includes('"discount":0,'))!;
  // A journal entry without its reply field, and one with a field no column holds.
  const lost_reply = { ...purchase, entry: purchase.entry.replace(/^\{"id":"[^"]+"/, `{"id":"${old_id()}"`), reply: '' };
  const extra = { ...purchase, entry: purchase.entry.replace(/^\{"id":"[^"]+"/, `{"id":"${old_id()}","venue_id":"ven_x"`) };
  return [...made, lost_reply, extra];
}

it('keeps every transaction, posting and account of a ledger written before it, read back the same', async () => {
  await migrateBefore('007');
  const w = ledgerWorld(200, 16);
  await seedLedgerWorld(sql, w);
  const items = oldRecords(w);
  for (let i = 0; i < items.length; i += 32) await recordEntriesBefore007(items.slice(i, i + 32));
  const ids = items.map((i) => JSON.parse(i.entry).id as string);
  const business: Business = { id: w.business_id, name: 'Ledger', currency: w.currency, reward_resolution: 'all', created_at: new Date().toISOString() };
  const reads = async () => ({
    statements: await Promise.all(w.contacts.slice(0, 40).map((c) => statement(sql, business, c))),
    settlement: await settlement(sql, business),
    day: await settlement(sql, business, w.merchants[0]!.id, '2026-01-01T02:00:00Z', '2026-01-01T05:00:00Z'),
    accounts: await sql`select id, business_id, owner_id, kind, currency from ledger_accounts order by id`,
    postings: await sql`select transaction_id, debit_account, credit_account, amount from ledger_postings order by transaction_id, debit_account, credit_account`,
  });
  const before = await reads();
  const views_before = await Promise.all(ids.map(readBefore007));
  // Originals of refunds and reversals, as a refund past the hot window reads them.
  const entries = items.map((i) => JSON.parse(i.entry) as { id: string; original_id?: string; terminal_id: string; reference: string });
  const refunded = new Set(entries.map((e) => e.original_id).filter((id) => id !== undefined));
  const originals = entries.filter((e) => refunded.has(e.id) || e.reference.startsWith('R')).slice(0, 60);
  const originals_before = await Promise.all(originals.map((o) => ledgerOriginalBefore007(w.business_id, o.terminal_id, o.reference)));
  expect(originals_before.filter((o) => o !== undefined && (o.refunded > 0 || o.reversed)).length).toBeGreaterThan(5);
  expect(originals_before.filter((o) => o?.lots !== '').length).toBeGreaterThan(5);

  await sql.end();
  sql = connect();
  // 007 and whatever came after it.
  expect((await migrate(sql))[0]).toBe('007_narrow_ledger.sql');
  const stores = { sql, config: { shard_count: 16 } } as unknown as Stores;
  const views_after = await Promise.all(ids.map((id) => readTransaction(stores, business, id)));
  // Byte for byte: the awards' keys in the order they read back in before.
  expect(views_after.map((v) => JSON.stringify(v))).toEqual(views_before.map((v) => JSON.stringify(v)));
  expect(await Promise.all(originals.map((o) => ledgerOriginal(sql, w.business_id, o.terminal_id, o.reference)))).toEqual(originals_before);
  const after = await reads();
  expect([...after.accounts]).toEqual([...before.accounts]);
  expect([...after.postings]).toEqual([...before.postings]);
  expect(after.statements).toEqual(before.statements);
  expect(before.statements.reduce((n, s) => n + s.lines.length, 0)).toBeGreaterThan(40);
  expect([after.settlement, after.day]).toEqual([before.settlement, before.day]);
  expect(before.day.merchants[0]!.awards_funded).toBeGreaterThan(0);

  // What only the body held is in `body`; nothing else is.
  const bodies = await sql<{ id: string; body: unknown }[]>`select id, body from ledger_transactions where body is not null order by id`;
  const [lost_reply, extra] = items.slice(-2).map((i) => JSON.parse(i.entry));
  const redemptions = items.map((i) => JSON.parse(i.entry)).filter((e) => e.kind === 'redemption');
  expect(redemptions.length).toBeGreaterThan(10);
  expect([...bodies]).toEqual(
    [
      { id: lost_reply.id, body: { awards: lost_reply.awards, discount: lost_reply.discount, paid_from_wallet: lost_reply.paid_from_wallet } },
      { id: extra.id, body: { venue_id: 'ven_x' } },
      ...redemptions.map((e) => ({ id: e.id, body: { lots: e.lots } })),
    ].sort((a, b) => (a.id < b.id ? -1 : 1)),
  );

  // Delivered again after the migration: recorded already. New entries are recorded beside them.
  expect(await recordEntries(sql, items.slice(0, 50))).toBe(0);
  const fresh = new LedgerEntries(w, newId, Date.parse('2026-01-02T00:00:00Z'), 60_000).take(100);
  expect(await recordEntries(sql, fresh)).toBe(100);
  const [count] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions`;
  expect(count!.n).toBe(items.length + fresh.length);
});
