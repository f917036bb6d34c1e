// A sale whose award first paid commerce debt (a claw-back's) put only the rest into its lots. A
// black-box probe (2026-12-07): debt of 912, a sale awarding 1,001 (30 days) and 13 (7 days; lots
// of 89 and 13), its lots redeemed, a refund of a fifth (202: 102 from open, 100 as debt) noted
// 200 and 2 as taken from open for the lots where 89 and 13 were due, so the redemption's
// reversal was refused 422 where it should move nothing, and once open held money it moved 11 of
// it into the 7-day lot. Node gave the claw-back the sale's lots at the awards' amounts, and the
// claw-back shared only the lots' own floor over them. Now the entry says what the awards settled
// (awards.ts awardLots puts the lots in at what they got) and a claw-back takes the award's floor
// from its lots first (claw-back.lua lotsTakenAt). Live, and through a rebuild from the ledger.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { journalMarks, waitForLedger } from '../processor/ledger/caught-up.ts';
import { rebuiltGateway, startOnOwnStores } from './rebuilt.ts';
import { ledgerBalances, redisBalances } from '../processor/ledger/balances.ts';
import { owedLotsKey } from '../processor/hot/keys.ts';
import { shardOf } from '../core/ids.ts';
import { configFromEnv } from '../gateway/config.ts';
import { findOriginal } from '../processor/claim.ts';
import { referenceSlot } from '../processor/hot/references.ts';

let own: OwnStores;
let gw: TestGateway;
let seq = 0;
const ref = () => `dss-${++seq}`;

beforeAll(async () => {
  own = await startOwnStores('debtsettled');
  gw = await startOnOwnStores(own);
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});

interface Shop {
  readonly biz: BusinessFixture;
  readonly contact_id: string;
  readonly cim: { type: string; value: string };
  readonly wallet_code: string;
}

/** Awarding 10% for 30 days and 1% for 7: two lots. */
const two_lots = [
  { name: '10%', goal: 'spend', award: { percent: 10 }, validity_days: 30 },
  { name: '1%', goal: 'spend', award: { percent: 1 }, validity_days: 7 },
];

/** A business with these offers, and a contact of it with a wallet code. */
async function shop(name: string, offers: readonly Record<string, unknown>[] = two_lots): Promise<Shop> {
  const biz = await createBusiness(gw);
  for (const offer of offers) expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, offer)).status).toBe(201);
  const cim = { type: 'loyalty_id', value: name };
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [cim] });
  expect(c.status, c.text).toBe(201);
  const code = await call(gw, 'POST', `/v1/contacts/${c.body.id}/wallet-code`, biz.admin_key);
  expect(code.status, code.text).toBe(201);
  return { biz, contact_id: c.body.id, cim, wallet_code: code.body.wallet_code };
}

async function pos(s: Shop, path: string, body: Record<string, unknown>) {
  const r = await call(gw, 'POST', path, s.biz.terminal_key, { reference: ref(), ...body });
  expect(r.status, `${path} ${r.text}`).toBe(201);
  return r.body;
}

const owedOf = (s: Shop) => own.redis.client.hGetAll(owedLotsKey(shardOf(s.contact_id, gw.processor.stores.config.shard_count), s.contact_id));

/** Until the ledger holds every journal entry written so far. */
async function ledgerCaughtUp(): Promise<void> {
  const { config } = gw.processor.stores;
  expect(await waitForLedger(own.redis.client, await journalMarks(own.redis.client, config.shard_count), 30_000)).toBe(true);
}

/** The contact's wallet in Redis and in the ledger, once the ledger holds everything. */
async function balances(s: Shop): Promise<{ redis: unknown; ledger: unknown }> {
  await ledgerCaughtUp();
  const { config } = gw.processor.stores;
  const redis = await redisBalances(own.redis.client, config.shard_count, s.contact_id);
  const ledger = (await ledgerBalances(own.sql, [{ id: s.contact_id, currency: 'EUR' }])).get(s.contact_id)!;
  return { redis: { open: redis.open, commerce: redis.commerce }, ledger: { open: Number(ledger.open), commerce: Number(ledger.commerce) } };
}

