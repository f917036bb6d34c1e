// API.md: "`discount` is the sum of instant discounts; amount_due = amount - discount -
// paid_from_wallet". Stacked instant discounts never take off more than the price (nor more than
// what the wallet does not pay), and the purchase capped the total: but each award kept its full
// amount in the reply (and in the journal, the webhooks and the offer's budget), so the awards
// listed more off than `discount` said. An instant discount is now made for what it takes off:
// trimmed to what is left of the price, and not made at all (no cap counted, its budget given
// back) when nothing is; the quote shows the same.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetKey } from '../processor/hot/keys.ts';
import { createCardContact, type CardContact } from './card-contact.ts';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let seq = 0;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

interface AwardView {
  readonly offer_id: string;
  readonly kind: string;
  readonly amount: number;
}

const discounts = (awards: readonly AwardView[]) => awards.filter((a) => a.kind === 'instant_discount').reduce((s, a) => s + a.amount, 0);

async function offer(biz: BusinessFixture, body: Record<string, unknown>): Promise<string> {
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: `d${++seq}`, ...body });
  expect(o.status, o.text).toBe(201);
  return o.body.id;
}

const contact = (biz: BusinessFixture): Promise<CardContact> => createCardContact(gw, biz, 9_300_000 + ++seq);

describe('stacked instant discounts', () => {
  it('are listed for what they take off: their sum is the discount, in the quote too', async () => {
    const biz = await createBusiness(gw);
    const first = await offer(biz, { goal: 'spend', kind: 'instant_discount', award: { fixed: 800 } });
    const second = await offer(biz, { goal: 'spend', kind: 'instant_discount', award: { fixed: 700 }, limits: { budget: 5_000 } });
    const third = await offer(biz, { goal: 'spend', kind: 'instant_discount', award: { fixed: 100 }, limits: { per_contact: { count: 1, period: 'lifetime' } } });
    const cashback = await offer(biz, { goal: 'spend', award: { fixed: 50 } });
    const c = await contact(biz);
    const body = { reference: `ds-${++seq}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' };
    const q = await call(gw, 'POST', '/v1/purchases/quote', biz.terminal_key, body);
    expect(q.status, q.text).toBe(200);
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    expect(p.status, p.text).toBe(201);
    expect(p.body.discount).toBe(1000);
    expect(p.body.amount_due).toBe(0);
    expect(p.body.awards.map((a: AwardView) => [a.offer_id, a.amount])).toEqual([[first, 800], [second, 200], [cashback, 50]]);
    expect(discounts(p.body.awards)).toBe(p.body.discount);
    expect(q.body.awards).toEqual(p.body.awards);
    expect(q.body.discount).toBe(p.body.discount);
    // The second offer's budget counts the 200 it gave; the third, which gave nothing, used no cap.
    expect(await gw.processor.stores.redis.get(budgetKey(second))).toBe('200');
    const small = { reference: `ds-${++seq}`, cim: { type: 'card', value: c.card }, amount: 2000, currency: 'EUR' };
    const p2 = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, small);
    expect(p2.body.awards.map((a: AwardView) => [a.offer_id, a.amount])).toEqual([[first, 800], [second, 700], [third, 100], [cashback, 50]]);
    expect(p2.body.discount).toBe(1600);
  });

  it('a fallback discount takes off no more than what the wallet does not pay', async () => {
    const biz = await createBusiness(gw, { reward_resolution: 'best' });
    // Once: 1000 into the open balance. After it, the next best: a discount of 300.
    await offer(biz, { goal: 'spend', award: { fixed: 1000 }, instant_redeem: true, limits: { per_contact: { count: 1, period: 'lifetime' } } });
    const discount = await offer(biz, { goal: 'spend', kind: 'instant_discount', award: { fixed: 300 }, limits: { budget: 10_000 } });
    const c = await contact(biz);
    const p1 = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `ds-${++seq}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' });
    expect(p1.body.wallet.open).toBe(1000);
    // The whole price from the wallet: the evaluation's winner (the capped offer) takes nothing
    // off, so all of it may be paid; the script falls back to the discount, which has nothing left.
    const p2 = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `ds-${++seq}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', pay: { amount: 1000, wallet_code: c.wallet_code } });
    expect(p2.status, p2.text).toBe(201);
    expect(p2.body.paid_from_wallet).toBe(1000);
    expect(p2.body.discount).toBe(0);
    expect(p2.body.amount_due).toBe(0);
    expect(discounts(p2.body.awards)).toBe(p2.body.discount);
    expect(p2.body.awards).toEqual([]);
    expect(Number((await gw.processor.stores.redis.get(budgetKey(discount))) ?? 0)).toBe(0);
  });
});
