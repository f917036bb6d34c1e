// A redemption reversed after a claw-back of the award it redeemed (a purchase reversed or
// refunded since) voids it "as if it never happened" (API.md): had it never happened, that
// claw-back would have taken the award from its lot. A black-box probe (2026-12-05) found the
// redemption's lots given back whole: the award clawed back came back to life as commerce money
// and the claw-back's open money was taken again (open 200 / commerce 300 where 500 / 0 was due),
// or expired later into commerce debt. Now the claw-back remembers what it found gone of the
// purchase's lots (claw-back.lua noteOwed), and the reversal gives that part back where the
// claw-back took it instead: the debt, else it stays in open. Checked against the ledger, and
// through a rebuild (the owed lots are rebuilt from it: replay.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerBalances, redisBalances } from '../processor/ledger/balances.ts';
import { owedLotsKey } from '../processor/hot/keys.ts';
import { shardOf } from '../core/ids.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;
const ref = () => `rrc-${process.pid}-${Date.now()}-${++seq}`;

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10% back', goal: 'spend', award: { percent: 10 }, validity_days: 30 });
  expect(o.status).toBe(201);
});
afterAll(async () => {
  await gw.close();
});

const pos = async (path: string, body: Record<string, unknown>) => {
  const r = await call(gw, 'POST', path, biz.terminal_key, { reference: ref(), ...body });
  expect(r.status, `${path} ${r.text}`).toBe(201);
  return r.body;
};

async function contact(n: number): Promise<{ id: string; card: string; wallet_code: string }> {
  const card = testCard(884_000_000 + n);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status).toBe(201);
  const code = await call(gw, 'POST', `/v1/contacts/${c.body.id}/wallet-code`, biz.admin_key);
  expect(code.status).toBe(201);
  return { id: c.body.id, card, wallet_code: code.body.wallet_code };
}

/** The wallet in Redis, once the ledger holds everything: the same in the ledger. */
async function settled(contact_id: string): Promise<{ open: number; commerce: number }> {
  const { stores } = gw.processor;
  const ledger = await eventually('the ledger caught up', async () => {
    const redis = await redisBalances(stores.redis, stores.config.shard_count, contact_id);
    const l = (await ledgerBalances(stores.sql, [{ id: contact_id, currency: 'EUR' }])).get(contact_id)!;
    return l.open === redis.open && l.commerce === redis.commerce && l;
  });
  return { open: Number(ledger.open), commerce: Number(ledger.commerce) };
}

describe('a redemption reversed after the award it redeemed was clawed back', () => {
  it('the purchase reversed first: the award stays gone, the open money stays (the probe\'s case)', async () => {
    const c = await contact(1);
    const cim = { type: 'card', value: c.card };
    await pos('/v1/purchases', { cim, amount: 5000, currency: 'EUR' });
    await pos('/v1/redemptions', { cim });
    const p1 = await pos('/v1/purchases', { cim, amount: 3000, currency: 'EUR' });
    const r1 = await pos('/v1/redemptions', { cim });
    expect(r1.wallet).toEqual({ open: 800, commerce: 0 });
    const v1 = await pos('/v1/reversals', { original_reference: p1.reference });
    expect(v1.wallet).toEqual({ open: 500, commerce: 0 });
    const v2 = await pos('/v1/reversals', { original_reference: r1.reference });
    expect(v2.wallet).toEqual({ open: 500, commerce: 0 });
    const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect([w.body.open, w.body.commerce, w.body.expiring]).toEqual([500, 0, []]);
    await pos('/v1/spends', { amount: 500, currency: 'EUR', wallet_code: c.wallet_code });
    expect(await settled(c.id)).toEqual({ open: 0, commerce: 0 });
    const shard = shardOf(c.id, gw.processor.stores.config.shard_count);
    expect(await gw.processor.stores.redis.exists(owedLotsKey(shard, c.id))).toBe(0);
  });

  it('refunded in full first: the same', async () => {
    const c = await contact(2);
    const cim = { type: 'card', value: c.card };
    await pos('/v1/purchases', { cim, amount: 10000, currency: 'EUR' });
    await pos('/v1/redemptions', { cim });
    const p1 = await pos('/v1/purchases', { cim, amount: 5000, currency: 'EUR' });
    const r1 = await pos('/v1/redemptions', { cim });
    const f = await pos('/v1/refunds', { original_reference: p1.reference });
    expect(f.wallet).toEqual({ open: 1000, commerce: 0 });
    const v = await pos('/v1/reversals', { original_reference: r1.reference });
    expect(v.wallet).toEqual({ open: 1000, commerce: 0 });
    expect(await settled(c.id)).toEqual({ open: 1000, commerce: 0 });
  });

  it('the redeemed money spent, the claw-back into commerce debt: the spend reversed settles the debt; the redemption voided, nothing moved', async () => {
    const c = await contact(3);
    const cim = { type: 'card', value: c.card };
    const p1 = await pos('/v1/purchases', { cim, amount: 3000, currency: 'EUR' });
    const r1 = await pos('/v1/redemptions', { cim });
    const s1 = await pos('/v1/spends', { amount: 300, currency: 'EUR', wallet_code: c.wallet_code });
    const f = await pos('/v1/refunds', { original_reference: p1.reference });
    expect(f.wallet).toEqual({ open: 0, commerce: -300 });
    // Until 2026-12-06 the spend's money came back into open beside the debt (300 / -300), and the
    // redemption's reversal then paid the debt with it. The spend's reversal pays it now. The
    // refund's claw-back notes what it took as debt for the lot the redemption had taken, which
    // the redemption's reversal settles: voided, nothing moved (it was 422 until the evening of
    // 2026-12-06: its money was not in open; the sum the same).
    const vs = await pos('/v1/reversals', { original_reference: s1.reference });
    expect(vs.wallet).toEqual({ open: 0, commerce: 0 });
    const vr = await pos('/v1/reversals', { original_reference: r1.reference });
    expect(vr.wallet).toEqual({ open: 0, commerce: 0 });
    const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect([w.body.open, w.body.commerce, w.body.expiring]).toEqual([0, 0, []]);
    expect(await settled(c.id)).toEqual({ open: 0, commerce: 0 });
  });

  it('a redemption reversed with nothing clawed back since: its lots back whole, as before', async () => {
    const c = await contact(4);
    const cim = { type: 'card', value: c.card };
    await pos('/v1/purchases', { cim, amount: 3000, currency: 'EUR' });
    const r = await pos('/v1/redemptions', { cim });
    const v = await pos('/v1/reversals', { original_reference: r.reference });
    expect(v.wallet).toEqual({ open: 0, commerce: 300 });
    expect(await settled(c.id)).toEqual({ open: 0, commerce: 300 });
  });
});
