// API.md conformance, sections Conventions, POS transactions, Reading back and Operations: black-box
// checks of what the page says, word for word, where the gateway did otherwise.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type ApiResponse, type BusinessFixture, type TestGateway } from './helpers.ts';
import { expectProblem, walletOf } from './contract-util.ts';

let gw: TestGateway;
let seed = 9_310_000;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

async function customer(biz: BusinessFixture): Promise<{ id: string; card: string }> {
  const card = testCard(++seed);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  return { id: c.body.id, card };
}

/**
 * `body` sent twice to `path` by the business's terminal: 404 original_not_found both times, the
 * repeat replaying the first answer (API.md, Conventions). The first answer, for later repeats.
 */
async function notFoundThenReplayed(biz: BusinessFixture, path: string, body: unknown): Promise<ApiResponse> {
  const first = await call(gw, 'POST', path, biz.terminal_key, body);
  expectProblem(first, 404, 'original_not_found');
  expect(first.headers.get('idempotent-replayed')).toBeNull();
  const again = await call(gw, 'POST', path, biz.terminal_key, body);
  expectProblem(again, 404, 'original_not_found');
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.body).toEqual(first.body);
  return first;
}

// API.md, Conventions: "A repeat of the same terminal + reference + body returns the original
// status and body, with header `Idempotent-Replayed: true`, and changes nothing. Same reference
// with a different body: 409 `idempotency_conflict`." A refund naming a purchase that is not there
// was answered 404 original_not_found without taking its reference: its repeat was decided again
// (no Idempotent-Replayed), and once the purchase arrived the same refund went through (201,
// awards clawed back) instead of answering 404 again; another body under its reference was run
// instead of 409. (README: a refund's original_not_found is remembered under its reference.)
describe('a refund refused as original_not_found, repeated', () => {
  it('is 404 again with Idempotent-Replayed, even once the purchase arrived, and changes nothing', async () => {
    const biz = await createBusiness(gw);
    await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } });
    const c = await customer(biz);
    const refund = { reference: 'f-early', original_reference: 'p-late' };
    const first = await notFoundThenReplayed(biz, '/v1/refunds', refund);

    const late = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'p-late', cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' });
    expect(late.status, late.text).toBe(201);
    expect(late.body.wallet).toEqual({ open: 0, commerce: 100 });

    const after = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, refund);
    expectProblem(after, 404, 'original_not_found');
    expect(after.headers.get('idempotent-replayed')).toBe('true');
    expect(after.body).toEqual(first.body);
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 0, commerce: 100 });
  });

  it('another body under its reference is 409 idempotency_conflict and refunds nothing', async () => {
    const biz = await createBusiness(gw);
    await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } });
    const c = await customer(biz);
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'p1', cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    expectProblem(await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: 'f1', original_reference: 'typo' }), 404, 'original_not_found');
    const other = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: 'f1', original_reference: 'p1' });
    expectProblem(other, 409, 'idempotency_conflict');
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 0, commerce: 100 });
  });
});

// API.md, Conventions: "A repeat of the same terminal + reference + body returns the original
// status and body, with header `Idempotent-Replayed: true`". A reversal naming an original that is
// not there takes its reference (another body is 409) but its repeat came without the header.
describe('a reversal refused as original_not_found, repeated', () => {
  it('is 404 again with Idempotent-Replayed and the same body', async () => {
    const biz = await createBusiness(gw);
    const reversal = { reference: 'v-early', original_reference: 'never' };
    await notFoundThenReplayed(biz, '/v1/reversals', reversal);
    // Another reversal of the same missing original, under a reference of its own: a first answer.
    const second = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'v-other', original_reference: 'never' });
    expectProblem(second, 404, 'original_not_found');
    expect(second.headers.get('idempotent-replayed')).toBeNull();
  });
});

// The same sentence, for a reversal whose original reference names a request that was refused
// (no transaction to void): the reversal script refused it without remembering it, so its repeat
// was decided again and came without the header (and `npm run rebuild`, which remembers it from
// the ledger, then answered it replayed: Redis after a rebuild differed from Redis before).
describe('a reversal of a refused request, repeated', () => {
  it('is 404 again with Idempotent-Replayed and the same body', async () => {
    const biz = await createBusiness(gw);
    const c = await customer(biz);
    const declined = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'p-short', cim: { type: 'card', value: c.card }, amount: 1_000, currency: 'EUR', pay: { amount: 500, wallet_code: (await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body.wallet_code } });
    expectProblem(declined, 422, 'insufficient_funds');
    const reversal = { reference: 'v-of-declined', original_reference: 'p-short' };
    await notFoundThenReplayed(biz, '/v1/reversals', reversal);
  });
});

