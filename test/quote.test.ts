// POST /v1/purchases/quote (TERMINAL.md): what the same purchase would give now, changing nothing.
// On a Redis of its own (with no ledger writer), so that "nothing changed" can be checked on every
// key and value of it, and with the processor's clock held still so that a quote and the purchase
// after it are at the same instant (award expiries included).

import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { budgetKey } from '../processor/hot/keys.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { snapshotRedis, startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
let gw: TestGateway;
let seq = 0;
const real_now = Date.now;

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ redis_url: own.url, ledger_writer: false });
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});
beforeEach(() => {
  const frozen = Date.now();
  gw.processor.stores.clock.now = () => frozen;
});
afterEach(() => {
  gw.processor.stores.clock.now = real_now;
});

interface Contact {
  readonly id: string;
  readonly card: string;
}

async function contact(biz: BusinessFixture, extra: Record<string, unknown> = {}): Promise<Contact> {
  const card = testCard(7_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }], ...extra });
  expect(c.status, c.text).toBe(201);
  return { id: c.body.id, card };
}

async function offer(biz: BusinessFixture, body: Record<string, unknown>): Promise<string> {
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: `o${++seq}`, ...body });
  expect(o.status, o.text).toBe(201);
  return o.body.id;
}

const purchaseBody = (c: Contact, amount: number, extra: Record<string, unknown> = {}) => ({ reference: `q-${++seq}`, cim: { type: 'card', value: c.card }, amount, currency: 'EUR', ...extra });

const snapshot = () => snapshotRedis(own.client);

/** A quote, with the whole of Redis checked unchanged around it. */
async function quote(biz: BusinessFixture, body: Record<string, unknown>) {
  const before = await snapshot();
  const q = await call(gw, 'POST', '/v1/purchases/quote', biz.terminal_key, body);
  expect(await snapshot()).toEqual(before);
  return q;
}

