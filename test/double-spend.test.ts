// Double spend: 50 concurrent spends of 1.00 against an open balance of 10.00 approve exactly 10
// and refuse 40 as insufficient_funds, and the balance is never negative at any moment, which is
// checked from the journal itself: each shard stream entry carries the reply (with the wallet
// after it) in the order the shard script ran. The gateway runs on a Redis database of its own with no
// ledger writer, so the entries are all still there to read; a writer then drains them, and the
// ledger says the same.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalKey } from '../processor/hot/keys.ts';
import { journalBacklog, LedgerWriter } from '../processor/ledger/writer.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type ApiResponse, type BusinessFixture, type TestGateway } from './helpers.ts';
import { connectTestRedis, connectTestSql, redis_dbs, redisUrl, shard_count } from './ledger-helpers.ts';

let gw: TestGateway;
let redis: RedisClient;
let sql: Sql;
let biz: BusinessFixture;
let seq = 0;

beforeAll(async () => {
  gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_dbs.double_spend) });
  redis = await connectTestRedis(redis_dbs.double_spend);
  sql = connectTestSql();
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10% back', goal: 'spend', award: { percent: 10 } });
  expect(o.status).toBe(201);
});
afterAll(async () => {
  await redis?.close().catch(() => {});
  await sql?.end({ timeout: 5 });
  await gw?.close();
});

interface Contact {
  readonly id: string;
  readonly card: string;
  readonly wallet_code: string;
}

const ref = () => `ds-${Date.now()}-${++seq}`;

/** A contact with 10.00 in the open balance: a purchase earning it, redeemed. */
async function tenEuros(): Promise<Contact> {
  const card = testCard(33_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status).toBe(201);
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: card }, amount: 10_000, currency: 'EUR' });
  expect(p.body.wallet).toEqual({ open: 0, commerce: 1000 });
  const r = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: card } });
  expect(r.body.wallet).toEqual({ open: 1000, commerce: 0 });
  return { id: c.body.id, card, wallet_code: c.body.wallet_code };
}

interface JournalRecord {
  readonly id: string;
  readonly kind: string;
  readonly wallet: { open: number; commerce: number };
}

/** The contact's journal entries in the order its shard ran them, with the wallet after each. */
async function journalOf(contact_id: string): Promise<JournalRecord[]> {
  const shard = gw.processor.contacts.shardOf(contact_id);
  const entries = (await redis.sendCommand(['XRANGE', journalKey(shard), '-', '+'])) as [string, string[]][];
  const out: JournalRecord[] = [];
  for (const [, fields] of entries) {
    // Refusals (processor/refusals.ts: field x, no e) are journaled too: not transactions.
    if (!fields.includes('e')) continue;
    const field = (name: string) => fields[fields.indexOf(name) + 1]!;
    const entry = JSON.parse(field('e')) as { id: string; kind: string; contact_id: string };
    if (entry.contact_id !== contact_id) continue;
    const reply = JSON.parse(field('r')) as { id: string; wallet: { open: number; commerce: number } };
    expect(reply.id).toBe(entry.id);
    out.push({ id: entry.id, kind: entry.kind, wallet: reply.wallet });
  }
  return out;
}

/**
 * Fired together: exactly `approved` approved and the rest insufficient_funds; the journal holds
 * the approved ones only, each leaving the open balance 1.00 lower, from 10.00 down to 0.
 */
async function expectOnlyTen(c: Contact, results: ApiResponse[]): Promise<void> {
  const ok = results.filter((r) => r.status === 201);
  expect(ok).toHaveLength(10);
  expect(results.filter((r) => r.status === 422 && r.body.code === 'insufficient_funds')).toHaveLength(results.length - 10);
  const journal = await journalOf(c.id);
  expect(journal.map((j) => j.kind).slice(0, 2)).toEqual(['purchase', 'redemption']);
  const spent = journal.slice(2);
  expect(new Set(spent.map((j) => j.id))).toEqual(new Set(ok.map((r) => r.body.id)));
  // Never negative at any moment: the open balance after each, in the order they ran.
  expect(spent.map((j) => j.wallet.open)).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
  for (const j of journal) expect(j.wallet.open).toBeGreaterThanOrEqual(0);
  const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
  expect(w.body).toMatchObject({ open: 0, commerce: 0 });
}

describe('double spend', () => {
  const contacts: Contact[] = [];

  it('50 concurrent spends of 1.00 by wallet code against 10.00: exactly 10 approved, never negative', async () => {
    const c = await tenEuros();
    contacts.push(c);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code })),
    );
    await expectOnlyTen(c, results);
  });

  it('the same by 50 OTPs of the contact, from one terminal', async () => {
    const c = await tenEuros();
    contacts.push(c);
    const otps: string[] = [];
    for (let i = 0; i < 50; i++) {
      const o = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 100 });
      expect(o.status).toBe(201);
      otps.push(o.body.otp);
    }
    const results = await Promise.all(otps.map((otp) => call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 100, currency: 'EUR', otp })));
    await expectOnlyTen(c, results);
  });

  it('the same by wallet code, OTP and purchases paying from the wallet, all at once', async () => {
    const c = await tenEuros();
    contacts.push(c);
    const otps: string[] = [];
    for (let i = 0; i < 17; i++) otps.push((await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 100 })).body.otp);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => {
        if (i % 3 === 0) return call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 100, currency: 'EUR', otp: otps[i / 3]! });
        if (i % 3 === 1) return call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code });
        return call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card }, amount: 100, currency: 'EUR', pay: { amount: 100, wallet_code: c.wallet_code } });
      }),
    );
    for (const r of results.filter((x) => x.status === 201)) expect(r.body.wallet.commerce).toBeGreaterThanOrEqual(0);
    // Purchases of 1.00 paid from the wallet earn 0.10 each, in commerce.
    const earned = results.filter((r) => r.status === 201 && r.body.paid_from_wallet === 100).length * 10;
    const ok = results.filter((r) => r.status === 201);
    expect(ok).toHaveLength(10);
    expect(results.filter((r) => r.status === 422 && r.body.code === 'insufficient_funds')).toHaveLength(40);
    const journal = (await journalOf(c.id)).slice(2);
    expect(journal.map((j) => j.wallet.open)).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
    const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect(w.body).toMatchObject({ open: 0, commerce: earned });
  });

  it('drained into the ledger: the same ten spends, the balance 0, never below it on the statement', async () => {
    const writer = new LedgerWriter(redis, sql, { shard_count });
    writer.start();
    try {
      await eventually('the writer to drain the journal', async () => (await journalBacklog(redis, shard_count)) === 0, 20_000);
    } finally {
      await writer.stop();
    }
    for (const c of contacts) {
      const s = await call(gw, 'GET', `/v1/contacts/${c.id}/statement`, biz.admin_key);
      expect(s.status).toBe(200);
      expect(s.body.lines).toHaveLength(12);
      expect(s.body.lines.slice(2).map((l: { open_balance: number }) => l.open_balance)).toEqual([900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
      expect(s.body.closing.open).toBe(0);
      const [row] = await sql<{ open: number }[]>`
        select coalesce(sum(case when credit_account = ${`${c.id}:open:EUR`} then amount else -amount end), 0)::int8 as open
        from ledger_postings where ${`${c.id}:open:EUR`} in (debit_account, credit_account)`;
      expect(row!.open).toBe(0);
    }
  });
});
