// What claw-backs found gone of a contact's lots (`lo:{s<n>}:<contact>`, claw-back.lua noteOwed)
// through a rebuild: a rebuild probe (2026-12-06) saw a rebuilt Redis hold owed lots the live one
// did not, so a redemption's reversal answered otherwise after the rebuild (open 200 / commerce
// 500 where the live gateway answered 0 / 700). The script noted them or not as Node had read the
// purchase's lots or not (a business with capped offers reads them), which replay cannot know;
// now the script decides alike either way (ownLots), and replay as it does (replay.ts
// oneLotCovers). Each business: its history live, then Redis emptied and rebuilt, then the same
// next steps, answered as the live gateway answered them.
//
// A referral undone claws the referrer's award back as a purchase's (reversal.lua), noting owed
// what it found redeemed; replay took the undo's lots but noted nothing (it looked for the
// original among purchases only): the rebuild model (test/rebuild-model.test.ts, seed 77 at 400
// steps) found a referrer's owed lots 330 live and 80 rebuilt, and the redemption's reversal after
// it was refused 422 on the rebuilt Redis where the live one answered 0 / 0.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { journalMarks, waitForLedger } from '../processor/ledger/caught-up.ts';
import { rebuild } from '../processor/ledger/rebuild.ts';
import { owedLotsKey } from '../processor/hot/keys.ts';
import { shardOf } from '../core/ids.ts';

let own: OwnStores;
let gw: TestGateway;
let seq = 0;
const ref = () => `rol-${++seq}`;

beforeAll(async () => {
  own = await startOwnStores('owedlots');
  gw = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url });
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});

interface Shop {
  readonly biz: BusinessFixture;
  readonly contact_id: string;
  readonly cim: { type: string; value: string };
}

async function shop(name: string, capped: boolean): Promise<Shop> {
  const biz = await createBusiness(gw);
  const limits = capped ? { limits: { per_contact: { count: 100, period: 'day' } } } : {};
  for (const offer of [
    { name: 'fixed', goal: 'spend', award: { fixed: 500 } },
    { name: '10%', goal: 'spend', award: { percent: 10 }, validity_days: 30, ...limits },
  ]) expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, offer)).status).toBe(201);
  const cim = { type: 'loyalty_id', value: name };
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [cim] });
  expect(c.status, c.text).toBe(201);
  return { biz, contact_id: c.body.id, cim };
}

async function pos(s: Shop, path: string, body: Record<string, unknown>) {
  const r = await call(gw, 'POST', path, s.biz.terminal_key, { reference: ref(), ...body });
  expect(r.status, `${path} ${r.text}`).toBe(201);
  return r.body;
}

/** The probe's history: two purchases, a redemption, the first purchase reversed, then the redemption. */
async function history(s: Shop): Promise<unknown[]> {
  const p1 = await pos(s, '/v1/purchases', { cim: s.cim, amount: 2000, currency: 'EUR' });
  await pos(s, '/v1/purchases', { cim: s.cim, amount: 2000, currency: 'EUR' });
  const r1 = await pos(s, '/v1/redemptions', { cim: s.cim, amount: 700 });
  const v1 = await pos(s, '/v1/reversals', { original_reference: p1.reference });
  const v2 = await pos(s, '/v1/reversals', { original_reference: r1.reference });
  return [r1.wallet, v1.wallet, v2.wallet];
}

/** After it: everything redeemed, and that redemption reversed. */
async function next(s: Shop): Promise<unknown[]> {
  const r2 = await pos(s, '/v1/redemptions', { cim: s.cim });
  const v3 = await pos(s, '/v1/reversals', { original_reference: r2.reference });
  return [r2.wallet, v3.wallet];
}

/** Redis emptied and rebuilt from the ledger (without warnings), a gateway on it again. */
async function rebuilt(): Promise<void> {
  const { config } = gw.processor.stores;
  expect(await waitForLedger(own.redis.client, await journalMarks(own.redis.client, config.shard_count), 30_000)).toBe(true);
  await gw.close();
  await own.redis.client.flushAll();
  const r = await rebuild(own.redis.client, own.sql, config, { force: false, wait_ms: 30_000, now_ms: Date.now() });
  expect(r.outcome).toBe('rebuilt');
  if (r.outcome === 'rebuilt') expect(r.warnings).toEqual([]);
  gw = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url });
}

const owedOf = (s: Shop) => own.redis.client.hGetAll(owedLotsKey(shardOf(s.contact_id, gw.processor.stores.config.shard_count), s.contact_id));

