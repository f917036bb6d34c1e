// A reversal voids a redemption "as if it never happened" (API.md): the lots it took go back,
// with their expiry. A lot whose expiry passed while it was redeemed must then expire as it would
// have: the sweeper finds contacts through the shard's expiry index, which the reversal did not
// update, so a lot given back after the sweeper had dropped the contact (no lots left then) stayed
// in the commerce balance for ever, shown as commerce but never redeemable.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;
const ref = () => `rre-${process.pid}-${Date.now()}-${++seq}`;
const day_ms = 86_400_000;

beforeAll(async () => {
  // The sweeper runs when the test says (gw.processor.expiry.sweep), not on its timer.
  gw = await startTestGateway({ expiry_sweep_ms: 3_600_000 });
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10% back, a day', goal: 'spend', award: { percent: 10 }, validity_days: 1 });
  expect(o.status).toBe(201);
});
afterAll(async () => {
  await gw.close();
});

const pos = (path: string, body: object) => call(gw, 'POST', path, biz.terminal_key, body);

describe('a redemption reversed after its lots expired', () => {
  it('gives the lots back, and they expire as if it never happened', async () => {
    const card = testCard(880_000_001);
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(c.status).toBe(201);
    const p = await pos('/v1/purchases', { reference: ref(), cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    const r = await pos('/v1/redemptions', { reference: ref(), cim: { type: 'card', value: card } });
    expect(r.status, r.text).toBe(201);
    expect(r.body.wallet).toEqual({ open: 100, commerce: 0 });

    const clock = gw.processor.stores.clock;
    const real = clock.now;
    clock.now = () => real() + 2 * day_ms; // the award's lot expired a day ago
    try {
      // Nothing to expire now: the sweeper drops the contact from its index.
      await gw.processor.expiry.sweep();
      const v = await pos('/v1/reversals', { reference: ref(), original_reference: r.body.reference });
      expect(v.status, v.text).toBe(201);
      // The lot it gave back is expired at once (Expiry.expireDue): the answer leaves it out.
      expect(v.body.wallet).toEqual({ open: 0, commerce: 0 });
      await gw.processor.expiry.sweep();
      const w = await call(gw, 'GET', `/v1/contacts/${c.body.id}/wallet`, biz.admin_key);
      expect({ open: w.body.open, commerce: w.body.commerce }).toEqual({ open: 0, commerce: 0 });
    } finally {
      clock.now = real;
    }
  });
});
