// API.md, sentence by sentence: the defaults, bounds and rules no other test checked. Each block
// quotes its sentence; the gateway held all of them when these were written.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../gateway/config.ts';
import { createCardContact, type CardContact } from './card-contact.ts';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';
import { expectProblem, expectValidation, unique, walletOf } from './contract-util.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seed = 9_420_000;

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
});
afterAll(async () => {
  await gw?.close();
});

const customer = (): Promise<CardContact> => createCardContact(gw, biz, ++seed);

/** A customer with `open` in the open balance: a purchase awarding 10%, then a redemption of it all. */
async function funded(open: number): Promise<{ id: string; card: string; wallet_code: string }> {
  const c = await customer();
  const cim = { type: 'card', value: c.card };
  expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: unique('f'), cim, amount: open * 10, currency: 'EUR' })).status).toBe(201);
  expect((await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: unique('fr'), cim })).status).toBe(201);
  return c;
}

// "`PORT` (HTTP + WebSocket, default 8080), `ISO8583_PORT` (TCP, default 8583)"
describe('the environment', () => {
  it('PORT defaults to 8080 and ISO8583_PORT to 8583', () => {
    const { PORT, ISO8583_PORT } = process.env;
    delete process.env.PORT;
    delete process.env.ISO8583_PORT;
    try {
      expect(configFromEnv()).toMatchObject({ port: 8080, iso8583_port: 8583 });
    } finally {
      if (PORT !== undefined) process.env.PORT = PORT;
      if (ISO8583_PORT !== undefined) process.env.ISO8583_PORT = ISO8583_PORT;
    }
  });
});

// "`POST /v1/merchants` `{name, code, contribution_fee_percent?: 0..100, settle_on?: "award"|"spend"}`
// → 201 `{id, ...}`. `code` is the card-acceptor id (ISO 8583 DE42, up to 15 chars)"
describe('merchants', () => {
  it('a code of 15 characters is taken, 16 is 400; the fee takes 0 and 100; settle_on defaults to award', async () => {
    const b = await createBusiness(gw);
    const m15 = await call(gw, 'POST', '/v1/merchants', b.admin_key, { name: 'M', code: 'A'.repeat(15), contribution_fee_percent: 0 });
    expect(m15.status, m15.text).toBe(201);
    expect(m15.body).toMatchObject({ code: 'A'.repeat(15), contribution_fee_percent: 0, settle_on: 'award' });
    expectValidation(await call(gw, 'POST', '/v1/merchants', b.admin_key, { name: 'M', code: 'B'.repeat(16) }), 'code');
    const m100 = await call(gw, 'POST', '/v1/merchants', b.admin_key, { name: 'M', code: 'FULLFEE', contribution_fee_percent: 100, settle_on: 'spend' });
    expect(m100.status, m100.text).toBe(201);
    expect(m100.body).toMatchObject({ contribution_fee_percent: 100, settle_on: 'spend' });
    expectValidation(await call(gw, 'POST', '/v1/merchants', b.admin_key, { name: 'M', code: 'BADSETTLE', settle_on: 'clearing' }), 'settle_on');
  });
});

// "`POST /v1/terminals` `{venue_id, code}` … `code` is the terminal id (ISO 8583 DE41, 8 chars)"
describe('terminals', () => {
  it('a code of 8 characters is taken, 9 is 400', async () => {
    const b = await createBusiness(gw);
    const t = await call(gw, 'POST', '/v1/terminals', b.admin_key, { venue_id: b.venue_id, code: 'T0000008' });
    expect(t.status, t.text).toBe(201);
    expectValidation(await call(gw, 'POST', '/v1/terminals', b.admin_key, { venue_id: b.venue_id, code: 'T00000009' }), 'code');
  });
});

// "CIM types: `card` (PAN, 12–19 digits, Luhn-valid)"
describe('card CIMs', () => {
  const luhn = (partial: string): string => {
    let sum = 0;
    for (let i = partial.length - 1, double = true; i >= 0; i--, double = !double) {
      let d = partial.charCodeAt(i) - 48;
      if (double && (d *= 2) > 9) d -= 9;
      sum += d;
    }
    return partial + String((10 - (sum % 10)) % 10);
  };
  it('12 and 19 digits are cards; 11 and 20 are 400 on the CIM', async () => {
    for (const digits of [12, 19]) {
      const card = luhn(`6${String(++seed).padStart(digits - 2, '0')}`);
      const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
      expect(c.status, `${digits} digits: ${c.text}`).toBe(201);
      expect(c.body.cims[0].masked.endsWith(card.slice(-4))).toBe(true);
    }
    for (const digits of [11, 20]) {
      const card = luhn(`6${String(++seed).padStart(digits - 2, '0')}`);
      expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] }), 'cims.0.value');
    }
  });
});

