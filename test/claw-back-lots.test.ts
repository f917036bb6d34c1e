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

/** A POS call under a fresh reference that must be approved (201): its answer. */
async function approved(key: string, path: string, body: Record<string, unknown>): Promise<{ reference: string; wallet: unknown } & Record<string, any>> {
  const r = await call(gw, 'POST', path, key, { reference: ref(), ...body });
  expect(r.status, `${path} ${r.text}`).toBe(201);
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
    const redeem = (s: Shop, amount: number) => approved(s.biz.terminal_key, '/v1/redemptions', { cim: { type: 'card', value: s.card }, amount });
    const reverse = (s: Shop, original_reference: string) => approved(s.biz.terminal_key, '/v1/reversals', { original_reference });
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
    // The first: 300 taken from open for its redeemed lots (the reversal's), and 100 of the 30-day
    // lot's share the refund took from the other lot instead. The second: what its reversal took
    // from the second sale's lots for the first's redeemed 30-day lot, nothing from open.
    const [open_owed, instead] = [(o: Record<string, string>) => Object.entries(o).filter(([f]) => f[26] !== '>'), (o: Record<string, string>) => Object.entries(o).filter(([f]) => f[26] === '>')];
    expect(open_owed(live[0]!).reduce((sum, [, v]) => sum + Number(v), 0)).toBe(300);
    expect(instead(live[0]!).map(([, v]) => JSON.parse(v))).toEqual([[[expect.stringMatching(/^9{13}\|$/), 100]]]);
    expect(open_owed(live[1]!)).toEqual([]);
    // (100 or 200: the two sales' 30-day lots are one when made within the same second.)
    expect(instead(live[1]!).flatMap(([, v]) => JSON.parse(v) as [string, number][]).reduce((sum, [, a]) => sum + a, 0)).toBeGreaterThan(0);
    gw = await rebuiltGateway(gw, stores, { expiry_sweep_ms: 3_600_000 });
    expect([await owed(one), await owed(two)]).toEqual(live);

    // As if none of it happened: nothing left; as if only the second sale happened: its 700.
    expect((await reverse(one, one_redeemed.reference)).wallet).toEqual({ open: 0, commerce: 0 });
    expect((await reverse(two, two_redemption)).wallet).toEqual({ open: 0, commerce: 700 });
    // Its lots as the second sale left them: 500 that never expires, 200 in 30 days.
    expect((await wallet(two)).expiring).toEqual([{ amount: 200, expires_at: expect.any(String) }]);
    expect([await owed(one), await owed(two)]).toEqual([{}, {}]);
    await expectReconciledWith(gw, two.biz);
  });

  it('a redemption’s reversal settles only what claw-backs since it owed, and what an instant award’s claw-back took of its money from open; alike after a rebuild', async () => {
    // A review (2026-12-06): a redemption's reversal settled a note an earlier claw-back made for
    // another redemption, and left its own money in open; and a reversal whose instant award
    // took the redemption's money from open noted it as debt, which the redemption's reversal
    // then paid out of open: 422 where nothing was to move.
    const pos = (s: Shop, path: string, body: Record<string, unknown>) => approved(s.biz.terminal_key, path, body);
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

  it('a redemption’s reversal gives back to the lots a claw-back took for its redeemed ones: the sale’s reversal then finds what it left, not an expired lot (a black-box probe, 2026-12-06)', async () => {
    // 500 that expires in 3 s, 1,000 in 30 days; 300 redeemed (of the expiring lot), the rest of
    // it expires; half the sale refunded: 250 of the expiring lot's share (200 written off as
    // expired, 50 taken from the 30-day lot instead) and 500 of the other's.
    const s = await shop(gw, testCard(882_000_008), [
      { name: '500 a day', goal: 'spend', award: { fixed: 500 }, validity_days: 1 },
      { name: '10%', goal: 'spend', award: { percent: 10 }, validity_days: 30 },
    ]);
    const expiring_at_ms = Date.now() + 3_000;
    const sale = await purchase(s, 10_000, new Date(expiring_at_ms - day_ms).toISOString());
    const r = await call(gw, 'POST', '/v1/redemptions', s.biz.terminal_key, { reference: ref(), cim: { type: 'card', value: s.card }, amount: 300 });
    expect([r.status, r.body.wallet], r.text).toEqual([201, { open: 300, commerce: 1_200 }]);
    await new Promise((done) => setTimeout(done, expiring_at_ms + 1_500 - Date.now()));
    await gw.processor.expiry.sweep();
    expect(await refund(s, sale, 5_000)).toMatchObject({ clawed_back: 550, award_expired: 200, wallet: { open: 300, commerce: 450 } });
    // The 50 back to the 30-day lot, 250 to the expiring one (expired at once, as it would have).
    const v = await call(gw, 'POST', '/v1/reversals', s.biz.terminal_key, { reference: ref(), original_reference: r.body.reference });
    expect([v.status, v.body.wallet], v.text).toEqual([201, { open: 0, commerce: 500 }]);
    await gw.processor.expiry.sweep();
    const all = await call(gw, 'POST', '/v1/reversals', s.biz.terminal_key, { reference: ref(), original_reference: sale });
    expect([all.status, all.body.clawed_back, all.body.award_expired, all.body.wallet], all.text).toEqual([201, 500, 250, { open: 0, commerce: 0 }]);
    await expectReconciledWith(gw, s.biz);
  });

  it('a redemption’s reversal gives a merchant’s pool back what a claw-back took of it for the redeemed lots: it redeems only there again (a black-box probe, 2026-12-06)', async () => {
    const s = await shop(gw, testCard(882_000_009), [
      { name: 'club', goal: 'spend', award: { fixed: 300 }, pool: 'coffee-club' },
      { name: '10%', goal: 'spend', award: { percent: 10 } },
    ]);
    const own_pool = await call(gw, 'POST', '/v1/offers', s.biz.admin_key, { name: 'here only', goal: 'spend', award: { fixed: 200 }, pool: s.biz.merchant_code });
    expect(own_pool.status, own_pool.text).toBe(201);
    const m = await call(gw, 'POST', '/v1/merchants', s.biz.admin_key, { name: 'Elsewhere', code: `E${s.biz.merchant_code}`.slice(0, 15) });
    const v = await call(gw, 'POST', '/v1/venues', s.biz.admin_key, { name: 'Elsewhere', merchant_id: m.body.id });
    const t = await call(gw, 'POST', '/v1/terminals', s.biz.admin_key, { venue_id: v.body.id, code: 'T0000002' });
    expect([m.status, v.status, t.status], t.text).toEqual([201, 201, 201]);
    const elsewhere = t.body.api_key as string;
    const redeemAll = async () => {
      const r = await call(gw, 'POST', '/v1/redemptions', elsewhere, { reference: ref(), cim: { type: 'card', value: s.card } });
      expect(r.status, r.text).toBe(201);
      return r.body as { reference: string; redeemed: number; wallet: unknown };
    };
    const first = await purchase(s, 10_000);
    await purchase(s, 4_000);
    // Elsewhere: the club's and the unpooled lots, not those of the first merchant's pool.
    const r = await redeemAll();
    expect([r.redeemed, r.wallet]).toEqual([2_000, { open: 2_000, commerce: 400 }]);
    // The first sale reversed: its pool lot, then the second's (for its redeemed lots), then open.
    const v1 = await call(gw, 'POST', '/v1/reversals', s.biz.terminal_key, { reference: ref(), original_reference: first });
    expect([v1.status, v1.body.wallet], v1.text).toEqual([201, { open: 900, commerce: 0 }]);
    const v2 = await call(gw, 'POST', '/v1/reversals', elsewhere, { reference: ref(), original_reference: r.reference });
    expect([v2.status, v2.body.wallet], v2.text).toEqual([201, { open: 0, commerce: 900 }]);
    // As if only the second sale happened: 200 in the first merchant's pool, 300 in the club's, 400 free.
    const w = await wallet(s);
    expect((w.pools as { pool: string; amount: number }[]).sort((a, b) => a.pool.localeCompare(b.pool))).toEqual(
      [{ pool: s.biz.merchant_code, amount: 200 }, { pool: 'coffee-club', amount: 300 }].sort((a, b) => a.pool.localeCompare(b.pool)),
    );
    expect((await redeemAll()).redeemed).toBe(700);
    await expectReconciledWith(gw, s.biz);
  });

  it('a redemption’s reversal follows a claw-back’s lot taken instead on to the lot a later claw-back took for that one (a review, 2026-12-06)', async () => {
    const s = await shop(gw, testCard(882_000_010), [{ name: '100 a day', goal: 'spend', award: { fixed: 100 }, validity_days: 1 }]);
    const hour_ms = 3_600_000;
    // Three sales, their lots A < B < C by expiry, an hour apart.
    const [s1, s2, s3] = [await purchase(s, 1_000, new Date(Date.now() - 3 * hour_ms).toISOString()), await purchase(s, 1_000, new Date(Date.now() - 2 * hour_ms).toISOString()), await purchase(s, 1_000, new Date(Date.now() - hour_ms).toISOString())];
    const r = await call(gw, 'POST', '/v1/redemptions', s.biz.terminal_key, { reference: ref(), cim: { type: 'card', value: s.card }, amount: 100 });
    expect(r.status, r.text).toBe(201);
    const reverse = (original_reference: string) => approved(s.biz.terminal_key, '/v1/reversals', { original_reference });
    // The first reversed: A redeemed, B taken instead. Half the second refunded: B gone, 50 of C instead.
    expect((await reverse(s1)).wallet).toEqual({ open: 100, commerce: 100 });
    expect(await refund(s, s2, 500)).toMatchObject({ clawed_back: 50, wallet: { open: 100, commerce: 50 } });
    // The redemption reversed: A's 100 to B, and 50 of that on to C: B 50 (the second's half), C 100.
    expect((await reverse(r.body.reference)).wallet).toEqual({ open: 0, commerce: 150 });
    const expiring = ((await wallet(s)).expiring as { amount: number; expires_at: string }[]).map((e) => e.amount);
    expect(expiring).toEqual([50, 100]);
    expect((await reverse(s2)).wallet).toEqual({ open: 0, commerce: 100 });
    expect((await reverse(s3)).wallet).toEqual({ open: 0, commerce: 0 });
    await expectReconciledWith(gw, s.biz);
    gw = await rebuiltGateway(gw, stores, { expiry_sweep_ms: 3_600_000 });
    expect(await wallet(s)).toMatchObject({ open: 0, commerce: 0, expiring: [] });
  });

  it('a redemption’s reversal leaves alone the note of a lot only another redemption took: each merchant pool back where it was (a black-box probe, 2026-12-06)', async () => {
    const s = await shop(gw, testCard(882_000_011), [{ name: 'club', goal: 'spend', award: { fixed: 250 }, pool: 'club' }]);
    const m = await call(gw, 'POST', '/v1/merchants', s.biz.admin_key, { name: 'Elsewhere', code: `E${s.biz.merchant_code}`.slice(0, 15) });
    const v = await call(gw, 'POST', '/v1/venues', s.biz.admin_key, { name: 'Elsewhere', merchant_id: m.body.id });
    const t = await call(gw, 'POST', '/v1/terminals', s.biz.admin_key, { venue_id: v.body.id, code: 'T0000002' });
    expect([m.status, v.status, t.status], t.text).toEqual([201, 201, 201]);
    const at = (key: string) => (path: string, body: Record<string, unknown>) => approved(key, path, body);
    const [here, elsewhere] = [at(s.biz.terminal_key), at(t.body.api_key as string)];
    const cim = { type: 'card', value: s.card };
    const p1 = await purchase(s, 1_000);
    const r1 = await elsewhere('/v1/redemptions', { cim });
    expect((await call(gw, 'PATCH', `/v1/offers/${s.offers[0]}`, s.biz.admin_key, { active: false })).status).toBe(200);
    expect((await call(gw, 'POST', '/v1/offers', s.biz.admin_key, { name: 'here only', goal: 'spend', award: { fixed: 300 }, pool: s.biz.merchant_code })).status).toBe(201);
    await purchase(s, 1_000);
    const r2 = await here('/v1/redemptions', { cim });
    expect(r2.wallet).toEqual({ open: 550, commerce: 0 });
    // The first sale reversed: its club lot was the first redemption's, so 250 from open, noted.
    expect((await here('/v1/reversals', { original_reference: p1 })).wallet).toEqual({ open: 300, commerce: 0 });
    // The second redemption reversed: its own pool lot back whole (the note is not its doing).
    expect((await here('/v1/reversals', { original_reference: r2.reference })).wallet).toEqual({ open: 0, commerce: 300 });
    expect((await wallet(s)).pools).toEqual([{ pool: s.biz.merchant_code, amount: 300 }]);
    // The first redemption reversed: all of it settled by the note, nothing moves.
    expect((await elsewhere('/v1/reversals', { original_reference: r1.reference })).wallet).toEqual({ open: 0, commerce: 300 });
    const none = await call(gw, 'POST', '/v1/redemptions', t.body.api_key, { reference: ref(), cim });
    expect([none.status, none.body.code], none.text).toEqual([422, 'insufficient_funds']);
    await expectReconciledWith(gw, s.biz);
  });
});
