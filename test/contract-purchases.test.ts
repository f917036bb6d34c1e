// Contract: offers, purchases (award amounts, discounts, resolution, idempotency) and reading a
// transaction back, request by request through the HTTP API.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { countRows, expectProblem, expectValidation, rfc3339_utc, shop as shopOf, unique, walletOf, type Shop } from './contract-util.ts';

let gw: TestGateway;
let seed = 20_000;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.close();
});

/** A fresh business with these offers and one contact holding a card of its own. */
function shop(offers: Record<string, unknown>[], reward_resolution?: string): Promise<Shop> {
  return shopOf(gw, testCard(++seed), offers, reward_resolution);
}

function buy(s: Shop, amount: number, extra: Record<string, unknown> = {}) {
  return call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, { reference: unique('p-'), cim: { type: 'card', value: s.card }, amount, currency: 'EUR', ...extra });
}

const pct = (percent: number, extra: Record<string, unknown> = {}) => ({ name: `${percent}%`, goal: 'spend', award: { percent }, ...extra });
const fixed = (amount: number, extra: Record<string, unknown> = {}) => ({ name: `fixed ${amount}`, goal: 'spend', award: { fixed: amount }, ...extra });

describe('offers', () => {
  let biz: BusinessFixture;
  beforeAll(async () => {
    biz = await createBusiness(gw);
  });

  it('POST creates percent and fixed offers with the documented defaults', async () => {
    const p = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5% cashback', goal: 'spend', award: { percent: 5 } });
    expect(p.status, p.text).toBe(201);
    expect(typeof p.body.id).toBe('string');
    expect(p.body).toMatchObject({ name: '5% cashback', goal: 'spend', award: { percent: 5 }, active: true, kind: 'cashback', instant_redeem: false });
    const f = await call(gw, 'POST', '/v1/offers', biz.admin_key, {
      name: '3 off above 20',
      goal: 'spend',
      kind: 'instant_discount',
      award: { fixed: 300 },
      conditions: { min_amount: 2000 },
      max_award: 300,
      validity_days: 30,
    });
    expect(f.status, f.text).toBe(201);
    expect(f.body).toMatchObject({ kind: 'instant_discount', award: { fixed: 300 }, conditions: { min_amount: 2000 }, max_award: 300, validity_days: 30 });
  });

  it('refuses invalid offers with 400 and creates nothing', async () => {
    const before = await countRows(gw, 'offers', biz.business_id);
    const bad: [Record<string, unknown>, string | RegExp][] = [
      [{ goal: 'spend', award: { percent: 5 } }, 'name'],
      [{ name: 'x', award: { percent: 5 } }, 'goal'],
      [{ name: 'x', goal: 'world_peace', award: { percent: 5 } }, 'goal'],
      [{ name: 'x', goal: 'spend' }, 'award'],
      [{ name: 'x', goal: 'spend', award: { percent: 101 } }, /^award/],
      [{ name: 'x', goal: 'spend', award: { percent: -1 } }, /^award/],
      [{ name: 'x', goal: 'spend', award: { percent: 5.555 } }, /^award/],
      [{ name: 'x', goal: 'spend', award: { percent: '5' } }, /^award/],
      [{ name: 'x', goal: 'spend', award: { percent: 5, fixed: 100 } }, /^award/],
      [{ name: 'x', goal: 'spend', award: { fixed: -100 } }, /^award/],
      [{ name: 'x', goal: 'spend', award: { fixed: 1.5 } }, /^award/],
      [{ name: 'x', goal: 'spend', award: { fixed: 1e13 } }, /^award/],
      [{ name: 'x', goal: 'spend', award: {} }, /^award/],
      [{ name: 'x', goal: 'spend', award: { percent: 5 }, kind: 'bribe' }, 'kind'],
      [{ name: 'x', goal: 'spend', award: { percent: 5 }, max_award: -1 }, 'max_award'],
      [{ name: 'x', goal: 'spend', award: { percent: 5 }, conditions: { min_amount: 'lots' } }, 'conditions.min_amount'],
      [{ name: 'x', goal: 'spend', award: { percent: 5 }, conditions: { days_of_week: [0] } }, 'conditions.days_of_week.0'],
      [{ name: 'x', goal: 'spend', award: { percent: 5 }, conditions: { time_from: '25:00' } }, 'conditions.time_from'],
      [{ name: 'x', goal: 'spend', award: { percent: 5 }, conditions: { time_to: '24:30' } }, 'conditions.time_to'],
      [{ name: 'x', goal: 'spend', award: { percent: 5 }, active: 'yes' }, 'active'],
      [{ name: 'x', goal: 'spend', award: { percent: 5 }, valid_from: 'tomorrow' }, 'valid_from'],
    ];
    for (const [body, path] of bad) expectValidation(await call(gw, 'POST', '/v1/offers', biz.admin_key, body), path);
    expect(await countRows(gw, 'offers', biz.business_id)).toBe(before);
  });

  it('GET /v1/offers lists them and GET /v1/offers/{id} reads one', async () => {
    const a = await call(gw, 'POST', '/v1/offers', biz.admin_key, pct(2));
    const b = await call(gw, 'POST', '/v1/offers', biz.admin_key, fixed(100));
    const list = await call(gw, 'GET', '/v1/offers', biz.admin_key);
    expect(list.status).toBe(200);
    const ids = (list.body.data as { id: string }[]).map((o) => o.id);
    expect(ids).toContain(a.body.id);
    expect(ids).toContain(b.body.id);
    expect(ids).toHaveLength(await countRows(gw, 'offers', biz.business_id));
    const one = await call(gw, 'GET', `/v1/offers/${a.body.id}`, biz.admin_key);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(a.body);
    expectProblem(await call(gw, 'GET', '/v1/offers/off_doesnotexist00000000', biz.admin_key), 404, 'not_found');
  });

  it('PATCH changes only what it names and refuses an invalid result', async () => {
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { ...fixed(300), kind: 'instant_discount', conditions: { min_amount: 2000 }, instant_redeem: true });
    const off = await call(gw, 'PATCH', `/v1/offers/${o.body.id}`, biz.admin_key, { active: false });
    expect(off.status, off.text).toBe(200);
    expect(off.body).toEqual({ ...o.body, active: false });
    expect((await call(gw, 'GET', `/v1/offers/${o.body.id}`, biz.admin_key)).body).toEqual({ ...o.body, active: false });
    expectValidation(await call(gw, 'PATCH', `/v1/offers/${o.body.id}`, biz.admin_key, { award: { percent: 200 } }), /^award/);
    expectValidation(await call(gw, 'PATCH', `/v1/offers/${o.body.id}`, biz.admin_key, { name: '' }), 'name');
    expect((await call(gw, 'GET', `/v1/offers/${o.body.id}`, biz.admin_key)).body).toEqual({ ...o.body, active: false });
    expectProblem(await call(gw, 'PATCH', '/v1/offers/off_doesnotexist00000000', biz.admin_key, { active: false }), 404, 'not_found');
  });

  it('PATCH {active:false} stops awarding at once; PATCH back to active resumes with the same rules', async () => {
    const s = await shop([pct(10, { conditions: { min_amount: 500 } })]);
    const first = await buy(s, 1000);
    expect(first.body.awards.map((a: { amount: number }) => a.amount)).toEqual([100]);
    const off = await call(gw, 'PATCH', `/v1/offers/${s.offers[0]}`, s.biz.admin_key, { active: false });
    expect(off.status, off.text).toBe(200);
    const during = await buy(s, 1000);
    expect(during.status, during.text).toBe(201);
    expect(during.body.awards).toEqual([]);
    expect(during.body.wallet).toEqual({ open: 0, commerce: 100 });
    const on = await call(gw, 'PATCH', `/v1/offers/${s.offers[0]}`, s.biz.admin_key, { active: true });
    expect(on.body).toMatchObject({ active: true, conditions: { min_amount: 500 }, award: { percent: 10 } });
    expect((await buy(s, 1000)).body.awards.map((a: { amount: number }) => a.amount)).toEqual([100]);
    expect((await buy(s, 499)).body.awards).toEqual([]); // min_amount survived the two patches
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toMatchObject({ open: 0, commerce: 200 });
  });
});

