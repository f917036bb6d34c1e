// The rewards engine through the HTTP contract: every goal, caps and budgets under concurrency,
// schemes, tiers, expiry and pools, against real Redis and PostgreSQL.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetKey } from '../processor/hot/keys.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let seq = 0;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.close();
});

interface Contact {
  id: string;
  card: string;
  referral_code: string;
}

async function contact(biz: BusinessFixture, extra: Record<string, unknown> = {}): Promise<Contact> {
  const card = testCard(5_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }], ...extra });
  expect(c.status, c.text).toBe(201);
  return { id: c.body.id, card, referral_code: c.body.referral_code };
}

async function offer(biz: BusinessFixture, body: Record<string, unknown>): Promise<string> {
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: `o${++seq}`, ...body });
  expect(o.status, o.text).toBe(201);
  return o.body.id;
}

async function buy(biz: BusinessFixture, c: Contact, amount: number, extra: Record<string, unknown> = {}, key = biz.terminal_key) {
  return call(gw, 'POST', '/v1/purchases', key, { reference: `r-${++seq}`, cim: { type: 'card', value: c.card }, amount, currency: 'EUR', ...extra });
}

async function wallet(biz: BusinessFixture, c: Contact) {
  return (await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body;
}

const awarded = (r: { body: { awards: { amount: number }[] } }) => r.body.awards.reduce((s, a) => s + a.amount, 0);

describe('goals', () => {
  it('product: the award applies to the matching items only', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'product', award: { percent: 10 }, conditions: { products: { brands: ['acme'] } } });
    const c = await contact(biz);
    const r = await buy(biz, c, 3000, { items: [{ sku: 'a', brand: 'acme', quantity: 1, amount: 1000 }, { sku: 'b', brand: 'other', quantity: 1, amount: 2000 }] });
    expect(r.status, r.text).toBe(201);
    expect(awarded(r)).toBe(100);
  });

  it('happy hour: days of week and a time window in the venue’s timezone', async () => {
    const biz = await createBusiness(gw);
    const venue = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Tokyo', timezone: 'Asia/Tokyo' });
    const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: venue.body.id, code: 'TOKYO001' });
    await offer(biz, { goal: 'happy_hour', award: { fixed: 200 }, conditions: { days_of_week: [2], time_from: '15:00', time_to: '18:00' } });
    const c = await contact(biz);
    // A terminal's occurred_at is at most a day old: the processor's clock is set to just after.
    const clock = gw.processor.stores.clock;
    const real = clock.now;
    clock.now = () => Date.parse('2026-11-24T07:01:00Z');
    try {
      // Tuesday 2026-11-24 16:00 in Tokyo is 07:00 UTC.
      expect(awarded(await buy(biz, c, 1000, { occurred_at: '2026-11-24T07:00:00Z' }, t.body.api_key))).toBe(200);
      // 14:00 in Tokyo: before the window.
      expect(awarded(await buy(biz, c, 1000, { occurred_at: '2026-11-24T05:00:00Z' }, t.body.api_key))).toBe(0);
      // Monday 17:00 in Tokyo, inside the hours.
      expect(awarded(await buy(biz, c, 1000, { occurred_at: '2026-11-23T08:00:00Z' }, t.body.api_key))).toBe(0);
      // 19:00 in Tokyo: after it.
      clock.now = () => Date.parse('2026-11-24T10:01:00Z');
      expect(awarded(await buy(biz, c, 1000, { occurred_at: '2026-11-24T10:00:00Z' }, t.body.api_key))).toBe(0);
    } finally {
      clock.now = real;
    }
  });

  it('birthday: the first purchase of that day only', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'birthday', award: { fixed: 500 } });
    const today = new Date().toISOString().slice(5, 10);
    const c = await contact(biz, { birth_date: `1990-${today}` });
    const other = await contact(biz, { birth_date: '1990-01-01' === `1990-${today}` ? '1990-06-15' : '1990-01-01' });
    const results = await Promise.all(Array.from({ length: 5 }, () => buy(biz, c, 1000)));
    expect(results.map(awarded).sort()).toEqual([0, 0, 0, 0, 500]);
    expect(awarded(await buy(biz, other, 1000))).toBe(0);
  });

  it('first purchase: once, even under concurrency', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'first_purchase', award: { fixed: 300 } });
    const c = await contact(biz);
    const results = await Promise.all(Array.from({ length: 10 }, () => buy(biz, c, 1000)));
    expect(results.map(awarded).reduce((a, b) => a + b, 0)).toBe(300);
  });

  it('referral: the referrer, once, on the referred contact’s first purchase', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'referral', award: { fixed: 700 } });
    const referrer = await contact(biz);
    const referred = await contact(biz, { referred_by: referrer.referral_code });
    await buy(biz, referred, 1000);
    await buy(biz, referred, 1000);
    expect((await wallet(biz, referrer)).commerce).toBe(700);
    expect((await wallet(biz, referred)).commerce).toBe(0);
  });

  it('signup: on creation, and on joining a scheme', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'signup', award: { fixed: 250 } });
    const scheme = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Club', signup: 'self' });
    await offer(biz, { goal: 'signup', award: { fixed: 100 }, scheme_id: scheme.body.id });
    const c = await contact(biz);
    expect((await wallet(biz, c)).commerce).toBe(250);
    expect((await call(gw, 'POST', `/v1/schemes/${scheme.body.id}/signups`, biz.admin_key, { contact_id: c.id })).status).toBe(201);
    expect((await wallet(biz, c)).commerce).toBe(350);
    await call(gw, 'POST', `/v1/schemes/${scheme.body.id}/signups`, biz.admin_key, { contact_id: c.id });
    expect((await wallet(biz, c)).commerce).toBe(350);
  });
});

