// Tiers (API.md) with purchases dated back across a period end: a terminal's within 24 h at a
// venue far from UTC, a processor's callback up to 35 days (EVENTS.md), and their reversals.

import { describe, expect, it } from 'vitest';
import { createProcessor, postCallback, reversed, sale, transactionId } from './callback-helpers.ts';
import { heldClockGatewayForFile, holdClock } from './held-clock.ts';
import { call, createBusiness, platform_key, testCard, type TestGateway } from './helpers.ts';

let gw: TestGateway;
heldClockGatewayForFile((started) => (gw = started));

describe('dated back across a period end', () => {
  it('a Kiritimati terminal’s sale of the local November 30th, sent on December 1st', async () => {
    holdClock(gw, '2026-11-30T10:30:00Z'); // December 1st 00:30 at the venue
    const b = await call(gw, 'POST', '/v1/businesses', platform_key, { name: 'K', currency: 'EUR' });
    const v = await call(gw, 'POST', '/v1/venues', b.body.admin_key, { name: 'K', timezone: 'Pacific/Kiritimati' });
    const t = await call(gw, 'POST', '/v1/terminals', b.body.admin_key, { venue_id: v.body.id, code: 'T0000001' });
    expect((await call(gw, 'PUT', '/v1/tiers', b.body.admin_key, [{ name: 'gold', min_period_units: 100, period: 'month' }])).status).toBe(200);
    const card = testCard(9_400_001);
    const c = await call(gw, 'POST', '/v1/contacts', b.body.admin_key, { cims: [{ type: 'card', value: card }] });
    const buy = (reference: string, amount: number, occurred_at?: string) =>
      call(gw, 'POST', '/v1/purchases', t.body.api_key, { reference, cim: { type: 'card', value: card }, amount, currency: 'EUR', ...(occurred_at ? { occurred_at } : {}) });
    const tier = async () => (await call(gw, 'GET', `/v1/contacts/${c.body.id}`, b.body.admin_key)).body.tier ?? null;
    expect((await buy('k1', 1_000)).status).toBe(201); // December (local)
    const late = await buy('k2', 12_000, '2026-11-30T09:50:00Z'); // November 30th 23:50 local
    expect(late.status, late.text).toBe(201);
    expect(await tier()).toBe('gold'); // November reached gold: held through December
    holdClock(gw, '2026-12-31T09:59:00Z'); // December 31st 23:59 local
    expect(await tier()).toBe('gold');
    holdClock(gw, '2026-12-31T10:00:00Z'); // January 1st local
    expect(await tier()).toBe(null);
    // Reversing the November sale in December takes November's units back.
    holdClock(gw, '2026-11-30T11:00:00Z');
    const r = await call(gw, 'POST', '/v1/reversals', t.body.api_key, { reference: 'k3', original_reference: 'k2' });
    expect(r.status, r.text).toBe(201);
    expect(await tier()).toBe(null);
  });

  it('a processor’s sale 35 days back counts in its quarter, and its reversal takes it back', async () => {
    holdClock(gw, '2027-01-20T12:00:00Z');
    const biz = await createBusiness(gw);
    expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 100, period: 'quarter' }])).status).toBe(200);
    const p = await createProcessor(gw, biz, 'authorization');
    const card = testCard(9_400_002);
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    const tier = async () => (await call(gw, 'GET', `/v1/contacts/${c.body.id}`, biz.admin_key)).body.tier ?? null;
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'q1', cim: { type: 'card', value: card }, amount: 500, currency: 'EUR' })).status).toBe(201);
    const tx = transactionId();
    const r = await postCallback(gw, p, sale('transaction.authorized', { transaction_id: tx, card: { number: card }, amount: 15_000, currency: 'EUR', merchant_code: biz.merchant_code, occurred_at: '2026-12-16T12:00:00Z' }));
    expect(r.body.status, r.text).toBe('processed');
    expect(await tier()).toBe('gold'); // 150 units in 2026 Q4: held through 2027 Q1
    holdClock(gw, '2027-04-01T00:00:00Z');
    expect(await tier()).toBe(null);
    holdClock(gw, '2027-01-21T12:00:00Z');
    expect((await postCallback(gw, p, reversed(tx))).body.status).toBe('processed');
    expect(await tier()).toBe(null);
  });
});
