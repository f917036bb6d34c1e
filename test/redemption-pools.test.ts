// Commerce pools through the contract (API.md, POST /v1/redemptions): a pool named after one of
// the business's merchant codes redeems only at that merchant; any other pool redeems anywhere,
// over HTTP and the terminal channel alike. Against real Redis and PostgreSQL.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restricted_pools_max } from '../processor/hot/redeem.ts';
import { readRewards, rewardsKey } from '../processor/rewards-snapshot.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { TerminalClient } from './ws-client.ts';

let gw: TestGateway;
let seq = 0;

beforeAll(async () => {
  gw = await startTestGateway({}, true);
});
afterAll(async () => {
  await gw.close();
});

/** A terminal at a new merchant with this code, or (code null) at a venue of the business's own. */
async function terminalAt(biz: BusinessFixture, code: string | null): Promise<string> {
  let merchant_id: string | undefined;
  if (code !== null) {
    const m = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: `Merchant ${code}`, code });
    expect(m.status, m.text).toBe(201);
    merchant_id = m.body.id;
  }
  const v = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: `Venue ${++seq}`, ...(merchant_id === undefined ? {} : { merchant_id }) });
  expect(v.status, v.text).toBe(201);
  const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: v.body.id, code: `P${String(++seq).padStart(7, '0')}` });
  expect(t.status, t.text).toBe(201);
  return t.body.api_key;
}

/** A contact awarded `amount` in `pool` by a purchase at the fixture's merchant, and the offer that awarded it. */
async function awarded(biz: BusinessFixture, pool: string, amount: number): Promise<{ id: string; card: string; offer_id: string }> {
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: `pool ${pool}`, goal: 'spend', award: { fixed: amount }, pool, validity_days: 30 });
  expect(o.status, o.text).toBe(201);
  const card = testCard(31_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `pp-${++seq}`, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
  expect(p.status, p.text).toBe(201);
  expect(p.body.awards.map((a: { pool: string; amount: number }) => [a.pool, a.amount])).toEqual([[pool, amount]]);
  return { id: c.body.id, card, offer_id: o.body.id };
}

const redeem = (key: string, card: string, amount?: number) =>
  call(gw, 'POST', '/v1/redemptions', key, { reference: `rd-${++seq}`, cim: { type: 'card', value: card }, ...(amount === undefined ? {} : { amount }) });

const walletOf = async (biz: BusinessFixture, contact_id: string) => (await call(gw, 'GET', `/v1/contacts/${contact_id}/wallet`, biz.admin_key)).body;

/** Refused for want of anything redeemable here, and the wallet as it was. */
async function refusedHere(biz: BusinessFixture, key: string, c: { id: string; card: string }): Promise<void> {
  const before = await walletOf(biz, c.id);
  const r = await redeem(key, c.card);
  expect([r.status, r.body.code], r.text).toEqual([422, 'insufficient_funds']);
  expect(await walletOf(biz, c.id)).toEqual(before);
}

