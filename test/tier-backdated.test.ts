// Tiers (API.md): "a contact advances at once when its period units reach a higher tier and is
// re-evaluated (may downgrade) at each period end". A purchase's units count in the period of its
// occurred_at, which may be the period before the one the contact's counters are in (a terminal
// forwarding a sale made before midnight on the last day of the month, a processor clearing last
// month's sale). Before, such a purchase reset the counters to its own period, and the units the
// contact had earned in the current period were lost: a gold contact fell back to no tier.

import { describe, expect, it } from 'vitest';
import { heldClockGatewayForFile } from './held-clock.ts';
import { call, createBusiness, testCard, type TestGateway } from './helpers.ts';
import { createProcessor, postCallback, sale, transactionId } from './callback-helpers.ts';

let gw: TestGateway;
heldClockGatewayForFile((started) => (gw = started));

describe('a purchase dated in the previous tier period', () => {
  it('keeps the units of the current period (and counts in its own)', async () => {
    const now = Date.parse('2026-12-01T00:30:00Z');
    gw.processor.stores.clock.now = () => now;
    const biz = await createBusiness(gw);
    const tiers = [{ name: 'silver', min_period_units: 10, period: 'month' }, { name: 'gold', min_period_units: 100, period: 'month' }];
    expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, tiers)).status).toBe(200);
    const gold = (await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'gold', goal: 'spend', award: { fixed: 7 }, conditions: { tiers: ['gold'] } })).body.id;
    const card = testCard(9_200_001);
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(c.status).toBe(201);
    let n = 0;
    const buy = (amount: number, occurred_at?: string) =>
      call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `tb-${++n}`, cim: { type: 'card', value: card }, amount, currency: 'EUR', ...(occurred_at ? { occurred_at } : {}) });
    const tier = async () => (await call(gw, 'GET', `/v1/contacts/${c.body.id}`, biz.admin_key)).body.tier ?? null;

    expect((await buy(15_000)).status).toBe(201); // 150 units in December: gold at once
    expect(await tier()).toBe('gold');
    // A sale made at 23:50 on November 30th, forwarded after midnight: 20 units of November.
    const late = await buy(2_000, '2026-11-30T23:50:00Z');
    expect(late.status, late.text).toBe(201);
    expect(await tier()).toBe('gold');
    const next = await buy(1_000);
    expect(next.body.awards.map((a: { offer_id: string }) => a.offer_id)).toEqual([gold]);

    // November's units count for November: in January (December's 160 units gone by then with
    // February), the tier is still what December earned.
    gw.processor.stores.clock.now = () => Date.parse('2027-01-15T12:00:00Z');
    expect(await tier()).toBe('gold');
  });

  it('counts in the previous period, which decides the tier after the period ends', async () => {
    const now = Date.parse('2026-12-01T00:30:00Z');
    gw.processor.stores.clock.now = () => now;
    const biz = await createBusiness(gw);
    expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 100, period: 'month' }])).status).toBe(200);
    const card = testCard(9_200_002);
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    let n = 0;
    const buy = (amount: number, occurred_at?: string) =>
      call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `tc-${++n}`, cim: { type: 'card', value: card }, amount, currency: 'EUR', ...(occurred_at ? { occurred_at } : {}) });
    const tier = async () => (await call(gw, 'GET', `/v1/contacts/${c.body.id}`, biz.admin_key)).body.tier ?? null;
    expect((await buy(1_000)).status).toBe(201); // 10 units in December
    // 120 units on November 30th: November reached gold, which holds through December.
    expect((await buy(12_000, '2026-11-30T23:00:00Z')).status).toBe(201);
    expect(await tier()).toBe('gold');
  });

  it('a sale dated back weeks (a processor\'s clearing) is judged with the tier held then, not one reached after it (a black-box probe)', async () => {
    // It read the later period's units as its own (a stored period after its own was taken for a
    // venue east of it, already in it): a sale of November 20th got the gold offer December won.
    gw.processor.stores.clock.now = () => Date.parse('2026-12-06T12:00:00Z');
    const biz = await createBusiness(gw);
    expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 100, period: 'month' }])).status).toBe(200);
    const gold = (await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'gold', goal: 'spend', award: { fixed: 555 }, conditions: { tiers: ['gold'] } })).body.id;
    const card = testCard(9_200_003);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    const now = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'td-1', cim: { type: 'card', value: card }, amount: 10_000, currency: 'EUR' });
    expect([now.status, now.body.awards], now.text).toEqual([201, []]); // gold from this purchase on
    const p = await createProcessor(gw, biz);
    const data = (occurred_at: string) => ({ transaction_id: transactionId(), card: { number: card }, amount: 1_000, currency: 'EUR', merchant_code: biz.merchant_code, occurred_at });
    const november = await postCallback(gw, p, sale('transaction.cleared', data('2026-11-20T12:00:00Z')));
    expect(november.body.status, november.text).toBe('processed');
    const awards = (await call(gw, 'GET', `/v1/transactions/${november.body.transaction_id}`, biz.admin_key)).body.awards;
    expect(awards).toEqual([]);
    // Dated in December, it is gold's.
    const december = await postCallback(gw, p, sale('transaction.cleared', data('2026-12-02T12:00:00Z')));
    const december_awards = (await call(gw, 'GET', `/v1/transactions/${december.body.transaction_id}`, biz.admin_key)).body.awards;
    expect(december_awards.map((a: { offer_id: string }) => a.offer_id)).toEqual([gold]);
  });
});
