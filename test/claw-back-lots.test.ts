// Which lots a claw-back takes (README, under reversals): the purchase's own first, each its
// share in proportion to what the purchase put in it, then the earliest others. What the wallet
// keeps then expires when it would have had the refunded part of the sale never happened. Found
// by the black-box audit of 2026-12-03 (second): a refund of half a sale with two awards emptied
// the earlier-expiring one and left the later whole; a refund of a sale whose award never
// expires took another sale's expiring lot instead, so that award no longer expired.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, testCard, type TestGateway } from './helpers.ts';
import { shop, type Shop } from './contract-util.ts';
import { rebuiltGateway, startOnOwnStores } from './rebuilt.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { expectReconciledWith } from './ledger-checks.ts';
import { owedLotsKey } from '../processor/hot/keys.ts';
import { shardOf } from '../core/ids.ts';

let stores: OwnStores;
let gw: TestGateway;
let seq = 0;
const day_ms = 86_400_000;

beforeAll(async () => {
  // The sweeper runs when the test says.
  stores = await startOwnStores('claw_back_lots');
  gw = await startOnOwnStores(stores, { expiry_sweep_ms: 3_600_000 });
});
afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

const ref = () => `cb-${Date.now()}-${++seq}`;
/** An expiry as the wallet writes it: to the second. */
const second = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

async function purchase(s: Shop, amount: number, occurred_at?: string): Promise<string> {
  const reference = ref();
  const p = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, { reference, cim: { type: 'card', value: s.card }, amount, currency: 'EUR', occurred_at });
  expect(p.status, p.text).toBe(201);
  return reference;
}

async function refund(s: Shop, original_reference: string, amount?: number): Promise<Record<string, unknown>> {
  const r = await call(gw, 'POST', '/v1/refunds', s.biz.terminal_key, { reference: ref(), original_reference, amount });
  expect(r.status, r.text).toBe(201);
  return r.body;
}

async function wallet(s: Shop): Promise<Record<string, unknown>> {
  return (await call(gw, 'GET', `/v1/contacts/${s.contact_id}/wallet`, s.biz.admin_key)).body;
}

