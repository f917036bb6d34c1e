// Contract: a key of one business never sees or touches another business's data. Its ids answer
// 404 exactly as ids that do not exist, and its CIMs identify nobody elsewhere.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { expectProblem, walletOf } from './contract-util.ts';

let gw: TestGateway;
let a: BusinessFixture;
let b: BusinessFixture;
const card = testCard(7001);
const a_ids = { contact: '', offer: '', transaction: '', wallet_code: '', contact_code: '' };

beforeAll(async () => {
  gw = await startTestGateway();
  [a, b] = await Promise.all([createBusiness(gw), createBusiness(gw)]);
  const c = await call(gw, 'POST', '/v1/contacts', a.admin_key, { first_name: 'Ana', tags: ['vip'], cims: [{ type: 'card', value: card }, { type: 'email', value: 'ana@iso.example' }] });
  expect(c.status, c.text).toBe(201);
  const o = await call(gw, 'POST', '/v1/offers', a.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } });
  expect(o.status, o.text).toBe(201);
  const p = await call(gw, 'POST', '/v1/purchases', a.terminal_key, { reference: 'iso-1', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
  expect(p.status, p.text).toBe(201);
  Object.assign(a_ids, { contact: c.body.id, offer: o.body.id, transaction: p.body.id, wallet_code: c.body.wallet_code, contact_code: c.body.code });
});
afterAll(async () => {
  await gw.close();
});

/** B's answer for A's id, next to B's answer for an id that exists nowhere: both the same 404. */
async function expectSameAsMissing(method: string, path: (id: string) => string, a_id: string, missing_id: string, body?: unknown) {
  const foreign = await call(gw, method, path(a_id), b.admin_key, body);
  const missing = await call(gw, method, path(missing_id), b.admin_key, body);
  expectProblem(foreign, 404, 'not_found');
  expectProblem(missing, 404, 'not_found');
  expect({ ...foreign.body, detail: undefined }).toEqual({ ...missing.body, detail: undefined });
  // The detail may name the id asked for, and nothing else about it.
  expect(foreign.body.detail.replace(a_id, 'ID')).toBe(missing.body.detail.replace(missing_id, 'ID'));
}

describe('ids of another business answer 404 like ids that do not exist', () => {
  it('contacts: GET, PATCH, POST cims, GET wallet', async () => {
    await expectSameAsMissing('GET', (id) => `/v1/contacts/${id}`, a_ids.contact, 'con_doesnotexist00000000');
    await expectSameAsMissing('PATCH', (id) => `/v1/contacts/${id}`, a_ids.contact, 'con_doesnotexist00000000', { tags: ['hacked'] });
    await expectSameAsMissing('POST', (id) => `/v1/contacts/${id}/cims`, a_ids.contact, 'con_doesnotexist00000000', { type: 'loyalty_id', value: 'L-HACK' });
    await expectSameAsMissing('GET', (id) => `/v1/contacts/${id}/wallet`, a_ids.contact, 'con_doesnotexist00000000');
    // Nothing B did reached A's contact.
    const mine = await call(gw, 'GET', `/v1/contacts/${a_ids.contact}`, a.admin_key);
    expect(mine.body.tags).toEqual(['vip']);
    expect(mine.body.cims.map((c: { type: string }) => c.type).sort()).toEqual(['card', 'email']);
    // And the loyalty id B tried to attach is free in A.
    const add = await call(gw, 'POST', `/v1/contacts/${a_ids.contact}/cims`, a.admin_key, { type: 'loyalty_id', value: 'L-HACK' });
    expect(add.status, add.text).toBe(201);
  });

  it('offers: GET, PATCH, and the list', async () => {
    await expectSameAsMissing('GET', (id) => `/v1/offers/${id}`, a_ids.offer, 'off_doesnotexist00000000');
    await expectSameAsMissing('PATCH', (id) => `/v1/offers/${id}`, a_ids.offer, 'off_doesnotexist00000000', { active: false });
    const list = await call(gw, 'GET', '/v1/offers', b.admin_key);
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.body)).not.toContain(a_ids.offer);
    const offer = await call(gw, 'GET', `/v1/offers/${a_ids.offer}`, a.admin_key);
    expect(offer.body.active).toBe(true);
  });

  it('transactions, while pending and once recorded', async () => {
    await expectSameAsMissing('GET', (id) => `/v1/transactions/${id}`, a_ids.transaction, 'txn_doesnotexist00000000');
    await eventually('recorded', async () => (await call(gw, 'GET', `/v1/transactions/${a_ids.transaction}`, a.admin_key)).body.ledger === 'recorded');
    await expectSameAsMissing('GET', (id) => `/v1/transactions/${id}`, a_ids.transaction, 'txn_doesnotexist00000000');
  });

  it('merchants and venues', async () => {
    const foreign_m = await call(gw, 'POST', '/v1/venues', b.admin_key, { name: 'x', merchant_id: a.merchant_id });
    const missing_m = await call(gw, 'POST', '/v1/venues', b.admin_key, { name: 'x', merchant_id: 'mer_doesnotexist00000000' });
    expectProblem(foreign_m, 404, 'not_found');
    expectProblem(missing_m, 404, 'not_found');
    expect(foreign_m.body.title).toBe(missing_m.body.title);
    const foreign_v = await call(gw, 'POST', '/v1/terminals', b.admin_key, { venue_id: a.venue_id, code: 'HACK0001' });
    const missing_v = await call(gw, 'POST', '/v1/terminals', b.admin_key, { venue_id: 'ven_doesnotexist00000000', code: 'HACK0001' });
    expectProblem(foreign_v, 404, 'not_found');
    expectProblem(missing_v, 404, 'not_found');
    expect(foreign_v.body.title).toBe(missing_v.body.title);
  });

  it('ids that are not ids at all: empty-ish, odd characters, very long', async () => {
    for (const id of ['%20', '..', 'con_%00', encodeURIComponent("' or 1=1 --"), 'x'.repeat(5000)]) {
      expectProblem(await call(gw, 'GET', `/v1/contacts/${id}`, b.admin_key), 404, 'not_found');
      expectProblem(await call(gw, 'GET', `/v1/transactions/${id}`, b.admin_key), 404, 'not_found');
    }
  });
});