describe('owed lots through a rebuild', () => {
  it('are the same in a rebuilt Redis as in the live one, whether or not Node read the purchase; the next steps answer alike', async () => {
    const shops = [await shop('plain', false), await shop('capped', false), await shop('capped-read', true)];
    const live_twins = [await shop('twin-plain', false), await shop('twin-capped', true)];
    for (const s of [...shops, ...live_twins]) expect(await history(s)).toEqual([{ open: 700, commerce: 700 }, { open: 700, commerce: 0 }, { open: 0, commerce: 700 }]);
    const live = await Promise.all(shops.map(owedOf));
    // The twins' next steps on the live Redis: what the rebuilt one must answer.
    const expected = await Promise.all(live_twins.map(next));
    expect(expected[0]).toEqual(expected[1]);

    await rebuilt();
    expect(await Promise.all(shops.map(owedOf))).toEqual(live);
    for (const s of shops) expect(await next(s)).toEqual(expected[0]);
    expect(expected[0]).toEqual([{ open: 700, commerce: 0 }, { open: 0, commerce: 700 }]);
  });
});

describe('owed lots of a referral undone, through a rebuild', () => {
  it('are noted again for the award clawed back; the redemption of it reversed answers as live', async () => {
    const biz = await createBusiness(gw);
    expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'ref', kind: 'cashback', goal: 'referral', award: { fixed: 400 } })).status).toBe(201);
    const contact = async (name: string, referred_by?: string) => {
      const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'loyalty_id', value: name }], ...(referred_by === undefined ? {} : { referred_by }) });
      expect(c.status, c.text).toBe(201);
      return { biz, contact_id: c.body.id as string, cim: { type: 'loyalty_id', value: name }, referral_code: c.body.referral_code as string };
    };
    const referrer = await contact('referrer');
    const referred = await contact('referred', referrer.referral_code);
    const p = await pos(referred, '/v1/purchases', { cim: referred.cim, amount: 2000, currency: 'EUR' });
    // The award (400, in a lot that never expires) redeemed whole, then clawed back as the referral
    // is undone: from open, its lot gone, so noted owed for the redemption's reversal.
    const r = await pos(referrer, '/v1/redemptions', { cim: referrer.cim, amount: 400 });
    await pos(referred, '/v1/reversals', { original_reference: p.reference });
    const live = await owedOf(referrer);
    expect(Object.values(live)).toEqual(['400']);

    await rebuilt();
    expect(await owedOf(referrer)).toEqual(live);
    // As if neither the award nor the redemption had happened.
    expect((await pos(referrer, '/v1/reversals', { original_reference: r.reference })).wallet).toEqual({ open: 0, commerce: 0 });
  });
});

describe('owed lots a claw-back took as commerce debt, through a rebuild', () => {
  it('are noted again from the entry; the redemption reversed after an award paid the debt and a spend was reversed answers as live (a black-box probe, 2026-12-06)', async () => {
    const s = await shop('debt', false);
    const c = await call(gw, 'GET', `/v1/contacts/${s.contact_id}`, s.biz.admin_key);
    const wallet_code = c.body.wallet_code as string;
    // 500 + 200 awarded, redeemed, spent; the sale reversed into debt; another sale pays it; the spend reversed.
    const p1 = await pos(s, '/v1/purchases', { cim: s.cim, amount: 2000, currency: 'EUR' });
    const r1 = await pos(s, '/v1/redemptions', { cim: s.cim });
    const s1 = await pos(s, '/v1/spends', { amount: 700, currency: 'EUR', wallet_code });
    expect((await pos(s, '/v1/reversals', { original_reference: p1.reference })).wallet).toEqual({ open: 0, commerce: -700 });
    const p2 = await pos(s, '/v1/purchases', { cim: s.cim, amount: 2000, currency: 'EUR' });
    expect(p2.wallet).toEqual({ open: 0, commerce: 0 });
    expect((await pos(s, '/v1/reversals', { original_reference: s1.reference })).wallet).toEqual({ open: 700, commerce: 0 });
    const live = await owedOf(s);
    expect(Object.values(live).map(Number).reduce((a, b) => a + b, 0)).toBe(700);

    await rebuilt();
    expect(await owedOf(s)).toEqual(live);
    // The redemption's money stays in open (its lot was the reversed sale's, taken as debt); the
    // second sale reversed takes its award from there: everything reversed, nothing left.
    expect((await pos(s, '/v1/reversals', { original_reference: r1.reference })).wallet).toEqual({ open: 700, commerce: 0 });
    expect((await pos(s, '/v1/reversals', { original_reference: p2.reference })).wallet).toEqual({ open: 0, commerce: 0 });
  });
});
