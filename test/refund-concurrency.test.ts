// Partial refunds of one purchase, all at once. Each refund's shares (award clawed back, fee and
// discount funding given back, wallet payment returned) depend on what the refunds before it
// took. They were computed in Node from a reading of the original and retried when another
// refund had changed it meanwhile, at most 8 times: of 20 concurrent refunds that all fit, 8
// answered 503. The shard script now computes them from what it reads atomically.

//
// Runs on Redis database 9 with a writer of its own, which keeps the journal entries it records.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JournalEntry } from '../processor/journal.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import type { RedisClient } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { byPair, connectTestRedis, redisUrl, shard_count } from './ledger-helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;
let redis: RedisClient;
let writer: LedgerWriter;
/** Every journal entry the writer recorded, by transaction id. */
const written = new Map<string, JournalEntry>();

beforeAll(async () => {
  gw = await startTestGateway({ redis_url: redisUrl(9), ledger_writer: false });
  redis = await connectTestRedis(9);
  writer = new LedgerWriter(redis, gw.processor.stores.sql, {
    shard_count,
    onBatch: (_entries, _inserted, items) => items.forEach((i) => written.set(JSON.parse(i.entry).id, JSON.parse(i.entry))),
  });
  writer.start();
  biz = await createBusiness(gw); // its merchant's contribution fee: 10% of awards
  // 3.33%: awards whose shares do not divide evenly, so cumulative flooring shows.
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '3.33% back', goal: 'spend', award: { percent: 3.33 } });
  expect(o.status).toBe(201);
});
afterAll(async () => {
  await writer?.stop();
  await redis?.close().catch(() => {});
  await gw?.close();
});

const ref = () => `rc-${process.pid}-${Date.now()}-${++seq}`;

async function purchase(amount: number) {
  const card = testCard(77_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status).toBe(201);
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: card }, amount, currency: 'EUR' });
  expect(p.status, p.text).toBe(201);
  return { contact_id: c.body.id as string, reference: p.body.reference as string, id: p.body.id as string, awarded: p.body.awards[0].amount as number };
}

const refund = (original_reference: string, amount: number) => call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: ref(), original_reference, amount });

/** The ledger holds these transactions with the postings their entries name; the contact's accounts sum to its wallet. */
async function expectLedgerAgrees(contact_id: string, ids: string[]): Promise<void> {
  const { sql } = gw.processor.stores;
  const rows = await eventually('the ledger to record every transaction', async () => {
    const r = await sql<{ id: string }[]>`select id from ledger_transactions where id in ${sql(ids)}`;
    return r.length === ids.length ? r : undefined;
  });
  const postings = await sql<{ transaction_id: string; debit_account: string; credit_account: string; amount: number }[]>`
    select transaction_id, debit_account, credit_account, amount from ledger_postings where transaction_id in ${sql(ids)}`;
  const sums = new Map<string, number>();
  for (const row of rows) {
    const own = postings.filter((p) => p.transaction_id === row.id).map((p) => [p.debit_account, p.credit_account, p.amount]);
    expect(written.has(row.id), `the journal entry of ${row.id}`).toBe(true);
    expect(own.sort()).toEqual(byPair(written.get(row.id)!.postings));
  }
  for (const p of postings) {
    expect(p.amount).toBeGreaterThan(0);
    sums.set(p.credit_account, (sums.get(p.credit_account) ?? 0) + p.amount);
    sums.set(p.debit_account, (sums.get(p.debit_account) ?? 0) - p.amount);
  }
  const w = await call(gw, 'GET', `/v1/contacts/${contact_id}/wallet`, biz.admin_key);
  expect(sums.get(`${contact_id}:commerce:EUR`) ?? 0).toBe(w.body.commerce);
  expect(sums.get(`${contact_id}:open:EUR`) ?? 0).toBe(w.body.open);
  // What the contact holds is what the business's rewards account paid; fees net to zero.
  expect((sums.get(`${biz.business_id}:rewards:EUR`) ?? 0) + w.body.commerce + w.body.open).toBe(0);
  expect((sums.get(`${biz.merchant_id}:fees:EUR`) ?? 0) + (sums.get(`${biz.business_id}:fee_income:EUR`) ?? 0)).toBe(0);
}

describe('concurrent partial refunds that fit', () => {
  for (const n of [20, 50]) {
    it(`${n} at once of 100 each: all approved, the sum exact, one more that does not fit refused`, async () => {
      const amount = n === 20 ? 100_000 : 100 * n; // 50: exactly the whole purchase
      const p = await purchase(amount);
      const replies = await Promise.all(Array.from({ length: n }, () => refund(p.reference, 100)));
      for (const r of replies) expect(r.status, r.text).toBe(201);
      expect(replies.reduce((s, r) => s + (r.body.amount as number), 0)).toBe(100 * n);
      const left = amount - 100 * n;
      const over = await refund(p.reference, left + 1);
      expect(over.status, over.text).toBe(422);
      expect(over.body.code).toBe('amount_exceeds_original');
      const ids = [p.id, ...replies.map((r) => r.body.id as string)];
      if (left > 0) {
        const rest = await refund(p.reference, left);
        expect(rest.status, rest.text).toBe(201);
        replies.push(rest);
        ids.push(rest.body.id);
        expect((await refund(p.reference, 1)).body.code).toBe('amount_exceeds_original');
      }
      // The whole purchase refunded: exactly its award clawed back, never more, whatever the order.
      expect(replies.reduce((s, r) => s + (r.body.clawed_back as number), 0)).toBe(p.awarded);
      expect((await call(gw, 'GET', `/v1/contacts/${p.contact_id}/wallet`, biz.admin_key)).body).toMatchObject({ open: 0, commerce: 0 });
      await expectLedgerAgrees(p.contact_id, ids);
    });
  }
});