describe('a claw-back takes the purchase’s own lots', () => {
  it('a half refund of a sale of two awards takes half of each: what is left of each expires when it would have', async () => {
    // Awards of 100 a day and 100 two days, the sale dated so that the first expires in 3 s.
    const s = await shop(gw, testCard(882_000_001), [
      { name: '100 a day', goal: 'spend', award: { fixed: 100 }, validity_days: 1 },
      { name: '100 two days', goal: 'spend', award: { fixed: 100 }, validity_days: 2 },
    ]);
    const expiring_at_ms = Date.now() + 3_000;
    const sale = await purchase(s, 1000, new Date(expiring_at_ms - day_ms).toISOString());
    expect(await refund(s, sale, 500)).toMatchObject({ clawed_back: 100, award_expired: 0 });
    expect(await wallet(s)).toMatchObject({ commerce: 100, expiring: [{ amount: 50, expires_at: second(expiring_at_ms) }, { amount: 50, expires_at: second(expiring_at_ms + day_ms) }] });

    await new Promise((r) => setTimeout(r, expiring_at_ms + 1_500 - Date.now()));
    await gw.processor.expiry.sweep();
    expect(await wallet(s)).toMatchObject({ commerce: 50 });
    // The rest: half of what expired of it is its share, the other half of the later lot is clawed back.
    expect(await refund(s, sale)).toMatchObject({ clawed_back: 50, award_expired: 50, wallet: { open: 0, commerce: 0 } });
    await expectReconciledWith(gw, s.biz);
  });

  it('a refund after one award expired writes off that award’s share and takes the other’s, though a refund came before the expiry', async () => {
    const s = await shop(gw, testCard(882_000_003), [
      { name: '100 a day', goal: 'spend', award: { fixed: 100 }, validity_days: 1 },
      { name: '100 two days', goal: 'spend', award: { fixed: 100 }, validity_days: 2 },
    ]);
    const expiring_at_ms = Date.now() + 3_000;
    const sale = await purchase(s, 1000, new Date(expiring_at_ms - day_ms).toISOString());
    expect(await refund(s, sale, 200)).toMatchObject({ clawed_back: 40, award_expired: 0, wallet: { commerce: 160 } });
    await new Promise((r) => setTimeout(r, expiring_at_ms + 1_500 - Date.now()));
    await gw.processor.expiry.sweep();
    expect(await wallet(s)).toMatchObject({ commerce: 80 });
    // Half the sale: 50 of each award; the first's had expired (written off), the second's is taken.
    expect(await refund(s, sale, 500)).toMatchObject({ clawed_back: 50, award_expired: 50, wallet: { commerce: 30 } });
    const v = await call(gw, 'POST', '/v1/reversals', s.biz.terminal_key, { reference: ref(), original_reference: sale });
    expect(v.status, v.text).toBe(201);
    expect(v.body).toMatchObject({ clawed_back: 30, award_expired: 30, wallet: { open: 0, commerce: 0 } });
    await expectReconciledWith(gw, s.biz);
    // Rebuild derives the same write-offs from the ledger (it warns on any other).
    gw = await rebuiltGateway(gw, stores, { expiry_sweep_ms: 3_600_000 });
    expect(await wallet(s)).toMatchObject({ open: 0, commerce: 0, expiring: [] });
  });

  it('a sale whose award never expires gives back its own, not another sale’s expiring lot', async () => {
    const s = await shop(gw, testCard(882_000_002), [{ name: '100 a week', goal: 'spend', award: { fixed: 100 }, validity_days: 7 }]);
    const expiring = await purchase(s, 1000);
    // The week-long offer is replaced by one that never expires.
    const off = await call(gw, 'PATCH', `/v1/offers/${s.offers[0]}`, s.biz.admin_key, { active: false });
    expect(off.status, off.text).toBe(200);
    const never = await call(gw, 'POST', '/v1/offers', s.biz.admin_key, { name: '100, kept', goal: 'spend', award: { fixed: 100 } });
    expect(never.status, never.text).toBe(201);
    const kept = await purchase(s, 1000);
    const before = await wallet(s);
    expect(before).toMatchObject({ commerce: 200, expiring: [{ amount: 100 }] });

    expect(await refund(s, kept)).toMatchObject({ clawed_back: 100 });
    // As if the second sale never happened: the first's award, with its expiry.
    expect(await wallet(s)).toMatchObject({ commerce: 100, expiring: (before as { expiring: unknown[] }).expiring });
    expect(await refund(s, expiring)).toMatchObject({ clawed_back: 100, wallet: { open: 0, commerce: 0 } });
    await expectReconciledWith(gw, s.biz);
    // Rebuild takes the lots the refunds' entries name: the same wallet.
    const after = await wallet(s);
    gw = await rebuiltGateway(gw, stores, { expiry_sweep_ms: 3_600_000 });
    expect(await wallet(s)).toEqual(after);
  });
  it('a redemption reversed after its purchase’s claw-backs moves back to commerce what they took from commerce, and leaves in open what they took from open; alike after a rebuild', async () => {
    // A rebuild probe (2026-12-06): claw-backs noted every lack of their purchase's lots as owed,
    // and the one-lot case none, so the redemption's reversal settled too much or too little.
    const offers = [
      { name: '500', goal: 'spend', award: { fixed: 500 } },
      { name: '10%', goal: 'spend', award: { percent: 10 }, validity_days: 30 },
    ];
    const redeem = async (s: Shop, amount: number) => {
      const r = await call(gw, 'POST', '/v1/redemptions', s.biz.terminal_key, { reference: ref(), cim: { type: 'card', value: s.card }, amount });
      expect(r.status, r.text).toBe(201);
      return r.body as { reference: string; wallet: unknown };
    };
    const reverse = async (s: Shop, original_reference: string) => {
      const v = await call(gw, 'POST', '/v1/reversals', s.biz.terminal_key, { reference: ref(), original_reference });
      expect(v.status, v.text).toBe(201);
      return v.body as { wallet: unknown };
    };
    // One sale of 500 + 200 (30 days), 300 redeemed (the 200 lot and 100 of the 500), half of it
    // refunded (from commerce: the 500 lot covers it), then reversed (50 from commerce, 300 from open).
    const one = await shop(gw, testCard(882_000_004), offers);
    const sale = await purchase(one, 2000);
    const one_redeemed = await redeem(one, 300);
    expect(one_redeemed.wallet).toEqual({ open: 300, commerce: 400 });
    expect(await refund(one, sale, 1000)).toMatchObject({ clawed_back: 350, wallet: { open: 300, commerce: 50 } });
    expect((await reverse(one, sale)).wallet).toEqual({ open: 0, commerce: 0 });
    // Two sales; 300 redeemed of their 30-day lots; the first reversed, from commerce alone.
    const two = await shop(gw, testCard(882_000_005), offers);
    const first = await purchase(two, 2000);
    await purchase(two, 2000);
    const two_redemption = (await redeem(two, 300)).reference;
    expect((await reverse(two, first)).wallet).toEqual({ open: 300, commerce: 400 });

    await expectReconciledWith(gw, one.biz);
    const owed = async (s: Shop) => stores.redis.client.hGetAll(owedLotsKey(shardOf(s.contact_id, gw.processor.stores.config.shard_count), s.contact_id));
    const live = [await owed(one), await owed(two)];
    expect(Object.values(live[0]!).reduce((sum, v) => sum + Number(v), 0)).toBe(300);
    expect(live[1]).toEqual({});
    gw = await rebuiltGateway(gw, stores, { expiry_sweep_ms: 3_600_000 });
    expect([await owed(one), await owed(two)]).toEqual(live);

    // As if none of it happened: nothing left; as if only the second sale happened: its 700.
    expect((await reverse(one, one_redeemed.reference)).wallet).toEqual({ open: 0, commerce: 0 });
    expect((await reverse(two, two_redemption)).wallet).toEqual({ open: 0, commerce: 700 });
    expect([await owed(one), await owed(two)]).toEqual([{}, {}]);
    await expectReconciledWith(gw, two.biz);
  });
  it('a redemption’s reversal settles only what claw-backs since it owed, and what an instant award’s claw-back took of its money from open; alike after a rebuild', async () => {
    // A review (2026-12-06): a redemption's reversal settled a note an earlier claw-back made for
    // another redemption, and left its own money in open; and a reversal whose instant award
    // took the redemption's money from open noted it as debt, which the redemption's reversal
    // then paid out of open: 422 where nothing was to move.
    const pos = async (s: Shop, path: string, body: Record<string, unknown>) => {
      const r = await call(gw, 'POST', path, s.biz.terminal_key, { reference: ref(), ...body });
      expect(r.status, `${path} ${r.text}`).toBe(201);
      return r.body as { reference: string; wallet: unknown };
    };
    const cim = (s: Shop) => ({ type: 'card', value: s.card });
    const older = await shop(gw, testCard(882_000_006), [{ name: '300', goal: 'spend', award: { fixed: 300 }, validity_days: 30 }]);
    const a = await purchase(older, 1000);
    await pos(older, '/v1/redemptions', { cim: cim(older), amount: 300 });
    expect((await pos(older, '/v1/reversals', { original_reference: a })).wallet).toEqual({ open: 0, commerce: 0 });
    await new Promise((r) => setTimeout(r, 1_100)); // the next sale's lot another second
    await purchase(older, 1000);
    const r2 = await pos(older, '/v1/redemptions', { cim: cim(older), amount: 300 });

    const instant = await shop(gw, testCard(882_000_007), [
      { name: '100 to spend', goal: 'spend', award: { fixed: 100 }, instant_redeem: true },
      { name: '100', goal: 'spend', award: { fixed: 100 }, validity_days: 30 },
    ]);
    const sale = await purchase(instant, 1000);
    const r = await pos(instant, '/v1/redemptions', { cim: cim(instant), amount: 100 });
    const code = (await call(gw, 'GET', `/v1/contacts/${instant.contact_id}`, instant.biz.admin_key)).body.wallet_code as string;
    await pos(instant, '/v1/spends', { amount: 100, currency: 'EUR', wallet_code: code });
    expect((await pos(instant, '/v1/reversals', { original_reference: sale })).wallet).toEqual({ open: 0, commerce: -100 });

    gw = await rebuiltGateway(gw, stores, { expiry_sweep_ms: 3_600_000 });
    // As if R2 never happened: the second sale's 300 in commerce. As if the redemption never
    // happened: the sale reversed after the spend, its commerce award owed as debt.
    expect((await pos(older, '/v1/reversals', { original_reference: r2.reference })).wallet).toEqual({ open: 0, commerce: 300 });
    expect((await pos(instant, '/v1/reversals', { original_reference: r.reference })).wallet).toEqual({ open: 0, commerce: -100 });
    await expectReconciledWith(gw, older.biz);
    await expectReconciledWith(gw, instant.biz);
  });
});