/**
 * Commerce debt of 990 (a sale's lots redeemed, the money spent, 9/10 of the sale refunded), then
 * a sale of 10,000 awarding 1,000 (30 days) and 100 (7 days): 990 pays the debt, its lots get 10
 * and 100; those redeemed.
 */
async function debtPaidThenRedeemed(s: Shop) {
  const p0 = await pos(s, '/v1/purchases', { cim: s.cim, amount: 10_000, currency: 'EUR' });
  await pos(s, '/v1/redemptions', { cim: s.cim });
  await pos(s, '/v1/spends', { amount: 1_100, currency: 'EUR', wallet_code: s.wallet_code });
  const r0 = await pos(s, '/v1/refunds', { original_reference: p0.reference, amount: 9_000 });
  const p1 = await pos(s, '/v1/purchases', { cim: s.cim, amount: 10_000, currency: 'EUR' });
  const d1 = await pos(s, '/v1/redemptions', { cim: s.cim });
  return { r0, p1, d1 };
}

/**
 * Then a fifth of the sale refunded: its claw-back of 220 takes the award's floor from its lots
 * first, both whole, and finds them redeemed: 110 from open (noted for the redemption), 110 as debt.
 */
async function history(s: Shop): Promise<{ sale: string; redemption: string; wallets: unknown[] }> {
  const { r0, p1, d1 } = await debtPaidThenRedeemed(s);
  const r1 = await pos(s, '/v1/refunds', { original_reference: p1.reference, amount: 2_000 });
  return { sale: p1.reference, redemption: d1.reference, wallets: [r0.wallet, p1.wallet, d1.wallet, [r1.clawed_back, r1.award_expired], r1.wallet] };
}

describe('a sale whose award paid commerce debt first', () => {
  it('keeps what it paid in its entry and ledger row, and its claw-back notes its lots at what they got: the redemption reversed moves nothing, live and rebuilt', async () => {
    const s = await shop('debt-paid');
    const twin = await shop('debt-paid-twin');
    const expected = [{ open: 0, commerce: -990 }, { open: 0, commerce: 110 }, { open: 110, commerce: 0 }, [220, 0], { open: 0, commerce: -110 }];
    const h = await history(s);
    expect(h.wallets).toEqual(expected);
    const t = await history(twin);
    expect(t.wallets).toEqual(expected);

    // The sale's row keeps what its awards paid of the debt, and nothing else beside its reply.
    await ledgerCaughtUp();
    const [row] = await own.sql<{ body: unknown }[]>`select body from ledger_transactions where reference = ${h.sale} and business_id = ${s.biz.business_id}`;
    expect(row).toEqual({ body: { settled: 990 } });
    // The claw-backs' notes, each under its id and the lot: the first refund's, 9/10 of the first
    // sale's lots (900 and 90), then the second's: its lots, at what they got (the probe's were
    // at the awards' shares), and the 110 it took as debt beyond them (`~`: had the first
    // redemption never happened, the first sale's lots would have held it: claw-back.lua
    // noteWanting).
    const notes = await owedOf(s);
    const by_claw = new Map<string, string[]>();
    for (const [field, n] of Object.entries(notes)) by_claw.set(field.slice(0, 26), [...(by_claw.get(field.slice(0, 26)) ?? []), n]);
    expect([...by_claw.values()].map((n) => n.sort())).toEqual([['90', '900'], ['10', '100', '110']]);
    expect(Object.keys(notes).filter((field) => field.endsWith('~'))).toHaveLength(1);

    // The twin's redemption reversed on the live Redis: nothing moves (it was 422).
    const live = await pos(twin, '/v1/reversals', { original_reference: t.redemption });
    expect(live.wallet).toEqual({ open: 0, commerce: -110 });

    gw = await rebuiltGateway(gw, own);
    expect(await owedOf(s)).toEqual(notes);
    const v = await pos(s, '/v1/reversals', { original_reference: h.redemption });
    expect(v.wallet).toEqual(live.wallet);
    // The sale reversed: as if neither it nor its redemption had happened, the first refund's debt alone.
    const v2 = await pos(s, '/v1/reversals', { original_reference: h.sale });
    expect(v2.wallet).toEqual({ open: 0, commerce: -990 });
    expect(await balances(s)).toEqual({ redis: { open: 0, commerce: -990 }, ledger: { open: 0, commerce: -990 } });
  });
});

