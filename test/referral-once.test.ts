// The referrer is awarded once per standing first purchase (API.md: on the referred contact's
// first purchase). A reversal leaving the referred contact no purchase undoes the referral (the
// award reversed: test/referral-reversal.test.ts), and its next purchase, the first again, refers
// anew under a reference of its own (`referral:<referred id>:<purchase id>`): after the hot window
// too, never twice for one purchase. Before 2026-12-05 the award stood and the next purchase did
// not refer; before that, it referred again under the same reference, and once the hot window had
// forgotten it the referrer was awarded twice.

import { describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, testCard, type TestGateway } from './helpers.ts';
import { gatewayForFile } from './business-gateway.ts';

let gw: TestGateway;
gatewayForFile((made) => (gw = made));

describe('a referred contact whose first purchase is reversed', () => {
  it('refers anew with its next purchase, once, after the hot window too', async () => {
    const biz = await createBusiness(gw);
    expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'ref', goal: 'referral', award: { fixed: 100 } })).status).toBe(201);
    expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'first', goal: 'first_purchase', award: { fixed: 30 } })).status).toBe(201);
    const a = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(8_400_001) }] });
    expect(a.status).toBe(201);
    const card_b = testCard(8_400_002);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card_b }], referred_by: a.body.referral_code })).status).toBe(201);
    const commerce = async () => (await call(gw, 'GET', `/v1/contacts/${a.body.id}/wallet`, biz.admin_key)).body.commerce as number;
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'pb1', cim: { type: 'card', value: card_b }, amount: 1000, currency: 'EUR' })).status).toBe(201);
    await eventually('the referral award', async () => (await commerce()) === 100, 3_000);
    expect((await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'vb1', original_reference: 'pb1' })).status).toBe(201);
    expect(await commerce()).toBe(0);
    const clock = gw.processor.stores.clock;
    const real = clock.now;
    try {
      // Past the window of every period that remembers the award's reference.
      const ahead = 3 * gw.processor.stores.config.reply_ttl_seconds * 1000 + 60_000;
      clock.now = () => real() + ahead;
      const p2 = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'pb2', cim: { type: 'card', value: card_b }, amount: 1000, currency: 'EUR' });
      expect(p2.status, p2.text).toBe(201);
      // Still the first purchase again (its own first-purchase offer: the reversal voided the first).
      expect(p2.body.awards.map((x: { amount: number }) => x.amount)).toEqual([30]);
      expect(await commerce()).toBe(100);
      // Its replay and its next purchase refer no more.
      expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'pb2', cim: { type: 'card', value: card_b }, amount: 1000, currency: 'EUR' })).headers.get('idempotent-replayed')).toBe('true');
      expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'pb3', cim: { type: 'card', value: card_b }, amount: 1000, currency: 'EUR' })).status).toBe(201);
      await new Promise((r) => setTimeout(r, 300));
      expect(await commerce()).toBe(100);
    } finally {
      clock.now = real;
    }
  });
});