describe('purchase awards', () => {
  it('a percent award is floored, never rounded up', async () => {
    const s = await shop([pct(5)]);
    const cases: [number, number][] = [
      [1999, 99], // 99.95
      [19, 0], // 0.95: no award at all
      [20, 1],
      [2000, 100],
      [999_999_999_999, 49_999_999_999], // the largest amount, exact past 2^53 / 100
    ];
    let commerce = 0;
    for (const [amount, award] of cases) {
      const p = await buy(s, amount);
      expect(p.status, p.text).toBe(201);
      expect(p.body.awards.map((a: { amount: number }) => a.amount), `${amount}`).toEqual(award === 0 ? [] : [award]);
      commerce += award;
      expect(p.body.wallet).toEqual({ open: 0, commerce });
    }
    const s2 = await shop([pct(3.33)]);
    expect((await buy(s2, 1000)).body.awards[0].amount).toBe(33); // 33.3
    expect((await buy(s2, 10_000)).body.awards[0].amount).toBe(333);
  });

  it('answers the documented purchase shape', async () => {
    const s = await shop([pct(5)]);
    const p = await buy(s, 2000);
    expect(p.status, p.text).toBe(201);
    expect(p.headers.get('content-type')).toMatch(/^application\/json/);
    expect(p.headers.get('idempotent-replayed')).not.toBe('true');
    expect(p.body).toMatchObject({ status: 'approved', contact_id: s.contact_id, discount: 0, amount_due: 2000, paid_from_wallet: 0, wallet: { open: 0, commerce: 100 } });
    expect(typeof p.body.id).toBe('string');
    expect(p.body.awards).toEqual([{ offer_id: s.offers[0], scheme_id: null, kind: 'cashback', amount: 100, pool: null, expires_at: null }]);
  });

  it('a fixed award is its amount whatever the purchase', async () => {
    const s = await shop([fixed(250)]);
    expect((await buy(s, 100)).body.awards.map((a: { amount: number }) => a.amount)).toEqual([250]);
    expect((await buy(s, 100_000)).body.awards.map((a: { amount: number }) => a.amount)).toEqual([250]);
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toMatchObject({ open: 0, commerce: 500 });
  });

  it('min_amount is inclusive: one below gets nothing, exactly it gets the award', async () => {
    const s = await shop([pct(10, { conditions: { min_amount: 1000 } })]);
    expect((await buy(s, 999)).body.awards).toEqual([]);
    expect((await buy(s, 1000)).body.awards.map((a: { amount: number }) => a.amount)).toEqual([100]);
  });

  it('max_award caps the award', async () => {
    const s = await shop([pct(10, { max_award: 2000 })]);
    expect((await buy(s, 19_990)).body.awards[0].amount).toBe(1999);
    expect((await buy(s, 20_000)).body.awards[0].amount).toBe(2000);
    expect((await buy(s, 50_000)).body.awards[0].amount).toBe(2000);
  });

  it('validity_days gives the award an expiry; pool names its pool', async () => {
    const s = await shop([pct(10, { validity_days: 90, pool: 'bakery' })]);
    const before = Date.now();
    const p = await buy(s, 1000);
    const a = p.body.awards[0];
    expect(a.pool).toBe('bakery');
    expect(a.expires_at).toMatch(rfc3339_utc);
    const expiry = Date.parse(a.expires_at);
    expect(expiry).toBeGreaterThanOrEqual(before + 90 * 86_400_000 - 1000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 90 * 86_400_000 + 1000);
  });

  it('an instant discount lowers amount_due and does not touch the wallet', async () => {
    const s = await shop([pct(10, { kind: 'instant_discount' })]);
    const p = await buy(s, 2500);
    expect(p.status, p.text).toBe(201);
    expect(p.body).toMatchObject({ discount: 250, amount_due: 2250, paid_from_wallet: 0, wallet: { open: 0, commerce: 0 } });
    expect(p.body.awards).toEqual([{ offer_id: s.offers[0], scheme_id: null, kind: 'instant_discount', amount: 250, pool: null, expires_at: null }]);
    expect(p.body.amount_due).toBe(2500 - p.body.discount - p.body.paid_from_wallet);
  });

  it('a discount never exceeds the purchase: amount_due is never negative', async () => {
    const s = await shop([fixed(1000, { kind: 'instant_discount' })]);
    const p = await buy(s, 600);
    expect(p.body).toMatchObject({ discount: 600, amount_due: 0 });
  });

  it('cashback and discount together: discount sums the discounts, cashback lands in commerce', async () => {
    const s = await shop([pct(5), fixed(300, { kind: 'instant_discount' }), pct(2, { kind: 'instant_discount' })]);
    const p = await buy(s, 10_000);
    expect(p.body.awards.map((a: { kind: string; amount: number }) => [a.kind, a.amount])).toEqual([
      ['cashback', 500],
      ['instant_discount', 300],
      ['instant_discount', 200],
    ]);
    expect(p.body).toMatchObject({ discount: 500, amount_due: 9500, wallet: { open: 0, commerce: 500 } });
  });

  it('instant_redeem awards land in the open balance', async () => {
    const s = await shop([pct(5, { instant_redeem: true }), fixed(10)]);
    const p = await buy(s, 1000);
    expect(p.body.wallet).toEqual({ open: 50, commerce: 10 });
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toMatchObject({ open: 50, commerce: 10 });
  });

  it('resolution "all" awards every matching offer', async () => {
    const s = await shop([pct(5), fixed(200), pct(10, { conditions: { min_amount: 50_000 } })], 'all');
    const p = await buy(s, 10_000);
    expect(p.body.awards.map((a: { offer_id: string; amount: number }) => [a.offer_id, a.amount])).toEqual([
      [s.offers[0], 500],
      [s.offers[1], 200],
    ]);
    expect(p.body.wallet.commerce).toBe(700);
  });

  it('resolution "best" awards only the largest', async () => {
    const s = await shop([pct(5), fixed(200), pct(1)], 'best');
    const big = await buy(s, 10_000); // 500 vs 200 vs 100
    expect(big.body.awards.map((a: { offer_id: string; amount: number }) => [a.offer_id, a.amount])).toEqual([[s.offers[0], 500]]);
    const small = await buy(s, 2_000); // 100 vs 200 vs 20
    expect(small.body.awards.map((a: { offer_id: string; amount: number }) => [a.offer_id, a.amount])).toEqual([[s.offers[1], 200]]);
    expect(small.body.wallet.commerce).toBe(700);
  });

  it('resolution "best_per_scheme": promotions (no scheme) count as one scheme', async () => {
    const s = await shop([pct(5), fixed(200)], 'best_per_scheme');
    const p = await buy(s, 10_000);
    expect(p.body.awards.map((a: { offer_id: string; amount: number }) => [a.offer_id, a.amount])).toEqual([[s.offers[0], 500]]);
  });

  it('wallet balances add up over purchases and agree across the three ways to read them', async () => {
    const s = await shop([pct(5)]);
    let expected = 0;
    for (const amount of [1000, 2345, 999, 10]) {
      const p = await buy(s, amount);
      expected += Math.floor((amount * 5) / 100);
      expect(p.body.wallet).toEqual({ open: 0, commerce: expected });
    }
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toEqual({ currency: 'EUR', open: 0, commerce: expected, pools: [], expiring: [] });
    const w = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${s.card}`, s.biz.terminal_key);
    expect(w.body).toEqual({ contact_id: s.contact_id, currency: 'EUR', open: 0, commerce: expected });
  });
});

describe('purchase refusals', () => {
  let s: Shop;
  beforeAll(async () => {
    s = await shop([pct(5)]);
  });

  it('items must add up to amount', async () => {
    const items = [
      { sku: 'A', quantity: 1, amount: 600 },
      { sku: 'B', quantity: 2, amount: 300 },
    ];
    expectValidation(await buy(s, 1000, { items }), 'items');
    // Given, an empty list adds up to 0 (a black-box audit, 2026-12-05: it was taken as no basket).
    expectValidation(await buy(s, 1000, { items: [] }), 'items');
    const ok = await buy(s, 900, { items });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body.awards[0].amount).toBe(45);
  });

  it("currency must be the business's currency", async () => {
    expectValidation(await buy(s, 1000, { currency: 'USD' }), 'currency');
    expectValidation(await buy(s, 1000, { currency: 'eur' }), 'currency');
    expectValidation(await buy(s, 1000, { currency: 'EURO' }), 'currency');
  });

  // A refund takes its original's currency; one that names another is refused and refunds
  // nothing (a black-box probe, 2026-12-05: USD to an EUR business refunded 10 EUR cents).
  it("a refund's currency, when sent, must be the business's; with it or without it is one body", async () => {
    const reference = unique('p-');
    const p = await buy(s, 1000, { reference });
    expect(p.status, p.text).toBe(201);
    const refund = (extra: object) => call(gw, 'POST', '/v1/refunds', s.biz.terminal_key, { reference: `r-${reference}`, original_reference: reference, amount: 10, ...extra });
    expectValidation(await refund({ currency: 'USD' }), 'currency');
    expectValidation(await refund({ currency: 'EURO' }), 'currency');
    const made = await refund({ currency: 'EUR' });
    expect(made.status, made.text).toBe(201);
    const again = await refund({});
    expect(again.status, again.text).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(made.body);
  });

  it('an unknown CIM is 404 contact_not_found', async () => {
    const p = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, { reference: unique('p-'), cim: { type: 'card', value: testCard(999_001) }, amount: 1000, currency: 'EUR' });
    expectProblem(p, 404, 'contact_not_found');
    const e = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, { reference: unique('p-'), cim: { type: 'email', value: 'nobody@nowhere.example' }, amount: 1000, currency: 'EUR' });
    expectProblem(e, 404, 'contact_not_found');
  });
});

describe('idempotency', () => {
  let s: Shop;
  beforeAll(async () => {
    s = await shop([pct(5)]);
  });

  it('a replay returns the same status and body with Idempotent-Replayed: true and changes nothing', async () => {
    const body = { reference: unique('idem-'), cim: { type: 'card', value: s.card }, amount: 2000, currency: 'EUR' };
    const first = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, body);
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get('idempotent-replayed')).not.toBe('true');
    const wallet = await walletOf(gw, s.biz.admin_key, s.contact_id);
    for (let i = 0; i < 3; i++) {
      const again = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, body);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.text).toBe(first.text);
    }
    // The same request in another key order and spacing is the same request.
    const reordered = `{ "currency": "EUR", "amount": 2000, "cim": {"value": "${s.card}", "type": "card"}, "reference": "${body.reference}" }`;
    const r = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, reordered);
    expect(r.status).toBe(201);
    expect(r.headers.get('idempotent-replayed')).toBe('true');
    expect(r.text).toBe(first.text);
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toEqual(wallet);
    await eventually('recorded', async () => (await call(gw, 'GET', `/v1/transactions/${first.body.id}`, s.biz.admin_key)).body.ledger === 'recorded');
    const sql = gw.processor.stores.sql;
    const rows = await sql`select id from ledger_transactions where terminal_id = ${s.biz.terminal_id} and reference = ${body.reference}`;
    expect(rows.map((x) => x.id)).toEqual([first.body.id]);
  });

  it('the same reference with a different body is 409 idempotency_conflict and changes nothing', async () => {
    const reference = unique('idem-');
    const first = await buy(s, 1000, { reference });
    expect(first.status).toBe(201);
    const wallet = await walletOf(gw, s.biz.admin_key, s.contact_id);
    expectProblem(await buy(s, 1001, { reference }), 409, 'idempotency_conflict');
    expectProblem(await buy(s, 1000, { reference, items: [{ sku: 'X', quantity: 1, amount: 1000 }] }), 409, 'idempotency_conflict');
    // A body naming another contact (on whatever shard) conflicts too, and credits nobody.
    const other_card = testCard(++seed);
    const other = await call(gw, 'POST', '/v1/contacts', s.biz.admin_key, { cims: [{ type: 'card', value: other_card }] });
    const conflict = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, { reference, cim: { type: 'card', value: other_card }, amount: 1000, currency: 'EUR' });
    expectProblem(conflict, 409, 'idempotency_conflict');
    expect(await walletOf(gw, s.biz.admin_key, other.body.id)).toMatchObject({ open: 0, commerce: 0 });
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toEqual(wallet);
    // The original still replays.
    const replay = await buy(s, 1000, { reference });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.text).toBe(first.text);
  });

  it('a body that names no contact, or a wrong wallet code, under a held reference is 409 too, not the refusal a new reference gets', async () => {
    const reference = unique('idem-');
    const first = await buy(s, 1000, { reference });
    expect(first.status, first.text).toBe(201);
    const wallet = await walletOf(gw, s.biz.admin_key, s.contact_id);
    const nobody = { type: 'card', value: testCard(999_002) };
    expectProblem(await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, { reference, cim: nobody, amount: 1000, currency: 'EUR' }), 409, 'idempotency_conflict');
    expectProblem(await call(gw, 'POST', '/v1/redemptions', s.biz.terminal_key, { reference, cim: nobody }), 409, 'idempotency_conflict');
    expectProblem(await call(gw, 'POST', '/v1/spends', s.biz.terminal_key, { reference, amount: 1, currency: 'EUR', wallet_code: '4111111111111111' }), 409, 'idempotency_conflict');
    // Another currency is another body too (a new reference gets 400 for it: below).
    expectProblem(await buy(s, 1000, { reference, currency: 'USD' }), 409, 'idempotency_conflict');
    expectProblem(await call(gw, 'POST', '/v1/spends', s.biz.terminal_key, { reference, amount: 1, currency: 'USD', wallet_code: '4111111111111111' }), 409, 'idempotency_conflict');
    // Under new references they are what they were: the reference was never theirs.
    expectProblem(await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, { reference: unique('idem-'), cim: nobody, amount: 1000, currency: 'EUR' }), 404, 'contact_not_found');
    expectProblem(await call(gw, 'POST', '/v1/redemptions', s.biz.terminal_key, { reference: unique('idem-'), cim: nobody }), 404, 'contact_not_found');
    expectProblem(await call(gw, 'POST', '/v1/spends', s.biz.terminal_key, { reference: unique('idem-'), amount: 1, currency: 'EUR', wallet_code: '4111111111111111' }), 422, 'wallet_code_invalid');
    expect(await walletOf(gw, s.biz.admin_key, s.contact_id)).toEqual(wallet);
    const replay = await buy(s, 1000, { reference });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.text).toBe(first.text);
  });

  it('a refused request does not use up its reference', async () => {
    const reference = unique('idem-');
    expectValidation(await buy(s, 1000, { reference, currency: 'USD' }), 'currency');
    expectValidation(await buy(s, 12.5, { reference }), 'amount');
    const ok = await buy(s, 1000, { reference });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.headers.get('idempotent-replayed')).not.toBe('true');
  });

  it('references are per terminal: the same reference at another terminal is a new purchase', async () => {
    const t2 = await call(gw, 'POST', '/v1/terminals', s.biz.admin_key, { venue_id: s.biz.venue_id, code: 'T0000002' });
    expect(t2.status, t2.text).toBe(201);
    const body = { reference: unique('idem-'), cim: { type: 'card', value: s.card }, amount: 1000, currency: 'EUR' };
    const a = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, body);
    const b = await call(gw, 'POST', '/v1/purchases', t2.body.api_key, body);
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.headers.get('idempotent-replayed')).not.toBe('true');
    expect(b.body.id).not.toBe(a.body.id);
    expect(b.body.wallet.commerce).toBe(a.body.wallet.commerce + 50);
  });

  it('100 simultaneous copies make one transaction', async () => {
    const body = { reference: unique('burst-'), cim: { type: 'card', value: s.card }, amount: 4000, currency: 'EUR' };
    const before = await walletOf(gw, s.biz.admin_key, s.contact_id);
    const replies = await Promise.all(Array.from({ length: 100 }, () => call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, body)));
    expect(new Set(replies.map((r) => r.status))).toEqual(new Set([201]));
    expect(new Set(replies.map((r) => r.text)).size).toBe(1);
    expect(replies.filter((r) => r.headers.get('idempotent-replayed') !== 'true')).toHaveLength(1);
    const after = await walletOf(gw, s.biz.admin_key, s.contact_id);
    expect(after.commerce).toBe(before.commerce + 200);
  });
});

describe('GET /v1/transactions/{id}', () => {
  it('reads a purchase back, pending or recorded, and it becomes recorded', async () => {
    const s = await shop([pct(5), fixed(100, { kind: 'instant_discount' })]);
    const reference = unique('txn-');
    const p = await buy(s, 3000, { reference });
    expect(p.status, p.text).toBe(201);
    const expected = {
      id: p.body.id,
      kind: 'purchase',
      reference,
      terminal_id: s.biz.terminal_id,
      contact_id: s.contact_id,
      amount: 3000,
      currency: 'EUR',
      status: 'approved',
      awards: p.body.awards,
    };
    const early = await call(gw, 'GET', `/v1/transactions/${p.body.id}`, s.biz.admin_key);
    expect(early.status, early.text).toBe(200);
    expect(['pending', 'recorded']).toContain(early.body.ledger);
    expect(early.body).toMatchObject(expected);
    expect(early.body.created_at).toMatch(rfc3339_utc);
    const recorded = await eventually('recorded', async () => {
      const r = await call(gw, 'GET', `/v1/transactions/${p.body.id}`, s.biz.admin_key);
      return r.body.ledger === 'recorded' ? r : undefined;
    });
    expect(recorded.status).toBe(200);
    expect(recorded.body).toMatchObject(expected);
    expect(recorded.body.created_at).toBe(early.body.created_at);
  });

  it('an unknown id is 404 not_found; a terminal key may not read transactions', async () => {
    const s = await shop([]);
    expectProblem(await call(gw, 'GET', '/v1/transactions/txn_doesnotexist00000000', s.biz.admin_key), 404, 'not_found');
    const p = await buy(s, 100);
    expectProblem(await call(gw, 'GET', `/v1/transactions/${p.body.id}`, s.biz.terminal_key), 403, 'forbidden');
  });
});