describe('commerce pools at redemption', () => {
  it('a pool that names no merchant code redeems at the own venues, at any merchant, over HTTP and the terminal channel', async () => {
    const biz = await createBusiness(gw);
    const own = await terminalAt(biz, null);
    const other = await terminalAt(biz, 'M001');
    const c = await awarded(biz, 'coffee-club', 400);
    expect((await walletOf(biz, c.id)).pools).toEqual([{ pool: 'coffee-club', amount: 400 }]);
    for (const key of [own, other, biz.terminal_key]) {
      const r = await redeem(key, c.card, 100);
      expect([r.status, r.body.redeemed], r.text).toEqual([201, 100]);
    }
    const client = await TerminalClient.open(gw.port, own);
    try {
      const r = await client.request('1', 'redemption', { reference: `ws-${++seq}`, cim: { type: 'card', value: c.card } });
      expect([r.status, r.body.redeemed, r.body.wallet]).toEqual([201, 100, { open: 400, commerce: 0 }]);
    } finally {
      await client.close();
    }
  });

  it('a pool named after merchant code M001 redeems only at a terminal of that merchant', async () => {
    const biz = await createBusiness(gw);
    const own = await terminalAt(biz, null);
    const m001 = await terminalAt(biz, 'M001');
    const c = await awarded(biz, 'M001', 300);
    for (const key of [own, biz.terminal_key]) await refusedHere(biz, key, c);
    const r = await redeem(m001, c.card);
    expect([r.status, r.body.redeemed, r.body.wallet], r.text).toEqual([201, 300, { open: 300, commerce: 0 }]);
  });

  it('a merchant made after the award, whose code is the pool\'s name, makes that pool redeem only there', async () => {
    const biz = await createBusiness(gw);
    const own = await terminalAt(biz, null);
    const c = await awarded(biz, 'late-shop', 300);
    const r = await redeem(own, c.card, 100);
    expect([r.status, r.body.redeemed], r.text).toEqual([201, 100]);
    const late = await terminalAt(biz, 'late-shop');
    for (const key of [own, biz.terminal_key]) await refusedHere(biz, key, c);
    const there = await redeem(late, c.card);
    expect([there.status, there.body.redeemed, there.body.wallet], there.text).toEqual([201, 200, { open: 300, commerce: 0 }]);
  });

  it('a pool an offer named before a PATCH gave it another stays restricted: its lots keep the name', async () => {
    const biz = await createBusiness(gw);
    const own = await terminalAt(biz, null);
    const m001 = await terminalAt(biz, 'M001');
    const c = await awarded(biz, 'M001', 300);
    const patched = await call(gw, 'PATCH', `/v1/offers/${c.offer_id}`, biz.admin_key, { pool: 'coffee-club' });
    expect([patched.status, patched.body.pool], patched.text).toEqual([200, 'coffee-club']);
    await refusedHere(biz, own, c);
    const r = await redeem(m001, c.card);
    expect([r.status, r.body.redeemed], r.text).toEqual([201, 300]);
  });
});

describe('the pools a business\'s offers name', () => {
  it('are at most restricted_pools_max different ones: a new one past it is refused, a known one is not', async () => {
    const biz = await createBusiness(gw);
    const { sql } = gw.processor.stores;
    await sql`insert into offer_pools (business_id, pool) select ${biz.business_id}, 'p' || g from generate_series(1, ${restricted_pools_max - 1}) g`;
    const offer = (pool: string) => call(gw, 'POST', '/v1/offers', biz.admin_key, { name: `pool ${pool}`, goal: 'spend', award: { fixed: 1 }, pool });
    const last = await offer('the-last');
    expect(last.status, last.text).toBe(201);
    const refused = await offer('one-more');
    expect([refused.status, refused.body.code, refused.body.errors?.[0]?.path], refused.text).toEqual([400, 'validation_failed', 'pool']);
    const patched = await call(gw, 'PATCH', `/v1/offers/${last.body.id}`, biz.admin_key, { pool: 'one-more' });
    expect([patched.status, patched.body.code]).toEqual([400, 'validation_failed']);
    expect((await offer('p1')).status).toBe(201);
    const [n] = await sql<{ offers: number; pools: number }[]>`
      select (select count(*)::int from offers where business_id = ${biz.business_id}) as offers,
             (select count(*)::int from offer_pools where business_id = ${biz.business_id}) as pools`;
    expect(n).toEqual({ offers: 2, pools: restricted_pools_max });
    expect((await call(gw, 'GET', `/v1/offers/${last.body.id}`, biz.admin_key)).body.pool).toBe('the-last');
  });

  it('a rewards snapshot written before restricted pools were kept is not read: it is made again', async () => {
    const biz = await createBusiness(gw);
    const { redis } = gw.processor.stores;
    await redis.set(rewardsKey(biz.business_id), JSON.stringify({ offers: [], auto_schemes: [], tiers: [] }));
    expect(await readRewards(redis, biz.business_id)).toBeUndefined();
  });
});
