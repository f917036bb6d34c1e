// PATCH /v1/offers/{id} merges `conditions` and `limits` into the offer's key by key, as Stripe
// merges a nested hash (API.md's PATCH is silent): replaced whole, a patch of `limits.budget`
// dropped the offer's per-contact cap, and the awards it had capped went out again (an API probe,
// 2026-12-06). null removes a key; `limits: null` removes them all.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let card: string;
let n = 0;

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
  card = testCard(9_400_001);
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
});
afterAll(async () => {
  await gw?.close();
});

const buy = async (amount = 1_000): Promise<number[]> => {
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `op-${++n}`, cim: { type: 'card', value: card }, amount, currency: 'EUR' });
  expect(p.status, p.text).toBe(201);
  return p.body.awards.map((a: { amount: number }) => a.amount);
};
const patch = (id: string, body: unknown) => call(gw, 'PATCH', `/v1/offers/${id}`, biz.admin_key, body);

describe('PATCH /v1/offers/{id}', () => {
  it('a budget raised keeps the per-contact cap; a condition added keeps the others; null removes one', async () => {
    const created = await call(gw, 'POST', '/v1/offers', biz.admin_key, {
      name: 'capped', goal: 'spend', award: { fixed: 41 }, conditions: { min_amount: 500, tags: [] },
      limits: { budget: 1_000, per_contact: { count: 1, period: 'day' } },
    });
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    expect([await buy(), await buy()]).toEqual([[41], []]);
    const raised = await patch(id, { limits: { budget: 2_000 } });
    expect(raised.status, raised.text).toBe(200);
    expect(raised.body.limits).toEqual({ budget: 2_000, per_contact: { count: 1, period: 'day' } });
    expect(await buy()).toEqual([]); // still capped today
    const more = await patch(id, { conditions: { days_of_week: [1, 2, 3, 4, 5, 6, 7] } });
    expect(more.body.conditions).toMatchObject({ min_amount: 500, days_of_week: [1, 2, 3, 4, 5, 6, 7] });
    // null removes the cap alone; the budget stays.
    const uncapped = await patch(id, { limits: { per_contact: null } });
    expect(uncapped.body.limits).toEqual({ budget: 2_000 });
    expect(await buy()).toEqual([41]);
    expect(await buy(499)).toEqual([]); // min_amount kept
    const no_minimum = await patch(id, { conditions: { min_amount: null } });
    expect(no_minimum.body.conditions.min_amount).toBeUndefined();
    expect(await buy(499)).toEqual([41]);
    // And what a GET reads back is what the PATCH answered.
    const read = (await call(gw, 'GET', '/v1/offers', biz.admin_key)).body.data.find((o: { id: string }) => o.id === id);
    expect(read).toMatchObject({ limits: { budget: 2_000 }, conditions: { days_of_week: [1, 2, 3, 4, 5, 6, 7] } });
    expect(read.conditions.min_amount).toBeUndefined();
    // The last limit removed is no limits (null, not {}); limits: null removes them all.
    expect((await patch(id, { limits: { budget: null } })).body.limits).toBeNull(); // the answer names every field: null where none
    expect((await patch(id, { limits: { budget: 500 } })).body.limits).toEqual({ budget: 500 });
    expect((await patch(id, { limits: null })).body.limits).toBeNull();
  });

  it('a misspelt key inside conditions or limits is still 400, nothing changed', async () => {
    const created = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'strict', goal: 'spend', award: { fixed: 1 }, limits: { budget: 10 } });
    for (const body of [{ conditions: { min_amout: 5 } }, { limits: { budgte: 5 } }]) {
      const bad = await patch(created.body.id, body);
      expect([bad.status, bad.body.code], bad.text).toEqual([400, 'validation_failed']);
    }
    const read = (await call(gw, 'GET', '/v1/offers', biz.admin_key)).body.data.find((o: { id: string }) => o.id === created.body.id);
    expect(read.limits).toEqual({ budget: 10 });
  });
});