// API.md, Conventions: "Timestamps are RFC 3339 strings in UTC (`2026-11-24T10:15:00Z`)." GET
// /v1/settlements (and a contact's statement) echoed `from` and `to` as sent: an offset
// ("+02:00") or a lower-case "t"/"z" came back as the reply's timestamps, not in UTC.
describe('the period a report echoes', () => {
  it('is in UTC, whatever offset it was asked with', async () => {
    const biz = await createBusiness(gw);
    const c = await customer(biz);
    const from = '2026-11-01T02:00:00+02:00';
    const to = '2026-12-31t10:00:00z';
    const query = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
    const s = await call(gw, 'GET', `/v1/settlements?${query}`, biz.admin_key);
    expect(s.status, s.text).toBe(200);
    expect([s.body.from, s.body.to]).toEqual(['2026-11-01T00:00:00Z', '2026-12-31T10:00:00Z']);
    const st = await call(gw, 'GET', `/v1/contacts/${c.id}/statement?${query}`, biz.admin_key);
    expect(st.status, st.text).toBe(200);
    expect([st.body.from, st.body.to]).toEqual(['2026-11-01T00:00:00Z', '2026-12-31T10:00:00Z']);
    // A fraction of a second is kept: it is part of the bound.
    const frac = await call(gw, 'GET', `/v1/settlements?from=${encodeURIComponent('2026-11-01T00:00:00.5+01:00')}`, biz.admin_key);
    expect(frac.body.from, frac.text).toBe('2026-10-31T23:00:00.500Z');
  });
});

// API.md, Conventions: "Timestamps are RFC 3339 strings" and "Bad input never yields a 5xx and
// never changes state" (400 validation_failed). A timestamp naming no instant of the calendar, hour
// 24 or a day past its month's end (RFC 3339: time-hour 00-23, date-mday by month), was taken as
// the instant JavaScript's Date.parse rolls it over to: a purchase dated "<yesterday>T24:00:00Z"
// was approved, dated today 00:00; a settlement from "2026-02-30" ran from 2 March.
describe('a timestamp that names no date-time', () => {
  it('is 400 validation_failed as a purchase occurred_at, and the purchase is not made', async () => {
    const biz = await createBusiness(gw);
    const c = await customer(biz);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const body = { reference: 'p-24h', cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' };
    const r = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...body, occurred_at: `${yesterday}T24:00:00Z` });
    expectProblem(r, 400, 'validation_failed');
    expect(r.body.errors.map((e: { path: string }) => e.path)).toContain('occurred_at');
    const fine = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    expect(fine.status, fine.text).toBe(201);
    expect(fine.headers.get('idempotent-replayed')).toBeNull();
  });

  it('is 400 validation_failed as a settlement period bound', async () => {
    const biz = await createBusiness(gw);
    for (const q of ['from=2026-02-30T00:00:00Z', 'to=2026-04-31T00:00:00Z', 'from=2026-11-24T24:00:00Z']) {
      const r = await call(gw, 'GET', `/v1/settlements?${q}`, biz.admin_key);
      expectProblem(r, 400, 'validation_failed');
    }
    expect((await call(gw, 'GET', '/v1/settlements?from=2024-02-29T00:00:00Z&to=2026-11-30T23:59:59Z', biz.admin_key)).status).toBe(200);
  });
});