describe('a sale whose award paid commerce debt first, refunded past the hot window', () => {
  it('is read from the ledger with what it paid: the claw-back notes its lots at what they got, and the redemption reversed moves nothing', async () => {
    // A gateway of its own on the test stores, remembering references for 2 s.
    const window_gw = await startTestGateway({ processor: { ...configFromEnv().processor, reply_ttl_seconds: 2 } });
    const outer = gw;
    gw = window_gw;
    try {
      const s = await shop('debt-paid-past');
      const { p1, d1 } = await debtPaidThenRedeemed(s);
      expect(d1.wallet).toEqual({ open: 110, commerce: 0 });
      // The sale recorded and its reference forgotten by the hot window: the refund reads the ledger's row.
      await eventually(`${p1.id} recorded`, async () => (await call(gw, 'GET', `/v1/transactions/${p1.id}`, s.biz.admin_key)).body.ledger === 'recorded');
      const stores = gw.processor.stores;
      await eventually(`${p1.reference} forgotten`, async () => (await findOriginal(stores, referenceSlot(stores.config, s.biz.terminal_id, p1.reference, stores.clock.now()))) === undefined, 15_000);
      const r1 = await pos(s, '/v1/refunds', { original_reference: p1.reference, amount: 2_000 });
      expect([r1.clawed_back, r1.wallet]).toEqual([220, { open: 0, commerce: -110 }]);
      const v = await pos(s, '/v1/reversals', { original_reference: d1.reference });
      expect(v.wallet).toEqual({ open: 0, commerce: -110 });
    } finally {
      gw = outer;
      await window_gw.close();
    }
  });
});

describe('a claw-back that takes the part of its award beyond its lots from a redemption’s money', () => {
  it('notes it, so that the redemption reversed gives back only the rest (the probe’s case: 422 with none of its money spent)', async () => {
    const s = await shop('wanting', [{ name: 'fixed', goal: 'spend', award: { fixed: 4_999 }, validity_days: 1 }]);
    const cim = s.cim;
    const ago = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const s0 = await pos(s, '/v1/purchases', { cim, amount: 10_000, currency: 'EUR' });
    await pos(s, '/v1/redemptions', { cim });
    await pos(s, '/v1/spends', { amount: 4_999, currency: 'EUR', wallet_code: s.wallet_code });
    expect((await pos(s, '/v1/refunds', { original_reference: s0.reference, amount: 2_000 })).wallet).toEqual({ open: 0, commerce: -999 });
    // 999 of its award pays the debt, its lot gets 4,000; a second sale's lot, earlier, 4,999.
    const s1 = await pos(s, '/v1/purchases', { cim, amount: 10_000, currency: 'EUR', occurred_at: ago(4) });
    expect(s1.wallet).toEqual({ open: 0, commerce: 4_000 });
    const s2 = await pos(s, '/v1/purchases', { cim, amount: 10_000, currency: 'EUR', occurred_at: ago(10) });
    const d1 = await pos(s, '/v1/redemptions', { cim });
    expect(d1.wallet).toEqual({ open: 8_999, commerce: 0 });
    // The first sale reversed: its lot's 4,000 from open (noted for its lot), and the 999 beyond
    // its lot, which would have come from the second sale's lot, from open too (noted as wanting).
    expect((await pos(s, '/v1/reversals', { original_reference: s1.reference })).wallet).toEqual({ open: 4_000, commerce: 0 });
    // Had the redemption never happened: the second sale's lot less the 999, 4,000, and nothing in open.
    expect((await pos(s, '/v1/reversals', { original_reference: d1.reference })).wallet).toEqual({ open: 0, commerce: 4_000 });
    expect((await pos(s, '/v1/reversals', { original_reference: s2.reference })).wallet).toEqual({ open: 0, commerce: -999 });
    // Left: the first refund's note of the first sale's redeemed lot (its redemption stands), and the
    // second sale's reversal's of the 999 its lot lacked (taken as debt).
    expect(Object.values(await owedOf(s))).toEqual(['999', '999']);
    expect(await balances(s)).toEqual({ redis: { open: 0, commerce: -999 }, ledger: { open: 0, commerce: -999 } });
  });
});
