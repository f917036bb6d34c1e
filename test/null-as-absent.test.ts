// An optional field sent as null is the same as left out (a serializer writing null for what is
// unset, a venue read back and sent again): null was 400 everywhere but on offers (an API probe and
// a callbacks probe, 2026-12-06). The same request with the key left out is the same request: a
// repeat, replayed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, platform_key, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { createProcessor, postCallback, sale, transactionId, type ProcessorFixture } from './callback-helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
const card = testCard(9_500_001);

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
});
afterAll(async () => {
  await gw?.close();
});

describe('null on an optional field', () => {
  it('a contact and a venue created with nulls; the venue read back is sent again as it is', async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: null, last_name: null, email: null, phone: null, birth_date: null, tags: null, referred_by: null, cims: [{ type: 'card', value: card }] });
    expect(c.status, c.text).toBe(201);
    expect(c.body.tags).toEqual([]);
    const v = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Own', merchant_id: null, timezone: null });
    expect(v.status, v.text).toBe(201);
    expect(v.body).toMatchObject({ merchant_id: null, timezone: 'UTC' });
    const { id: _id, created_at: _created, ...read_back } = v.body;
    expect((await call(gw, 'POST', '/v1/venues', biz.admin_key, read_back)).status).toBe(201);
  });

  it('a purchase, redemption and refund with nulls; the same without the keys is their repeat', async () => {
    const cim = { type: 'card', value: card };
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'na-p', cim, amount: 1_000, currency: 'EUR', items: null, occurred_at: null, pay: null });
    expect([p.status, p.body.awards.length], p.text).toEqual([201, 1]);
    const again = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'na-p', cim, amount: 1_000, currency: 'EUR' });
    expect([again.status, again.headers.get('idempotent-replayed'), again.body.id]).toEqual([201, 'true', p.body.id]);
    const r = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: 'na-r', cim, amount: null });
    expect([r.status, r.body.redeemed], r.text).toEqual([201, 100]);
    const f = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: 'na-f', original_reference: 'na-p', amount: null, currency: null });
    expect([f.status, f.body.amount ?? f.body.refunded], f.text).toEqual([201, 1_000]);
  });

  it("an item's optional fields, a contact's spend_blocked, a spend's unused method, a reversal's amount, an offer's nested fields: null left out too (a second probe)", async () => {
    const cim = { type: 'card', value: card };
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'na-i', cim, amount: 1_000, currency: 'EUR', items: [{ sku: 'A', family: null, brand: null, type: null, quantity: 1, amount: 1_000 }] });
    expect(p.status, p.text).toBe(201);
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'B', spend_blocked: null });
    expect([c.status, c.body.spend_blocked], c.text).toEqual([201, false]);
    const wallet_code = (await call(gw, 'GET', `/v1/contacts/${c.body.id}`, biz.admin_key)).body.wallet_code as string;
    const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: 'na-s', amount: 5, currency: 'EUR', otp: null, wallet_code });
    expect([spend.status, spend.body.code], spend.text).toEqual([422, 'insufficient_funds']); // read, not 400: nothing in its wallet
    const reversal = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'na-v', original_reference: 'na-i', amount: null });
    expect(reversal.status, reversal.text).toBe(201);
    const offer = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'nulls', goal: 'spend', award: { fixed: 1 }, active: null, kind: null, instant_redeem: null, conditions: { min_amount: null, products: { skus: ['A'], brands: null } }, limits: { budget: null } });
    expect(offer.status, offer.text).toBe(201);
    expect(offer.body).toMatchObject({ active: true, kind: 'cashback', instant_redeem: false, conditions: { products: { skus: ['A'] } }, limits: null });
    expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'empty limits', goal: 'spend', award: { fixed: 1 }, limits: {} })).body.limits).toBeNull();
    // PATCH: conditions null removes them all, as limits null does.
    const cleared = await call(gw, 'PATCH', `/v1/offers/${offer.body.id}`, biz.admin_key, { conditions: null });
    expect([cleared.status, cleared.body.conditions], cleared.text).toEqual([200, {}]);
  });

  it('a processor callback with occurred_at, terminal_code and items null is processed', async () => {
    const p = await createProcessor(gw, biz);
    const res = await postCallback(gw, p, sale('transaction.cleared', { transaction_id: transactionId(), card: { number: card }, amount: 500, currency: 'EUR', merchant_code: biz.merchant_code, occurred_at: null, terminal_code: null, items: null }));
    expect(res.body, res.text).toMatchObject({ status: 'processed' });
  });

  it("the network's, the rewards', a spend OTP's, a webhook's and a callback envelope's optional fields: null is their default (the session after)", async () => {
    const b = await call(gw, 'POST', '/v1/businesses', platform_key, { name: 'Nulls', currency: 'EUR', reward_resolution: null });
    expect([b.status, b.body.reward_resolution], b.text).toEqual([201, 'all']);
    const m = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Null fees', code: 'NULLFEES', contribution_fee_percent: null, settle_on: null });
    expect([m.status, m.body.contribution_fee_percent, m.body.settle_on], m.text).toEqual([201, 0, 'award']);
    const processor = await call(gw, 'POST', '/v1/processors', biz.admin_key, { name: 'Null acquirer', award_on: null });
    expect([processor.status, processor.body.award_on], processor.text).toEqual([201, 'clearing']);
    const scheme = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Null club', signup: 'codes', email_domains: null });
    expect(scheme.status, scheme.text).toBe(201);
    const codes = await call(gw, 'POST', `/v1/schemes/${scheme.body.id}/codes`, biz.admin_key, { count: null, codes: ['NULL-CODE-1'] });
    expect(codes.status, codes.text).toBe(201);
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'N' });
    const signup = await call(gw, 'POST', `/v1/schemes/${scheme.body.id}/signups`, biz.admin_key, { contact_id: c.body.id, code: null });
    expect([signup.status, signup.body.code], signup.text).toEqual([422, 'signup_not_allowed']); // a codes scheme without a code: read, not 400
    const otp = await call(gw, 'POST', `/v1/contacts/${c.body.id}/spend-otp`, biz.admin_key, { amount: 100, ttl_seconds: null });
    expect(otp.status, otp.text).toBe(201);
    expect(Date.parse(otp.body.expires_at) - Date.now()).toBeGreaterThan(250_000); // the default 300 s
    const hook = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: 'https://example.com/nulls', events: ['*'], description: null });
    expect(hook.status, hook.text).toBe(201);
    const p: ProcessorFixture = { id: processor.body.id, secret: processor.body.signing_secret };
    const res = await postCallback(gw, p, { ...sale('transaction.cleared', { transaction_id: transactionId(), card: { number: card }, cim: null, amount: 500, currency: 'EUR', merchant_code: biz.merchant_code }), created_at: null });
    expect(res.body, res.text).toMatchObject({ status: 'processed' });
  });
});
