// DESIGN.md: "A merchant's purchases can earn awards funded by the business; the merchant pays a
// contribution fee". An instant discount is such an award, taken by the customer at the merchant's
// till at once: the merchant collected that much less for its goods, so the business owes it, as
// it owes the wallet money the merchant accepted. The settlement counted the discount in
// awards_funded and charged the fee on it, but left it out of what the business owes: the
// merchant paid for the business's offer.

import { describe, expect, it } from 'vitest';
import { businessGatewayForFile } from './business-gateway.ts';
import { createCardContact } from './card-contact.ts';
import { call, eventually, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
businessGatewayForFile((made) => ({ gw, biz } = made), { name: '10% off', kind: 'instant_discount', goal: 'spend', award: { percent: 10 } });

describe('an instant discount at a merchant', () => {
  it('is owed to the merchant in its settlement, less the contribution fee on it', async () => {
    const { card } = await createCardContact(gw, biz, 860_000_001);
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `sd-${process.pid}-${Date.now()}`, cim: { type: 'card', value: card }, amount: 10_000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    expect(p.body).toMatchObject({ discount: 1_000, amount_due: 9_000 });
    const s = await eventually('settlement', async () => {
      const r = await call(gw, 'GET', `/v1/settlements?merchant_id=${biz.merchant_id}`, biz.admin_key);
      return r.body.merchants?.[0]?.awards_funded === 1_000 ? r : undefined;
    });
    const m = s.body.merchants[0];
    const fee = m.contribution_fees;
    expect(fee).toBe(100); // the fixture merchant's 10%, on the award
    expect(m).toMatchObject({ spends_accepted: 0, discounts_given: 1_000, net_owed_to_merchant: 1_000 - fee, owed_by: 'business', net_amount: 1_000 - fee });
  });
});
