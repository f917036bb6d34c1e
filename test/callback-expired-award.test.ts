// A processor's callback may be dated 35 days back (EVENTS.md), and an award's validity counts
// from the sale's occurred_at (API.md): a clearing that comes after the award's validity makes a
// lot that has already expired. It used to count in the wallet's commerce balance until the next
// expiry sweep. Decided (as for a redemption reversed after its lots expired): the award is made
// and recorded (the statement shows it earned), and its lot expires at once, an expiry
// transaction of its own right after the purchase, before the callback is answered.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, testCard, type TestGateway } from './helpers.ts';
import { shop, walletOf } from './contract-util.ts';
import { createProcessor, postCallback, refunded, reversed, sale, transactionId } from './callback-helpers.ts';
import { expectReconciledWith } from './ledger-checks.ts';
import { lotsKey } from '../processor/hot/keys.ts';
import { rebuiltGateway, startOnOwnStores } from './rebuilt.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;
const day_ms = 86_400_000;

beforeAll(async () => {
  // The sweeper runs when the test says, not on its timer: what the answer leaves is what is seen.
  stores = await startOwnStores('callback_expired_award');
  gw = await startOnOwnStores(stores, { expiry_sweep_ms: 3_600_000 });
});
afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

describe('a callback whose award expired before it came', () => {
  it('records the award and expires it at once: the commerce balance never shows it', async () => {
    const s = await shop(gw, testCard(881_000_001), [{ name: '10% back, a week', goal: 'spend', award: { percent: 10 }, validity_days: 7 }]);
    const p = await createProcessor(gw, s.biz);
    const occurred_at = new Date(Date.now() - 10 * day_ms).toISOString();
    const data = { transaction_id: transactionId(), card: { number: s.card }, amount: 1000, currency: 'EUR', merchant_code: s.biz.merchant_code, occurred_at };
    const res = await postCallback(gw, p, sale('transaction.cleared', data));
    expect(res.body.status, res.text).toBe('processed');
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toMatchObject({ open: 0, commerce: 0 });

    // Earned, then expired: the purchase with its award, and an expiry of it, in the ledger.
    const kinds = await eventually('purchase and expiry in the ledger', async () => {
      const rows = await gw.processor.stores.sql<{ kind: string; amount: number }[]>`
        select kind, amount::int as amount from ledger_transactions where contact_id = ${s.contact_id} order by created_at, id`;
      return rows.length >= 2 && rows;
    });
    expect(kinds.map((r) => [r.kind, r.amount])).toEqual([['purchase', 1000], ['expiry', 100]]);
    const t = await call(gw, 'GET', `/v1/transactions/${res.body.transaction_id}`, s.biz.admin_key);
    expect(t.body.awards, t.text).toEqual([expect.objectContaining({ amount: 100 })]);
    await expectReconciledWith(gw, s.biz);
    // The sweep finds nothing left to expire.
    await gw.processor.expiry.sweep();
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toMatchObject({ open: 0, commerce: 0 });
    expect(await rebuilt(async () => [await walletOf(gw, s.biz.admin_key, s.contact_id), await lotsOf(s.contact_id)])).toEqual([{ currency: 'EUR', open: 0, commerce: 0, pools: [], expiring: [] }, {}]);
  });

  it('its refund and reversal do not claw back again what expired: the wallet is as if the sale never happened', async () => {
    const s = await shop(gw, testCard(881_000_003), [{ name: '10% back, a week', goal: 'spend', award: { percent: 10 }, validity_days: 7 }]);
    const p = await createProcessor(gw, s.biz);
    const occurred_at = new Date(Date.now() - 10 * day_ms).toISOString();
    const transaction_id = transactionId();
    const data = { transaction_id, card: { number: s.card }, amount: 1000, currency: 'EUR', merchant_code: s.biz.merchant_code, occurred_at };
    expect((await postCallback(gw, p, sale('transaction.cleared', data))).body.status).toBe('processed');
    await eventually('the expiry in the ledger', async () => (await kindsOf(s.contact_id)).includes('expiry'));

    // Half refunded: its share of the award (50) had expired; then the rest voided (50 more).
    const refund = { transaction_id: transactionId(), original_transaction_id: transaction_id, amount: 500, currency: 'EUR', merchant_code: s.biz.merchant_code };
    const r = await postCallback(gw, p, refunded(refund));
    expect(r.body.status, r.text).toBe('processed');
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toMatchObject({ open: 0, commerce: 0 });
    const v = await postCallback(gw, p, reversed(transaction_id));
    expect(v.body.status, v.text).toBe('processed');
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toMatchObject({ open: 0, commerce: 0 });

    const replies = await eventually('the refund and reversal in the ledger', async () => {
      const rows = await gw.processor.stores.sql<{ kind: string; reply: { clawed_back?: number; award_expired?: number } }[]>`
        select kind, reply from ledger_transactions where contact_id = ${s.contact_id} and kind in ('refund', 'reversal') order by created_at, id`;
      return rows.length === 2 && rows;
    });
    expect(replies.map((t) => [t.kind, t.reply.clawed_back, t.reply.award_expired])).toEqual([['refund', 0, 50], ['reversal', 0, 50]]);
    await expectReconciledWith(gw, s.biz);
    // The next award is not taken by a debt: there is none.
    const later = { ...data, transaction_id: transactionId(), occurred_at: new Date().toISOString() };
    expect((await postCallback(gw, p, sale('transaction.cleared', later))).body.status).toBe('processed');
    expect(await rebuilt(() => walletOf(gw, s.biz.admin_key, s.contact_id))).toMatchObject({ open: 0, commerce: 100 });
  });

  it('a refund takes its own sale’s lot, not an earlier sale’s: refunding the later of two, then the earlier once its award expired, leaves nothing owed', async () => {
    // Two sales a few seconds apart, each awarding 100 for a week, dated so that their lots expire
    // 3 s and 6 s from now. The later is refunded at once; both expiries pass; the earlier is
    // refunded. Its award expired unspent: as if neither sale happened, the wallet is 0 and 0.
    // A claw-back used to take the earliest lot (the earlier sale's): the later's then expired in
    // its place, and the earlier's refund, finding none of its own expired, took its award back
    // a second time, into debt (commerce −100).
    const s = await shop(gw, testCard(881_000_004), [{ name: '100 for a week', goal: 'spend', award: { fixed: 100 }, validity_days: 7 }]);
    const p = await createProcessor(gw, s.biz);
    const expiring_at_ms = Date.now() + 3_000;
    const sale_at = (expiry_ms: number) => new Date(expiry_ms - 7 * day_ms).toISOString();
    const data = (occurred_at: string) => ({ transaction_id: transactionId(), card: { number: s.card }, amount: 1000, currency: 'EUR', merchant_code: s.biz.merchant_code, occurred_at });
    const earlier = data(sale_at(expiring_at_ms));
    const later = data(sale_at(expiring_at_ms + 3_000));
    for (const d of [earlier, later]) expect((await postCallback(gw, p, sale('transaction.cleared', d))).body.status).toBe('processed');
    const refund = (original: Record<string, unknown>) => refunded({ transaction_id: transactionId(), original_transaction_id: original.transaction_id, amount: 1000, currency: 'EUR', merchant_code: s.biz.merchant_code });
    expect((await postCallback(gw, p, refund(later))).body.status).toBe('processed');
    // What is left is the earlier sale's award, with its expiry.
    const left = await walletOf(gw, s.biz.admin_key, s.contact_id);
    expect(left).toMatchObject({ commerce: 100, expiring: [{ amount: 100, expires_at: new Date(Math.floor(expiring_at_ms / 1000) * 1000).toISOString().replace('.000Z', 'Z') }] });

    await new Promise((r) => setTimeout(r, expiring_at_ms + 3_500 - Date.now()));
    await gw.processor.expiry.sweep();
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toMatchObject({ open: 0, commerce: 0 });
    const r = await postCallback(gw, p, refund(earlier));
    expect(r.body.status, r.text).toBe('processed');
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toMatchObject({ open: 0, commerce: 0 });
    const replies = await eventually('the refunds in the ledger', async () => {
      const rows = await gw.processor.stores.sql<{ reply: { clawed_back: number; award_expired: number }; lots: unknown }[]>`
        select reply, body->'lots' as lots from ledger_transactions where contact_id = ${s.contact_id} and kind = 'refund' order by created_at, id`;
      return rows.length === 2 && rows;
    });
    // The later's took its own lot (the entry names it); the earlier's found its own expired.
    expect(replies.map((t) => [t.reply.clawed_back, t.reply.award_expired])).toEqual([[100, 0], [0, 100]]);
    expect(replies[0]!.lots).toEqual([[expect.stringMatching(/^\d{13}\|$/), 100]]);
    expect(replies[1]!.lots).toBeNull();
    await expectReconciledWith(gw, s.biz);
    expect(await rebuilt(async () => [await walletOf(gw, s.biz.admin_key, s.contact_id), await lotsOf(s.contact_id)])).toEqual([{ currency: 'EUR', open: 0, commerce: 0, pools: [], expiring: [] }, {}]);
  });

  it('an award still valid stays in the commerce balance, with no expiry', async () => {
    const s = await shop(gw, testCard(881_000_002), [{ name: '10% back, a fortnight', goal: 'spend', award: { percent: 10 }, validity_days: 14 }]);
    const p = await createProcessor(gw, s.biz);
    const occurred_at = new Date(Date.now() - 10 * day_ms).toISOString();
    const data = { transaction_id: transactionId(), card: { number: s.card }, amount: 1000, currency: 'EUR', merchant_code: s.biz.merchant_code, occurred_at };
    const res = await postCallback(gw, p, sale('transaction.cleared', data));
    expect(res.body.status, res.text).toBe('processed');
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toMatchObject({ commerce: 100 });
    await expectReconciledWith(gw, s.biz);
    const lots = await lotsOf(s.contact_id);
    expect(Object.values(lots)).toEqual(['100']);
    expect(await rebuilt(() => lotsOf(s.contact_id))).toEqual(lots);
  });
});

async function kindsOf(contact_id: string): Promise<string[]> {
  const rows = await gw.processor.stores.sql<{ kind: string }[]>`select kind from ledger_transactions where contact_id = ${contact_id} order by created_at, id`;
  return rows.map((r) => r.kind);
}

function lotsOf(contact_id: string): Promise<Record<string, string>> {
  return gw.processor.stores.redis.hGetAll(lotsKey(gw.processor.contacts.shardOf(contact_id), contact_id));
}

/**
 * `read` before and after `npm run rebuild` of the test's own Redis (test/rebuilt.ts): answers
 * what it read after, and checks it read the same before.
 */
async function rebuilt<T>(read: () => Promise<T>): Promise<T> {
  const before = await read();
  gw = await rebuiltGateway(gw, stores, { expiry_sweep_ms: 3_600_000 });
  const after = await read();
  expect(after).toEqual(before);
  return after;
}