// API.md, Conventions: "Timestamps are RFC 3339 strings in UTC (`2026-11-24T10:15:00Z`)". An
// award's expires_at was written with milliseconds ('…:05.000Z') while the wallet lists the same
// expiry as '…:05Z': one instant, two strings.
describe('an award expiry as the wallet lists it', () => {
  it('the purchase reply and GET wallet name it by the same string', async () => {
    const biz = await createBusiness(gw);
    await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5%', goal: 'spend', award: { percent: 5 }, validity_days: 90 });
    const c = await customer(biz);
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'exp-1', cim: { type: 'card', value: c.card }, amount: 2000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    const expires_at = p.body.awards[0].expires_at as string;
    expect(expires_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect(w.body.expiring).toEqual([{ amount: 100, expires_at }]);
  });
});

// API.md, POS transactions: "POST /v1/purchases {…, items?: [{sku, family?, brand?, type?,
// quantity, amount}], …}": an item's `quantity` is required (no `?`, as `family?` has). An item
// without one was taken as one unit and the purchase approved; bad input is 400 and changes nothing.
describe('a purchase item without its quantity', () => {
  it('is 400 validation_failed on items.0.quantity, and nothing is bought or claimed', async () => {
    const biz = await createBusiness(gw);
    await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } });
    const c = await customer(biz);
    const body = { reference: 'q-1', cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' };
    for (const path of ['/v1/purchases', '/v1/purchases/quote']) {
      const r = await call(gw, 'POST', path, biz.terminal_key, { ...body, items: [{ sku: 'A', amount: 1000 }] });
      expectProblem(r, 400, 'validation_failed');
      expect(r.body.errors.map((e: { path: string }) => e.path)).toContain('items.0.quantity');
    }
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 0, commerce: 0 });
    // The reference stays free: the same reference with the quantity is a first answer.
    const fine = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...body, items: [{ sku: 'A', quantity: 1, amount: 1000 }] });
    expect(fine.status, fine.text).toBe(201);
    expect(fine.headers.get('idempotent-replayed')).toBeNull();
  });
});

// API.md, POST /v1/refunds: "the balance may go negative only here"; POST /v1/reversals voids a
// redemption. Reversing a redemption whose money had been spent took it from the open balance
// anyway: open -100. Now 422 insufficient_funds, nothing changed, remembered under its reference
// (README: a void of money already used is refused, as a stored-value load whose funds were spent).
describe('a reversal of a redemption whose money was spent', () => {
  it('is 422 insufficient_funds, changes nothing, and its repeat is replayed', async () => {
    const biz = await createBusiness(gw);
    expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
    const c = await customer(biz);
    const cim = { type: 'card', value: c.card };
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'rs-p', cim, amount: 1000, currency: 'EUR' })).status).toBe(201);
    expect((await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: 'rs-r', cim })).body.redeemed).toBe(100);
    const otp = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 60 });
    expect(otp.status, otp.text).toBe(201);
    expect((await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: 'rs-s', amount: 60, currency: 'EUR', otp: otp.body.otp })).status).toBe(201);
    const before = await walletOf(gw, biz.admin_key, c.id);
    expect(before).toMatchObject({ open: 40, commerce: 0 });

    const reversal = { reference: 'rs-v', original_reference: 'rs-r' };
    const first = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, reversal);
    expectProblem(first, 422, 'insufficient_funds');
    expect(await walletOf(gw, biz.admin_key, c.id)).toEqual(before);
    const again = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, reversal);
    expectProblem(again, 422, 'insufficient_funds');
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    // The spend reversed first gives the money back: then the redemption can be voided.
    expect((await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'rs-v2', original_reference: 'rs-s' })).status).toBe(201);
    const voided = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'rs-v3', original_reference: 'rs-r' });
    expect(voided.status, voided.text).toBe(201);
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 0, commerce: 100 });
  });
});

// A black-box audit (2026-12-04) sent a reversal with an amount: it was dropped, and the whole
// purchase was voided. API.md gives a reversal no amount; Stripe and Adyen refuse a field they do
// not know. Refused now, as bad input: 400, nothing voided, the reference left free.
describe('a reversal with an amount', () => {
  it('is 400 validation_failed on amount, voids nothing, and the same reference then reverses', async () => {
    const biz = await createBusiness(gw);
    const { id, card } = await customer(biz);
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'ra-p', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' })).status).toBe(201);
    const refused = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'ra-v', original_reference: 'ra-p', amount: 100 });
    expectProblem(refused, 400, 'validation_failed');
    expect(refused.body.errors).toEqual([{ path: 'amount', message: expect.stringContaining('refund') }]);
    // Not voided: a refund of it still goes through (a voided one is 409 already_reversed).
    const part = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: 'ra-r', original_reference: 'ra-p', amount: 100 });
    expect(part.status, part.text).toBe(201);
    const voided = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'ra-v', original_reference: 'ra-p' });
    expect(voided.status, voided.text).toBe(201);
    expect(await walletOf(gw, biz.admin_key, id)).toMatchObject({ open: 0, commerce: 0 });
  });
});
