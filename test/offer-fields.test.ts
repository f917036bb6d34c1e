// An offer's fields as API.md prints them (Rewards: the offer's JSON): every one is answered,
// an unset one as null ("scheme_id": "optional; none = promotion open to all"), so that an offer
// read back can be sent again as it is; a PATCH with null clears an optional field (and the
// engine then runs without it), while a required one stays required.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;

/** The offer's keys in the order API.md's example lists them, with the id and creation time. */
const offer_keys = ['id', 'name', 'scheme_id', 'active', 'kind', 'goal', 'award', 'conditions', 'max_award', 'limits', 'instant_redeem', 'validity_days', 'pool', 'valid_from', 'valid_to', 'created_at'];

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
});
afterAll(async () => {
  await gw?.close();
});

async function purchaseAward(amount: number): Promise<number> {
  const card = testCard(77_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `of-${seq}`, cim: { type: 'card', value: card }, amount, currency: 'EUR' });
  expect(p.status, p.text).toBe(201);
  return (p.body.awards as { amount: number }[]).reduce((s, a) => s + a.amount, 0);
}

describe('an offer’s fields', () => {
  it('answers every field of the page’s example, an unset one as null, from POST, GET, PATCH and the list', async () => {
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'plain', goal: 'spend', award: { percent: 1 } });
    expect(o.status, o.text).toBe(201);
    expect(Object.keys(o.body)).toEqual(offer_keys);
    expect(o.body).toMatchObject({ scheme_id: null, active: true, kind: 'cashback', conditions: {}, max_award: null, limits: null, instant_redeem: false, validity_days: null, pool: null, valid_from: null, valid_to: null });
    const got = await call(gw, 'GET', `/v1/offers/${o.body.id}`, biz.admin_key);
    expect(got.body).toEqual(o.body);
    const listed = await call(gw, 'GET', '/v1/offers', biz.admin_key);
    expect(listed.body.data.find((x: { id: string }) => x.id === o.body.id)).toEqual(o.body);
    const patched = await call(gw, 'PATCH', `/v1/offers/${o.body.id}`, biz.admin_key, { active: false });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toEqual({ ...o.body, active: false });
  });

  it('takes an offer read back, nulls and all, as a new offer', async () => {
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'copied', goal: 'spend', award: { fixed: 10 }, active: false });
    const { id: _id, created_at: _at, ...fields } = o.body;
    const copy = await call(gw, 'POST', '/v1/offers', biz.admin_key, fields);
    expect(copy.status, copy.text).toBe(201);
    expect({ ...copy.body, id: o.body.id, created_at: o.body.created_at }).toEqual(o.body);
  });

  it('clears an optional field patched to null, and the engine awards without it', async () => {
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, {
      name: 'capped', goal: 'spend', award: { percent: 5 }, max_award: 2_000, validity_days: 30, pool: 'p1', valid_to: '2099-01-01T00:00:00Z', limits: { per_contact: { count: 5, period: 'day' } },
    });
    expect(o.status, o.text).toBe(201);
    expect(await purchaseAward(100_000)).toBe(2_000);
    const cleared = await call(gw, 'PATCH', `/v1/offers/${o.body.id}`, biz.admin_key, { max_award: null, validity_days: null, pool: null, valid_to: null, limits: null });
    expect(cleared.status, cleared.text).toBe(200);
    expect(cleared.body).toMatchObject({ max_award: null, validity_days: null, pool: null, valid_to: null, limits: null, award: { percent: 5 } });
    expect((await call(gw, 'GET', `/v1/offers/${o.body.id}`, biz.admin_key)).body).toEqual(cleared.body);
    expect(await purchaseAward(100_000)).toBe(5_000);
    // Off again, so that the other tests' purchases earn only their own offers.
    await call(gw, 'PATCH', `/v1/offers/${o.body.id}`, biz.admin_key, { active: false });
  });

  it('refuses null for a field an offer must have (400 on it), changing nothing', async () => {
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'kept', goal: 'spend', award: { fixed: 1 }, active: false });
    for (const field of ['name', 'goal', 'award', 'active']) {
      const r = await call(gw, 'PATCH', `/v1/offers/${o.body.id}`, biz.admin_key, { [field]: null });
      expect([r.status, r.body.code], field).toEqual([400, 'validation_failed']);
      expect(r.body.errors.map((e: { path: string }) => e.path), field).toContain(field);
    }
    expect((await call(gw, 'GET', `/v1/offers/${o.body.id}`, biz.admin_key)).body).toEqual(o.body);
  });

  it('trims a pool, and refuses one on an instant_redeem award, which lands in the open balance (a redemptions probe)', async () => {
    const trimmed = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'pooled', goal: 'spend', award: { fixed: 10 }, pool: ` ${biz.merchant_code} ` });
    expect([trimmed.status, trimmed.body.pool], trimmed.text).toEqual([201, biz.merchant_code]);
    const both = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'both', goal: 'spend', award: { fixed: 10 }, pool: biz.merchant_code, instant_redeem: true });
    expect([both.status, both.body.code, both.body.errors?.[0]?.path], both.text).toEqual([400, 'validation_failed', 'pool']);
    const patched = await call(gw, 'PATCH', `/v1/offers/${trimmed.body.id}`, biz.admin_key, { instant_redeem: true });
    expect([patched.status, patched.body.errors?.[0]?.path], patched.text).toEqual([400, 'pool']);
    // Clearing the pool with it is taken.
    const cleared = await call(gw, 'PATCH', `/v1/offers/${trimmed.body.id}`, biz.admin_key, { instant_redeem: true, pool: null });
    expect([cleared.status, cleared.body.pool, cleared.body.instant_redeem], cleared.text).toEqual([200, null, true]);
    expect((await call(gw, 'PATCH', `/v1/offers/${trimmed.body.id}`, biz.admin_key, { active: false })).status).toBe(200);
  });

  it('refuses a pool on an instant discount, which lands in no balance (an offers probe)', async () => {
    const discount = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'd', kind: 'instant_discount', goal: 'spend', award: { fixed: 100 }, pool: 'vouchers' });
    expect([discount.status, discount.body.errors?.[0]?.path], discount.text).toEqual([400, 'pool']);
    const pooled = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'p', goal: 'spend', award: { fixed: 10 }, pool: 'vouchers' });
    expect(pooled.status, pooled.text).toBe(201);
    const patched = await call(gw, 'PATCH', `/v1/offers/${pooled.body.id}`, biz.admin_key, { kind: 'instant_discount' });
    expect([patched.status, patched.body.errors?.[0]?.path], patched.text).toEqual([400, 'pool']);
    expect((await call(gw, 'PATCH', `/v1/offers/${pooled.body.id}`, biz.admin_key, { active: false })).status).toBe(200);
  });

  it('refuses a field it does not know in conditions and limits, where a misspelt one dropped would widen the offer (an offers probe)', async () => {
    const bodies = [
      { conditions: { min_amout: 100_000 } },
      { conditions: { products: { sku: ['A'] } } },
      { limits: { budget: 1, per_contact: { count: 1, period: 'day', perod: 'x' } } },
      { limits: { budjet: 1 } },
    ];
    for (const extra of bodies) {
      const r = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'typo', goal: 'spend', award: { fixed: 100 }, ...extra });
      expect([r.status, r.body.code], `${JSON.stringify(extra)} ${r.text}`).toEqual([400, 'validation_failed']);
    }
    // An offer read back, id and created_at included, is still taken as a new one.
    const made = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'ok', goal: 'spend', award: { fixed: 1 }, conditions: { min_amount: 10, products: { skus: ['A'] } }, limits: { budget: 5, per_contact: { count: 1, period: 'day' } }, active: false });
    expect(made.status, made.text).toBe(201);
    const again = await call(gw, 'POST', '/v1/offers', biz.admin_key, made.body);
    expect(again.status, again.text).toBe(201);
  });
});