describe("CIMs of another business's contacts identify nobody", () => {
  it("a purchase at B's terminal with A's CIMs is contact_not_found and credits nobody", async () => {
    const before = await walletOf(gw, a.admin_key, a_ids.contact);
    const cims = [
      { type: 'card', value: card },
      { type: 'email', value: 'ana@iso.example' },
      { type: 'wallet_code', value: a_ids.wallet_code },
      { type: 'contact_code', value: a_ids.contact_code },
    ];
    for (const [i, cim] of cims.entries()) {
      const res = await call(gw, 'POST', '/v1/purchases', b.terminal_key, { reference: `iso-b-${i}`, cim, amount: 5000, currency: 'EUR' });
      expectProblem(res, 404, 'contact_not_found');
    }
    expect(await walletOf(gw, a.admin_key, a_ids.contact)).toEqual(before);
  });

  it("GET /v1/wallets by B's keys for A's CIM is 404", async () => {
    for (const key of [b.terminal_key, b.admin_key]) {
      const res = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, key);
      expectProblem(res, 404, 'contact_not_found');
      const by_code = await call(gw, 'GET', `/v1/wallets?cim_type=wallet_code&cim_value=${a_ids.wallet_code}`, key);
      expectProblem(by_code, 404, 'contact_not_found');
    }
    const mine = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, a.terminal_key);
    expect(mine.status).toBe(200);
    expect(mine.body.contact_id).toBe(a_ids.contact);
  });

  it('the same card may identify one contact in each business, each seeing only its own', async () => {
    const mine = await call(gw, 'POST', '/v1/contacts', b.admin_key, { first_name: 'Bea', cims: [{ type: 'card', value: card }] });
    expect(mine.status, mine.text).toBe(201);
    expect(mine.body.id).not.toBe(a_ids.contact);
    const p = await call(gw, 'POST', '/v1/purchases', b.terminal_key, { reference: 'iso-b-own', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    expect(p.body.contact_id).toBe(mine.body.id);
    // B has no offers: nothing awarded, and A's 10% offer did not apply.
    expect(p.body.awards).toEqual([]);
    const w = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, b.terminal_key);
    expect(w.body.contact_id).toBe(mine.body.id);
  });
});