describe('schemes, kinds and resolution', () => {
  it('scheme offers reach members only; best_per_scheme takes the largest of each', async () => {
    const biz = await createBusiness(gw, { reward_resolution: 'best_per_scheme' });
    const students = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Students', signup: 'self' });
    await offer(biz, { goal: 'spend', award: { fixed: 10 } });
    await offer(biz, { goal: 'spend', award: { fixed: 30 } });
    await offer(biz, { goal: 'spend', award: { fixed: 50 }, scheme_id: students.body.id });
    await offer(biz, { goal: 'spend', award: { fixed: 40 }, scheme_id: students.body.id });
    const member = await contact(biz);
    const outsider = await contact(biz);
    await call(gw, 'POST', `/v1/schemes/${students.body.id}/signups`, biz.admin_key, { contact_id: member.id });
    expect((await buy(biz, member, 1000)).body.awards.map((a: any) => a.amount).sort()).toEqual([30, 50]);
    expect((await buy(biz, outsider, 1000)).body.awards.map((a: any) => a.amount)).toEqual([30]);
  });

  it('instant discounts lower amount_due; instant_redeem awards land in open', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'spend', kind: 'instant_discount', award: { percent: 10 } });
    await offer(biz, { goal: 'spend', award: { fixed: 55 }, instant_redeem: true });
    const c = await contact(biz);
    const r = await buy(biz, c, 2000);
    expect(r.body.discount).toBe(200);
    expect(r.body.amount_due).toBe(1800);
    expect(r.body.wallet).toEqual({ open: 55, commerce: 0 });
  });
});

describe('caps and budgets under concurrency', () => {
  it('20 simultaneous purchases by one contact against a 1-per-day cap award once', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'spend', award: { fixed: 100 }, limits: { per_contact: { count: 1, period: 'day' } } });
    const c = await contact(biz);
    const results = await Promise.all(Array.from({ length: 20 }, () => buy(biz, c, 1000)));
    expect(results.every((r) => r.status === 201)).toBe(true);
    expect(results.map(awarded).reduce((a, b) => a + b, 0)).toBe(100);
    expect((await wallet(biz, c)).commerce).toBe(100);
  });

  it('30 contacts buying at once against a budget of 10 awards award exactly 10', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'spend', award: { fixed: 100 }, limits: { budget: 1000 } });
    const contacts = await Promise.all(Array.from({ length: 30 }, () => contact(biz)));
    const results = await Promise.all(contacts.map((c) => buy(biz, c, 1000)));
    expect(results.every((r) => r.status === 201)).toBe(true);
    expect(results.filter((r) => awarded(r) === 100)).toHaveLength(10);
    expect(results.map(awarded).reduce((a, b) => a + b, 0)).toBe(1000);
  });
});

