// Money at its edges (API.md: "Money is an integer in the currency's minor unit ... Never
// floats"): balances right after a reversal gives back lots that expired meanwhile, and the
// currencies with 0 and 3 minor units.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let seq = 0;
const ref = () => `me-${process.pid}-${Date.now()}-${++seq}`;
const day_ms = 86_400_000;

beforeAll(async () => {
  // The sweeper runs only when a test says (gw.processor.expiry.sweep), not on its timer.
  gw = await startTestGateway({ expiry_sweep_ms: 3_600_000 });
});
afterAll(async () => {
  await gw.close();
});

const pos = (biz: BusinessFixture, path: string, body: object) => call(gw, 'POST', path, biz.terminal_key, body);

describe('a redemption reversed after its lots expired', () => {
  // "voids an earlier ... redemption ... entirely, as if it never happened" (API.md, reversals):
  // had it never happened, its lots would have expired, so the wallet read at once (HTTP, the
  // CIM lookup) holds no commerce money past its expiry, sweeper or not.
  it('leaves no expired money in the wallet read right after the reversal', async () => {
    const biz = await createBusiness(gw);
    expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10% back, a day', goal: 'spend', award: { percent: 10 }, validity_days: 1 })).status).toBe(201);
    const card = testCard(881_000_001);
    const cim = { type: 'card', value: card };
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [cim] });
    expect(c.status).toBe(201);
    expect((await pos(biz, '/v1/purchases', { reference: ref(), cim, amount: 1000, currency: 'EUR' })).status).toBe(201);
    const r = await pos(biz, '/v1/redemptions', { reference: ref(), cim });
    expect(r.body.wallet).toEqual({ open: 100, commerce: 0 });

    const clock = gw.processor.stores.clock;
    const real = clock.now;
    clock.now = () => real() + 2 * day_ms; // the award's lot expired a day ago
    try {
      await gw.processor.expiry.sweep(); // nothing to expire now: the contact leaves the index
      const v = await pos(biz, '/v1/reversals', { reference: ref(), original_reference: r.body.reference });
      expect(v.status, v.text).toBe(201);
      // The reversal's own answer too: a terminal prints it (it read commerce 100).
      expect(v.body.wallet).toEqual({ open: 0, commerce: 0 });
      const w = await call(gw, 'GET', `/v1/contacts/${c.body.id}/wallet`, biz.admin_key);
      expect({ open: w.body.open, commerce: w.body.commerce, expiring: w.body.expiring }).toEqual({ open: 0, commerce: 0, expiring: [] });
      const l = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, biz.terminal_key);
      expect({ open: l.body.open, commerce: l.body.commerce }).toEqual({ open: 0, commerce: 0 });
      // Expired once, not again by the sweeper.
      expect(await gw.processor.expiry.sweep()).toBe(0);
    } finally {
      clock.now = real;
    }
  });
});

describe('a sale refunded in part, its lots expired, then reversed', () => {
  // API.md: a reversal voids the sale "as if it never happened". A refund of 738 of 6,451 clawed
  // back 110 of 645 + 322 (floors 73 and 36, the 110th unit from the earlier lot); both lots then
  // expired (571 + 286); the reversal's shares were 572 and 285 (the spare cut off the later
  // lot), so it found the earlier lot a unit short, took it as debt, and left a unit of the later
  // lot's expiry written off nowhere: 0 / -1 (a black-box probe, 2026-12-06).
  it('writes off what expired of each lot and takes nothing more: 0 / 0', async () => {
    const biz = await createBusiness(gw);
    for (const offer of [
      { name: '10% back, a day', goal: 'spend', award: { percent: 10 }, validity_days: 1 },
      { name: '5% for the club, a day', goal: 'spend', award: { percent: 5 }, validity_days: 1, pool: 'club' },
    ]) expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, offer)).status).toBe(201);
    const cim = { type: 'card', value: testCard(881_000_002) };
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [cim] })).status).toBe(201);
    const p = await pos(biz, '/v1/purchases', { reference: ref(), cim, amount: 6_451, currency: 'EUR' });
    expect(p.body.wallet).toEqual({ open: 0, commerce: 967 });
    const f = await pos(biz, '/v1/refunds', { reference: ref(), original_reference: p.body.reference, amount: 738 });
    expect([f.body.clawed_back, f.body.wallet]).toEqual([110, { open: 0, commerce: 857 }]);
    const clock = gw.processor.stores.clock;
    const real = clock.now;
    clock.now = () => real() + 2 * day_ms;
    try {
      expect(await gw.processor.expiry.sweep()).toBeGreaterThan(0);
      const v = await pos(biz, '/v1/reversals', { reference: ref(), original_reference: p.body.reference });
      expect(v.status, v.text).toBe(201);
      expect([v.body.clawed_back, v.body.award_expired, v.body.wallet]).toEqual([0, 857, { open: 0, commerce: 0 }]);
    } finally {
      clock.now = real;
    }
  });
});