// "`POST /v1/contacts/{id}/spend-otp` `{amount, ttl_seconds?: 30..900, default 300}` → 201 `{otp:
// "6 digits", amount, expires_at}`."
describe('spend OTPs', () => {
  it('live 300 s by default; 30 and 900 are taken, 29 and 901 are 400', async () => {
    const c = await customer();
    const path = `/v1/contacts/${c.id}/spend-otp`;
    const before = Date.now();
    const otp = await call(gw, 'POST', path, biz.admin_key, { amount: 500 });
    expect(otp.status, otp.text).toBe(201);
    expect(otp.body.otp).toMatch(/^\d{6}$/);
    expect(otp.body.amount).toBe(500);
    const ttl_ms = Date.parse(otp.body.expires_at) - before;
    expect(ttl_ms).toBeGreaterThanOrEqual(299_000);
    expect(ttl_ms).toBeLessThanOrEqual(302_000);
    for (const ttl_seconds of [30, 900]) {
      const at = Date.now();
      const r = await call(gw, 'POST', path, biz.admin_key, { amount: 500, ttl_seconds });
      expect(r.status, r.text).toBe(201);
      expect(Math.abs(Date.parse(r.body.expires_at) - at - ttl_seconds * 1000)).toBeLessThanOrEqual(2_000);
    }
    for (const ttl_seconds of [29, 901, 60.5]) expectValidation(await call(gw, 'POST', path, biz.admin_key, { amount: 500, ttl_seconds }), 'ttl_seconds');
  });
});

// "`POST /v1/schemes/{id}/codes` `{count}` → `{codes}`"; "`codes`: joining needs a one-time code"
describe('sign-up codes', () => {
  it('count codes are issued; joining without one is 422 signup_not_allowed', async () => {
    const s = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Codes', signup: 'codes' });
    expect(s.status, s.text).toBe(201);
    const issued = await call(gw, 'POST', `/v1/schemes/${s.body.id}/codes`, biz.admin_key, { count: 5 });
    expect(issued.body.codes).toHaveLength(5);
    expect(new Set(issued.body.codes).size).toBe(5);
    expectValidation(await call(gw, 'POST', `/v1/schemes/${s.body.id}/codes`, biz.admin_key, { count: 0 }), 'count');
    const c = await customer();
    expectProblem(await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: c.id }), 422, 'signup_not_allowed');
    const joined = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: c.id, code: issued.body.codes[0] });
    expect(joined.status, joined.text).toBe(201);
  });
});

// "Body of every call includes `reference` (string, 1–64)."
describe('references', () => {
  it('64 characters are a reference on every POS call', async () => {
    const c = await funded(100);
    const ref = (p: string) => p.padEnd(64, 'x');
    const cim = { type: 'card', value: c.card };
    const calls: [string, Record<string, unknown>][] = [
      ['/v1/purchases', { reference: ref('p'), cim, amount: 1000, currency: 'EUR' }],
      ['/v1/redemptions', { reference: ref('d'), cim, amount: 10 }],
      ['/v1/spends', { reference: ref('s'), amount: 10, currency: 'EUR', wallet_code: c.wallet_code }],
      ['/v1/refunds', { reference: ref('f'), original_reference: ref('p'), amount: 100 }],
      ['/v1/reversals', { reference: ref('v'), original_reference: ref('s') }],
    ];
    for (const [path, body] of calls) {
      const r = await call(gw, 'POST', path, biz.terminal_key, body);
      expect(r.status, `${path}: ${r.text}`).toBe(201);
      expect(r.body.reference).toBe(body.reference);
    }
    for (const [path, body] of calls) expectValidation(await call(gw, 'POST', path, biz.terminal_key, { ...body, reference: `${body.reference}y` }), 'reference');
  });
});

// "`POST /v1/spends` `{reference, amount, currency, otp? | wallet_code?}` (exactly one)"
describe('a spend names its payer once', () => {
  it('neither or both of otp and wallet_code: 400, nothing spent', async () => {
    const c = await funded(100);
    const otp = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 50 });
    const base = { amount: 10, currency: 'EUR' };
    expectValidation(await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: unique('n'), ...base }));
    expectValidation(await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: unique('b'), ...base, otp: otp.body.otp, wallet_code: c.wallet_code }));
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 100 });
  });
});

// "`POST /v1/refunds` … refunds all or part of an earlier purchase of the same terminal";
// "`POST /v1/reversals` … voids an earlier purchase, spend or redemption of the same terminal"
describe('refunds and reversals name an original of their own terminal', () => {
  it("another terminal of the business gets 404 original_not_found, and the original stands", async () => {
    const c = await customer();
    const cim = { type: 'card', value: c.card };
    const original = unique('own');
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: original, cim, amount: 2000, currency: 'EUR' })).status).toBe(201);
    const other = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: 'T0000777' });
    expect(other.status, other.text).toBe(201);
    expectProblem(await call(gw, 'POST', '/v1/refunds', other.body.api_key, { reference: unique('r'), original_reference: original, amount: 500 }), 404, 'original_not_found');
    expectProblem(await call(gw, 'POST', '/v1/reversals', other.body.api_key, { reference: unique('v'), original_reference: original }), 404, 'original_not_found');
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 0, commerce: 200 });
    // Its own terminal still may.
    const own = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: unique('r'), original_reference: original, amount: 500 });
    expect(own.status, own.text).toBe(201);
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 0, commerce: 150 });
  });
});

// "`POST /v1/redemptions` `{reference, cim, amount?}` → 201 `{id, redeemed, wallet}` … Without
// `amount`, all eligible."
describe('a redemption with an amount', () => {
  it('moves that much and leaves the rest in commerce', async () => {
    const c = await customer();
    const cim = { type: 'card', value: c.card };
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: unique('p'), cim, amount: 3000, currency: 'EUR' })).status).toBe(201);
    const r = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: unique('d'), cim, amount: 120 });
    expect(r.status, r.text).toBe(201);
    expect(r.body).toMatchObject({ redeemed: 120, wallet: { open: 120, commerce: 180 } });
    expect(typeof r.body.id).toBe('string');
  });
});