describe('budgets hold exactly what was awarded', () => {
  const used = async (offer_id: string) => Number((await gw.processor.stores.redis.get(budgetKey(offer_id))) ?? 0);

  it('an award resolution takes away, a refused claim and a replay keep none of it', async () => {
    const biz = await createBusiness(gw, { reward_resolution: 'best' });
    const budgeted = await offer(biz, { goal: 'spend', award: { fixed: 100 }, limits: { budget: 10_000 } });
    await offer(biz, { goal: 'spend', award: { fixed: 500 }, conditions: { tags: ['vip'] } });
    const plain = await contact(biz);
    const vip = await contact(biz, { tags: ['vip'] });

    // For a plain contact the budgeted offer is the best: awarded, its budget used.
    expect(awarded(await buy(biz, plain, 1000))).toBe(100);
    expect(await used(budgeted)).toBe(100);
    // For a tagged one another offer is the best: nothing of the budget kept.
    const v = await buy(biz, vip, 1000);
    expect(v.body.awards.map((a: { amount: number }) => a.amount)).toEqual([500]);
    expect(await used(budgeted)).toBe(100);
    // The same reference with another body: 409, nothing of the budget kept.
    const body = { reference: `early-${++seq}`, cim: { type: 'card', value: plain.card }, amount: 1000, currency: 'EUR' };
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body)).status).toBe(201);
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...body, amount: 1001 })).status).toBe(409);
    expect(await used(budgeted)).toBe(200);
    // A replay: nothing awarded again, nothing kept reserved.
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body)).headers.get('idempotent-replayed')).toBe('true');
    expect(await used(budgeted)).toBe(200);
  });

  it('a budgeted offer for tagged contacts, 8 buying at once: never past its budget', async () => {
    const biz = await createBusiness(gw);
    const tagged = await offer(biz, { goal: 'spend', award: { fixed: 100 }, conditions: { tags: ['vip'] }, limits: { budget: 500 } });
    const vips = await Promise.all(Array.from({ length: 8 }, () => contact(biz, { tags: ['vip'] })));
    const results = await Promise.all(vips.map((c) => buy(biz, c, 1000)));
    expect(results.map(awarded).reduce((a, b) => a + b, 0)).toBe(500);
    expect(await used(tagged)).toBe(500);
  });
});