/** Quote, then the same purchase at once: the same awards, discount and amount due. */
async function quoteThenBuy(biz: BusinessFixture, c: Contact, amount: number, extra: Record<string, unknown> = {}) {
  const body = purchaseBody(c, amount, extra);
  const wallet = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${c.card}`, biz.terminal_key);
  const q = await quote(biz, body);
  expect(q.status, q.text).toBe(200);
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
  expect(p.status, p.text).toBe(201);
  expect(q.body).toEqual({
    contact_id: c.id,
    amount,
    currency: 'EUR',
    awards: p.body.awards,
    discount: p.body.discount,
    amount_due: p.body.amount_due,
    wallet: { open: wallet.body.open, commerce: wallet.body.commerce },
  });
  return q.body as { awards: { offer_id: string; amount: number; kind: string }[]; discount: number; amount_due: number };
}

const offerIds = (q: { awards: { offer_id: string }[] }) => q.awards.map((a) => a.offer_id);

describe('a quote equals the purchase that follows it', () => {
  // The clock moves on between a quote and the purchase "at once" after it: an award's expiry is
  // whole seconds (the milliseconds dropped, as created_at drops them), so they agree unless a second ended in between. It was the
  // purchase's millisecond plus validity_days, and a quote 3 ms earlier named another expiry.
  it('with validity_days, the clock moving on a few ms: the same expires_at', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'spend', award: { percent: 5 }, validity_days: 90 });
    const c = await contact(biz);
    const body = purchaseBody(c, 6000);
    const start = Math.floor(real_now() / 1000) * 1000 + 3;
    gw.processor.stores.clock.now = () => start;
    const q = await call(gw, 'POST', '/v1/purchases/quote', biz.terminal_key, body);
    gw.processor.stores.clock.now = () => start + 7;
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    expect(p.status, p.text).toBe(201);
    expect(q.body.awards).toEqual(p.body.awards);
    expect(p.body.awards[0].expires_at).toBe(new Date(start - 3 + 90 * 86_400_000).toISOString().replace('.000Z', 'Z'));
    // validity_days after the created_at the purchase's reply shows, to the second.
    expect(Date.parse(p.body.awards[0].expires_at) - Date.parse(p.body.created_at)).toBe(90 * 86_400_000);
  });

  it('spend, product, happy hour and instant discounts, stacked', async () => {
    const biz = await createBusiness(gw);
    const spend = await offer(biz, { goal: 'spend', award: { percent: 5 }, validity_days: 30 });
    const product = await offer(biz, { goal: 'product', award: { percent: 10 }, conditions: { products: { brands: ['acme'] } } });
    const happy = await offer(biz, { goal: 'happy_hour', award: { fixed: 150 } });
    const discount = await offer(biz, { goal: 'spend', kind: 'instant_discount', award: { fixed: 200 }, conditions: { min_amount: 2000 } });
    const c = await contact(biz);
    const items = [{ sku: 'a', brand: 'acme', quantity: 1, amount: 1000 }, { sku: 'b', brand: 'other', quantity: 2, amount: 2000 }];
    const q = await quoteThenBuy(biz, c, 3000, { items });
    expect(offerIds(q).sort()).toEqual([spend, product, happy, discount].sort());
    expect(q.discount).toBe(200);
    expect(q.amount_due).toBe(2800);
    // Below the discount's minimum: the rest only.
    const small = await quoteThenBuy(biz, c, 1000);
    expect(offerIds(small).sort()).toEqual([spend, happy].sort());
  });

  it('instant discounts never take off more than the amount', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'spend', kind: 'instant_discount', award: { fixed: 800 } });
    await offer(biz, { goal: 'spend', kind: 'instant_discount', award: { fixed: 700 } });
    const q = await quoteThenBuy(biz, await contact(biz), 1000);
    expect(q.discount).toBe(1000);
    expect(q.amount_due).toBe(0);
  });

  it('first purchase: in the first quote and purchase, in none after', async () => {
    const biz = await createBusiness(gw);
    const first = await offer(biz, { goal: 'first_purchase', award: { fixed: 300 } });
    const c = await contact(biz);
    expect(offerIds(await quoteThenBuy(biz, c, 1000))).toEqual([first]);
    expect(offerIds(await quoteThenBuy(biz, c, 1000))).toEqual([]);
  });

  it('birthday: the first purchase of the day only', async () => {
    const biz = await createBusiness(gw);
    const birthday = await offer(biz, { goal: 'birthday', award: { fixed: 500 } });
    const today = new Date(gw.processor.stores.clock.now()).toISOString().slice(5, 10);
    const c = await contact(biz, { birth_date: today === '02-29' ? '1992-02-29' : `1990-${today}` });
    expect(offerIds(await quoteThenBuy(biz, c, 1000))).toEqual([birthday]);
    expect(offerIds(await quoteThenBuy(biz, c, 1000))).toEqual([]);
    const other = await contact(biz, { birth_date: today === '01-01' ? '1990-06-15' : '1990-01-01' });
    expect(offerIds(await quoteThenBuy(biz, other, 1000))).toEqual([]);
  });

  it('per-contact caps: shown while the cap allows, gone once reached', async () => {
    const biz = await createBusiness(gw);
    const capped = await offer(biz, { goal: 'spend', award: { fixed: 100 }, limits: { per_contact: { count: 2, period: 'day' } } });
    const once = await offer(biz, { goal: 'spend', award: { fixed: 50 }, limits: { per_contact: { count: 1, period: 'lifetime' } } });
    const c = await contact(biz);
    expect(offerIds(await quoteThenBuy(biz, c, 1000)).sort()).toEqual([capped, once].sort());
    expect(offerIds(await quoteThenBuy(biz, c, 1000))).toEqual([capped]);
    expect(offerIds(await quoteThenBuy(biz, c, 1000))).toEqual([]);
    // Another contact's caps are its own.
    expect(offerIds(await quoteThenBuy(biz, await contact(biz), 1000)).sort()).toEqual([capped, once].sort());
  });

  it('budgets: the whole award, then what is left of the budget, then nothing', async () => {
    const biz = await createBusiness(gw);
    const budgeted = await offer(biz, { goal: 'spend', award: { fixed: 300 }, limits: { budget: 500 } });
    const c = await contact(biz);
    expect((await quoteThenBuy(biz, c, 1000)).awards).toMatchObject([{ offer_id: budgeted, amount: 300 }]);
    expect((await quoteThenBuy(biz, c, 1000)).awards).toMatchObject([{ offer_id: budgeted, amount: 200 }]);
    expect((await quoteThenBuy(biz, c, 1000)).awards).toEqual([]);
    expect(Number(await own.client.get(budgetKey(budgeted)))).toBe(500);
  });

  it('budgeted awards the contact’s facts bring come in offer order, as the quote shows them', async () => {
    const biz = await createBusiness(gw);
    // The birthday award is reserved after the facts are read, the spend award before them.
    const birthday = await offer(biz, { goal: 'birthday', award: { fixed: 1 }, limits: { budget: 1 } });
    const spend = await offer(biz, { goal: 'spend', award: { percent: 1 }, limits: { budget: 1 } });
    const today = new Date(gw.processor.stores.clock.now()).toISOString().slice(5, 10);
    const c = await contact(biz, { birth_date: today === '02-29' ? '1992-02-29' : `1990-${today}` });
    expect(offerIds(await quoteThenBuy(biz, c, 100))).toEqual([birthday, spend]);
  });

  it('tiers: the tier the contact holds when quoted', async () => {
    const biz = await createBusiness(gw);
    expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 50, period: 'month' }])).status).toBe(200);
    const gold = await offer(biz, { goal: 'spend', award: { fixed: 1000 }, conditions: { tiers: ['gold'] } });
    const c = await contact(biz);
    expect(offerIds(await quoteThenBuy(biz, c, 6000))).toEqual([]);
    expect(offerIds(await quoteThenBuy(biz, c, 1000))).toEqual([gold]);
  });

  it('resolution best per scheme, schemes and tags', async () => {
    const biz = await createBusiness(gw, { reward_resolution: 'best_per_scheme' });
    const club = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Club', signup: 'auto' });
    const small = await offer(biz, { goal: 'spend', award: { fixed: 100 }, scheme_id: club.body.id });
    const large = await offer(biz, { goal: 'spend', award: { fixed: 400 }, scheme_id: club.body.id, conditions: { tags: ['vip'] } });
    const promo = await offer(biz, { goal: 'spend', award: { percent: 2 } });
    expect(offerIds(await quoteThenBuy(biz, await contact(biz), 5000)).sort()).toEqual([small, promo].sort());
    expect(offerIds(await quoteThenBuy(biz, await contact(biz, { tags: ['vip'] }), 5000)).sort()).toEqual([large, promo].sort());
  });

  it('resolution best: when the best offer’s cap or budget refuses it, the next best stands in, quoted as bought', async () => {
    const biz = await createBusiness(gw, { reward_resolution: 'best' });
    const daily = await offer(biz, { goal: 'spend', award: { fixed: 500 }, limits: { per_contact: { count: 1, period: 'day' } } });
    const budgeted = await offer(biz, { goal: 'spend', award: { fixed: 300 }, limits: { budget: 300 } });
    const plain = await offer(biz, { goal: 'spend', award: { fixed: 100 } });
    const c = await contact(biz);
    expect(offerIds(await quoteThenBuy(biz, c, 1000))).toEqual([daily]);
    expect(offerIds(await quoteThenBuy(biz, c, 1000))).toEqual([budgeted]);
    expect(offerIds(await quoteThenBuy(biz, c, 1000))).toEqual([plain]);
    // Only what was made is spent: the budget kept nothing of the purchases it lost.
    expect(Number(await own.client.get(budgetKey(budgeted)))).toBe(300);
  });

  it('resolution best per scheme: a refused winner’s next best in its own scheme, the other scheme untouched', async () => {
    const biz = await createBusiness(gw, { reward_resolution: 'best_per_scheme' });
    const club = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Club', signup: 'auto' });
    const once = await offer(biz, { goal: 'spend', award: { fixed: 400 }, scheme_id: club.body.id, limits: { per_contact: { count: 1, period: 'lifetime' } } });
    const small = await offer(biz, { goal: 'spend', award: { fixed: 100 }, scheme_id: club.body.id });
    const promo = await offer(biz, { goal: 'spend', award: { fixed: 30 }, kind: 'instant_discount' });
    const c = await contact(biz);
    expect(offerIds(await quoteThenBuy(biz, c, 5000)).sort()).toEqual([once, promo].sort());
    expect(offerIds(await quoteThenBuy(biz, c, 5000)).sort()).toEqual([small, promo].sort());
  });

  it('random offers and purchases: every quote equals its purchase (fast-check)', async () => {
    const offerArb = fc.record({
      goal: fc.constantFrom('spend', 'product', 'happy_hour', 'birthday', 'first_purchase'),
      kind: fc.constantFrom('cashback', 'instant_discount'),
      award: fc.oneof(fc.record({ fixed: fc.integer({ min: 1, max: 2000 }) }), fc.record({ percent: fc.integer({ min: 1, max: 50 }) })),
      count: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      budget: fc.option(fc.integer({ min: 1, max: 3000 }), { nil: undefined }),
      min_amount: fc.option(fc.integer({ min: 1, max: 4000 }), { nil: undefined }),
    });
    const today = new Date(gw.processor.stores.clock.now()).toISOString().slice(5, 10);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('all', 'best', 'best_per_scheme'),
        fc.array(offerArb, { minLength: 1, maxLength: 5 }),
        fc.array(fc.record({ amount: fc.integer({ min: 1, max: 5000 }), acme: fc.boolean(), birthday: fc.boolean() }), { minLength: 1, maxLength: 5 }),
        async (resolution, offers, purchases) => {
          const biz = await createBusiness(gw, { reward_resolution: resolution });
          for (const o of offers) {
            const limits = { ...(o.count === undefined ? {} : { per_contact: { count: o.count, period: 'day' } }), ...(o.budget === undefined ? {} : { budget: o.budget }) };
            const conditions = { ...(o.min_amount === undefined ? {} : { min_amount: o.min_amount }), ...(o.goal === 'product' ? { products: { brands: ['acme'] } } : {}) };
            await offer(biz, { goal: o.goal, kind: o.kind, award: o.award, limits, conditions });
          }
          const people = [await contact(biz), await contact(biz, { birth_date: today === '02-29' ? '1992-02-29' : `1990-${today}` })];
          for (const p of purchases) {
            const items = p.acme ? [{ sku: 's', brand: 'acme', quantity: 1, amount: p.amount }] : undefined;
            await quoteThenBuy(biz, people[p.birthday ? 1 : 0]!, p.amount, items === undefined ? {} : { items });
          }
        },
      ),
      { numRuns: 25 },
    );
    // Its own bound, past the file's 60 s: 25 runs took 50–56 s in a fresh clone's full run, and one
    // that ran out (60 s, 2026-12-02 02:33) went on in the background and wrote into the Redis the
    // next tests compare before and after.
  }, 180_000);
});

describe('a quote changes nothing', () => {
  it('100 quotes at once, then the purchase still gets the first-purchase award and the budget', async () => {
    const biz = await createBusiness(gw);
    const first = await offer(biz, { goal: 'first_purchase', award: { fixed: 300 } });
    const budgeted = await offer(biz, { goal: 'spend', award: { fixed: 200 }, limits: { budget: 200, per_contact: { count: 1, period: 'lifetime' } } });
    const c = await contact(biz);
    const body = purchaseBody(c, 1000);
    const before = await snapshot();
    const quotes = await Promise.all(Array.from({ length: 100 }, () => call(gw, 'POST', '/v1/purchases/quote', biz.terminal_key, body)));
    expect(await snapshot()).toEqual(before);
    for (const q of quotes) {
      expect(q.status, q.text).toBe(200);
      expect(offerIds(q.body).sort()).toEqual([first, budgeted].sort());
    }
    // The reference the quotes carried was not claimed: the purchase under it is new.
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    expect(p.status, p.text).toBe(201);
    expect(p.headers.get('idempotent-replayed')).toBeNull();
    expect(offerIds(p.body).sort()).toEqual([first, budgeted].sort());
    expect((await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body.commerce).toBe(500);
  });

  it('reference and pay are ignored, whatever they hold', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'spend', kind: 'instant_discount', award: { fixed: 100 } });
    const c = await contact(biz);
    const q = await quote(biz, { cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', reference: 12, pay: { amount: 999999, otp: 'nope' } });
    expect(q.status, q.text).toBe(200);
    expect(q.body).toMatchObject({ discount: 100, amount_due: 900, wallet: { open: 0, commerce: 0 } });
  });
});

describe('a quote is refused as the purchase would be', () => {
  it('unknown CIM, bad body, another currency, an admin key', async () => {
    const biz = await createBusiness(gw);
    const c = await contact(biz);
    const ask = (body: Record<string, unknown>) => quote(biz, body);
    const unknown = await ask({ cim: { type: 'card', value: testCard(9_999_999) }, amount: 1000, currency: 'EUR' });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'contact_not_found']);
    const bad = await ask({ cim: { type: 'card', value: c.card }, amount: -1, currency: 'EUR' });
    expect([bad.status, bad.body.code, bad.body.errors[0].path]).toEqual([400, 'validation_failed', 'amount']);
    const items = await ask({ cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', items: [{ sku: 'a', quantity: 1, amount: 10 }] });
    expect([items.status, items.body.errors[0].path]).toEqual([400, 'items']);
    const currency = await ask({ cim: { type: 'card', value: c.card }, amount: 1000, currency: 'USD' });
    expect([currency.status, currency.body.errors[0].path]).toEqual([400, 'currency']);
    const admin = await call(gw, 'POST', '/v1/purchases/quote', biz.admin_key, { cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' });
    expect([admin.status, admin.body.code]).toEqual([403, 'forbidden']);
    const late = await ask({ cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', occurred_at: '2000-01-01T00:00:00Z' });
    expect([late.status, late.body.errors[0].path]).toEqual([400, 'occurred_at']);
  });
});
