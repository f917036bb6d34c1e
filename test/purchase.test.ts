import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5% back', goal: 'spend', kind: 'cashback', award: { percent: 5 } });
  expect(o.status).toBe(201);
});
afterAll(async () => {
  await gw.close();
});

describe('purchase smoke', () => {
  it('awards 5% and reaches the ledger', async () => {
    const card = testCard(1);
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Ana', cims: [{ type: 'card', value: card }] });
    expect(c.status).toBe(201);
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'p-1', cim: { type: 'card', value: card }, amount: 2000, currency: 'EUR' });
    expect(p.status).toBe(201);
    expect(p.body.awards[0].amount).toBe(100);
    expect(p.body.wallet).toEqual({ open: 0, commerce: 100 });
    const t = await eventually('recorded', async () => {
      const r = await call(gw, 'GET', `/v1/transactions/${p.body.id}`, biz.admin_key);
      return r.body.ledger === 'recorded' ? r : undefined;
    });
    // The award, and the merchant's 10% contribution fee on it.
    expect(t.body.postings).toHaveLength(2);
  });
});