describe('tiers', () => {
  it('a contact advances at once when its period units reach a tier', async () => {
    const biz = await createBusiness(gw);
    const put = await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [
      { name: 'silver', min_period_units: 50, period: 'month' },
      { name: 'gold', min_period_units: 200, period: 'month' },
    ]);
    expect(put.status, put.text).toBe(200);
    await offer(biz, { goal: 'spend', award: { fixed: 1000 }, conditions: { tiers: ['gold'] } });
    const c = await contact(biz);
    expect(awarded(await buy(biz, c, 6000))).toBe(0); // 60 units: silver
    expect((await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body.tier).toBe('silver');
    expect(awarded(await buy(biz, c, 15_000))).toBe(0); // 210 units: gold from now on
    expect((await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body.tier).toBe('gold');
    expect(awarded(await buy(biz, c, 100))).toBe(1000);
  });
});

describe('expiry and pools', () => {
  it('an award expires, the ledger shows the expiry, and redemption takes the earliest lot first', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'spend', award: { fixed: 100 }, validity_days: 1, conditions: { min_amount: 5000 } });
    await offer(biz, { goal: 'spend', award: { fixed: 300 }, validity_days: 30 });
    const c = await contact(biz);
    await buy(biz, c, 5000); // 100 (1 day) + 300 (30 days)
    let w = await wallet(biz, c);
    expect(w.commerce).toBe(400);
    expect(w.expiring.map((e: any) => e.amount)).toEqual([100, 300]);
    // Redeem 50: from the lot expiring first.
    const r = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: `x-${++seq}`, cim: { type: 'card', value: c.card }, amount: 50 });
    expect(r.status, r.text).toBe(201);
    w = await wallet(biz, c);
    expect(w.expiring.map((e: any) => e.amount)).toEqual([50, 300]);

    const clock = gw.processor.stores.clock;
    const real = clock.now;
    clock.now = () => real() + 2 * 86_400_000;
    try {
      expect(await gw.processor.expiry.sweep()).toBeGreaterThanOrEqual(1);
      w = await wallet(biz, c);
      expect(w.commerce).toBe(300);
      expect(w.expiring.map((e: any) => e.amount)).toEqual([300]);
    } finally {
      clock.now = real;
    }
    const statement = await eventually('the expiry in the ledger', async () => {
      const s = await call(gw, 'GET', `/v1/contacts/${c.id}/statement`, biz.admin_key);
      return s.body.lines?.some((l: any) => l.kind === 'expiry') ? s : undefined;
    });
    const expiry = statement.body.lines.find((l: any) => l.kind === 'expiry');
    expect(expiry.commerce_delta).toBe(-50);
    expect(statement.body.closing).toEqual({ open: 50, commerce: 300 });
  });

  it('a pool named after a merchant code redeems only at that merchant', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { goal: 'spend', award: { fixed: 200 }, pool: biz.merchant_code });
    const own = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Own' });
    const own_terminal = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: own.body.id, code: 'OWN00001' });
    const c = await contact(biz);
    await buy(biz, c, 1000);
    expect((await wallet(biz, c)).pools).toEqual([{ pool: biz.merchant_code, amount: 200 }]);
    const elsewhere = await call(gw, 'POST', '/v1/redemptions', own_terminal.body.api_key, { reference: `y-${++seq}`, cim: { type: 'card', value: c.card } });
    expect(elsewhere.status).toBe(422);
    const there = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: `y-${++seq}`, cim: { type: 'card', value: c.card } });
    expect(there.status, there.text).toBe(201);
    expect(there.body.redeemed).toBe(200);
  });

  it('a redemption from a pool whose name has " and \\ reverses into the same pool; the ledger agrees', async () => {
    // The redemption records the lots it took as JSON holding the pool's name: written
    // unescaped, the reversal could not read it back and the redemption could not be reversed.
    const biz = await createBusiness(gw);
    const pool = `Q"\\1`;
    const m = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Quoted', code: pool });
    expect(m.status, m.text).toBe(201);
    const v = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Quoted venue', merchant_id: m.body.id });
    const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: v.body.id, code: 'QUOTE001' });
    expect(t.status, t.text).toBe(201);
    await offer(biz, { goal: 'spend', award: { fixed: 200 }, pool, validity_days: 30 });
    const c = await contact(biz);
    const p = await buy(biz, c, 1000, {}, t.body.api_key);
    expect(awarded(p)).toBe(200);
    const before = await wallet(biz, c);
    expect(before.pools).toEqual([{ pool, amount: 200 }]);
    const r = await call(gw, 'POST', '/v1/redemptions', t.body.api_key, { reference: `q-${++seq}`, cim: { type: 'card', value: c.card } });
    expect(r.status, r.text).toBe(201);
    expect(r.body.wallet).toEqual({ open: 200, commerce: 0 });
    const back = await call(gw, 'POST', '/v1/reversals', t.body.api_key, { reference: `q-${++seq}`, original_reference: r.body.reference });
    expect(back.status, back.text).toBe(201);
    expect(back.body.wallet).toEqual({ open: 0, commerce: 200 });
    const after = await wallet(biz, c);
    expect(after.pools).toEqual(before.pools);
    expect(after.expiring).toEqual(before.expiring);
    // Redeemable again, at that merchant, from the same lot.
    const again = await call(gw, 'POST', '/v1/redemptions', t.body.api_key, { reference: `q-${++seq}`, cim: { type: 'card', value: c.card } });
    expect(again.body.redeemed).toBe(200);

    const { sql } = gw.processor.stores;
    const postings = await eventually('the ledger to hold all four', async () => {
      const [n] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where business_id = ${biz.business_id}`;
      if (n!.n < 4) return undefined;
      return sql<{ debit_account: string; credit_account: string; amount: number }[]>`
        select p.debit_account, p.credit_account, p.amount from ledger_postings p join ledger_transactions t on t.id = p.transaction_id
        where t.business_id = ${biz.business_id}`;
    });
    const sums = new Map<string, number>();
    for (const x of postings) {
      sums.set(x.credit_account, (sums.get(x.credit_account) ?? 0) + x.amount);
      sums.set(x.debit_account, (sums.get(x.debit_account) ?? 0) - x.amount);
    }
    const w = await wallet(biz, c);
    expect(w).toMatchObject({ open: 200, commerce: 0 });
    expect(sums.get(`${c.id}:open:EUR`) ?? 0).toBe(w.open);
    expect(sums.get(`${c.id}:commerce:EUR`) ?? 0).toBe(w.commerce);
    expect(sums.get(`${biz.business_id}:rewards:EUR`)).toBe(-200);
  });
});

describe('offers across gateway processes', () => {
  it('a change made through one gateway is applied by another within a second', async () => {
    const other = await startTestGateway();
    try {
      const biz = await createBusiness(gw);
      const id = await offer(biz, { goal: 'spend', award: { fixed: 100 } });
      const c = await contact(biz);
      const through_other = () => call(other, 'POST', '/v1/purchases', biz.terminal_key, { reference: `ps-${++seq}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' });
      expect(awarded(await through_other())).toBe(100); // `other` has compiled the offers now
      expect((await call(gw, 'PATCH', `/v1/offers/${id}`, biz.admin_key, { active: false })).status).toBe(200);
      const started = Date.now();
      await eventually('the other gateway to stop awarding', async () => awarded(await through_other()) === 0, 1_000);
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      await other.close();
    }
  });
});

