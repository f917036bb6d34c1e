// Contract: a key of one business never sees or touches another business's data. Its ids answer
// 404 exactly as ids that do not exist, and its CIMs identify nobody elsewhere.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { expectProblem, walletOf } from './contract-util.ts';
import { createProcessor, postCallback, refunded, reversed, sale, transactionId } from './callback-helpers.ts';

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

describe("the rest of the admin surface: another business's ids answer 404 and change nothing", () => {
  it('contacts: spend-otp, wallet-code, statement; A\'s wallet code still names A\'s contact', async () => {
    await expectSameAsMissing('POST', (id) => `/v1/contacts/${id}/spend-otp`, a_ids.contact, 'con_doesnotexist00000000', { amount: 100 });
    await expectSameAsMissing('POST', (id) => `/v1/contacts/${id}/wallet-code`, a_ids.contact, 'con_doesnotexist00000000');
    await expectSameAsMissing('GET', (id) => `/v1/contacts/${id}/statement`, a_ids.contact, 'con_doesnotexist00000000');
    const w = await call(gw, 'GET', `/v1/wallets?cim_type=wallet_code&cim_value=${a_ids.wallet_code}`, a.admin_key);
    expect(w.status, w.text).toBe(200);
    expect(w.body.contact_id).toBe(a_ids.contact);
  });

  it("settlements of A's merchant, A's terminal's rotate-key (A's key keeps working), A's processor's rotate-secret", async () => {
    await expectSameAsMissing('GET', (id) => `/v1/settlements?merchant_id=${id}`, a.merchant_id, 'mer_doesnotexist00000000');
    await expectSameAsMissing('POST', (id) => `/v1/terminals/${id}/rotate-key`, a.terminal_id, 'ter_doesnotexist00000000');
    const p = await call(gw, 'POST', '/v1/purchases', a.terminal_key, { reference: 'iso-after-rotate', cim: { type: 'card', value: card }, amount: 100, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    const processor = await createProcessor(gw, a);
    await expectSameAsMissing('POST', (id) => `/v1/processors/${id}/rotate-secret`, processor.id, 'prc_doesnotexist00000000');
  });

  it("schemes: codes of A's scheme, and a signup of A's contact to B's own scheme", async () => {
    const scheme = await call(gw, 'POST', '/v1/schemes', a.admin_key, { name: 'Club', signup: 'codes' });
    expect(scheme.status, scheme.text).toBe(201);
    await expectSameAsMissing('POST', (id) => `/v1/schemes/${id}/codes`, scheme.body.id, 'sch_doesnotexist00000000', { count: 1 });
    const own = await call(gw, 'POST', '/v1/schemes', b.admin_key, { name: 'Open', signup: 'self' });
    const foreign = await call(gw, 'POST', `/v1/schemes/${own.body.id}/signups`, b.admin_key, { contact_id: a_ids.contact });
    const missing = await call(gw, 'POST', `/v1/schemes/${own.body.id}/signups`, b.admin_key, { contact_id: 'con_doesnotexist00000000' });
    expectProblem(foreign, 404, 'not_found');
    expect(foreign.body.detail.replace(a_ids.contact, 'ID')).toBe(missing.body.detail.replace('con_doesnotexist00000000', 'ID'));
  });
});

describe("a processor of one business never reaches another's transactions", () => {
  it("B's processor naming A's merchant code, or reversing and refunding A's processor's transaction, is ignored and changes nothing", async () => {
    const pa = await createProcessor(gw, a, 'authorization');
    const pb = await createProcessor(gw, b, 'authorization');
    const booked = transactionId();
    const made = await postCallback(gw, pa, sale('transaction.authorized', { transaction_id: booked, card: { number: card }, amount: 2000, currency: 'EUR', merchant_code: a.merchant_code }));
    expect(made.body.status, made.text).toBe('processed');
    // B has no merchant with A's code (the fixtures' codes differ).
    const at_a = await postCallback(gw, pb, sale('transaction.authorized', { transaction_id: transactionId(), card: { number: card }, amount: 2000, currency: 'EUR', merchant_code: a.merchant_code }));
    expect(at_a.body).toMatchObject({ status: 'ignored', code: 'not_found' });
    const before = await walletOf(gw, a.admin_key, a_ids.contact);
    const rev = await postCallback(gw, pb, reversed(booked));
    expect(rev.body).toMatchObject({ status: 'ignored', code: 'original_not_found' });
    const ref = await postCallback(gw, pb, refunded({ transaction_id: transactionId(), original_transaction_id: booked, amount: 100, currency: 'EUR', merchant_code: b.merchant_code }));
    expect(ref.body).toMatchObject({ status: 'ignored', code: 'original_not_found' });
    expect(await walletOf(gw, a.admin_key, a_ids.contact)).toEqual(before);
    const txn = await call(gw, 'GET', `/v1/transactions/${made.body.transaction_id}`, a.admin_key);
    expect(txn.status, txn.text).toBe(200);
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