describe('conditions and tier periods', () => {
  it('merchants, venues and tags restrict offers', async () => {
    const biz = await createBusiness(gw);
    const own = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Own' });
    const own_terminal = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: own.body.id, code: 'OWN00002' });
    await offer(biz, { goal: 'spend', award: { fixed: 1 }, conditions: { merchants: [biz.merchant_id] } });
    await offer(biz, { goal: 'spend', award: { fixed: 10 }, conditions: { venues: [own.body.id] } });
    await offer(biz, { goal: 'spend', award: { fixed: 100 }, conditions: { tags: ['student'] } });
    const plain = await contact(biz);
    const student = await contact(biz, { tags: ['student'] });
    expect(awarded(await buy(biz, plain, 1000))).toBe(1);
    expect(awarded(await buy(biz, plain, 1000, {}, own_terminal.body.api_key))).toBe(10);
    expect(awarded(await buy(biz, student, 1000))).toBe(101);
  });

  it('a sign-up offer for a tier awards a contact holding that tier on joining, and not one without it', async () => {
    // The sign-up award read the contact's tier from a hash field nothing writes: a sign-up
    // offer with tiers never awarded anyone.
    const biz = await createBusiness(gw);
    expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 100, period: 'month' }])).status).toBe(200);
    const club = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Gold club', signup: 'self' });
    await offer(biz, { goal: 'signup', award: { fixed: 400 }, scheme_id: club.body.id, conditions: { tiers: ['gold'] } });
    const gold = await contact(biz);
    const plain = await contact(biz);
    expect((await buy(biz, gold, 10_000)).status).toBe(201); // 100.00 EUR: 100 units this month
    expect((await buy(biz, plain, 9_900)).status).toBe(201); // 99 units
    expect((await call(gw, 'GET', `/v1/contacts/${gold.id}`, biz.admin_key)).body.tier).toBe('gold');
    expect((await call(gw, 'GET', `/v1/contacts/${plain.id}`, biz.admin_key)).body.tier).toBeNull();
    for (const c of [gold, plain]) {
      const s = await call(gw, 'POST', `/v1/schemes/${club.body.id}/signups`, biz.admin_key, { contact_id: c.id });
      expect(s.status, s.text).toBe(201);
    }
    expect((await wallet(biz, gold)).commerce).toBe(400);
    expect((await wallet(biz, plain)).commerce).toBe(0);
  });

  it('a tier is kept through the next period and lost after it (period end re-evaluation)', async () => {
    const biz = await createBusiness(gw);
    await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'silver', min_period_units: 50, period: 'month' }]);
    await offer(biz, { goal: 'spend', award: { fixed: 500 }, conditions: { tiers: ['silver'] } });
    const c = await contact(biz);
    const clock = gw.processor.stores.clock;
    const real = clock.now;
    const tier = async () => (await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body.tier;
    try {
      clock.now = () => Date.parse('2026-09-20T12:00:00Z');
      expect(awarded(await buy(biz, c, 6000))).toBe(0);
      expect(await tier()).toBe('silver');
      clock.now = () => Date.parse('2026-10-05T12:00:00Z');
      expect(await tier()).toBe('silver');
      expect(awarded(await buy(biz, c, 100))).toBe(500);
      clock.now = () => Date.parse('2026-11-02T12:00:00Z');
      expect(await tier()).toBeNull();
      expect(awarded(await buy(biz, c, 100))).toBe(0);
    } finally {
      clock.now = real;
    }
  });
});
