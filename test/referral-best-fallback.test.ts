// Resolution `best` (API.md: "only the largest") with per-contact caps ("per_contact caps how
// often one contact is awarded"): a purchase whose best award its cap refuses gets the next best
// (processor/purchase.ts, the script falls back per resolution group). The referrer's awards are
// resolved the same way among themselves, but only the winner went to the award script: once the
// referrer's cap refused it, a later referral awarded nothing, though another referral offer
// admitted it.

import { describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, testCard, type TestGateway } from './helpers.ts';
import { gatewayForFile } from './business-gateway.ts';

let gw: TestGateway;
gatewayForFile((made) => (gw = made));

describe('a referrer under resolution best', () => {
  it('gets the next best referral award once its cap refuses the best', async () => {
    const biz = await createBusiness(gw, { reward_resolution: 'best' });
    const offer = async (body: Record<string, unknown>) => expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { goal: 'referral', ...body })).status).toBe(201);
    await offer({ name: 'first referral', award: { fixed: 300 }, limits: { per_contact: { count: 1, period: 'lifetime' } } });
    await offer({ name: 'any referral', award: { fixed: 100 }, limits: { budget: 10_000 } });
    const referrer = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(9_600_001) }] });
    expect(referrer.status).toBe(201);
    const commerce = async () => (await call(gw, 'GET', `/v1/contacts/${referrer.body.id}/wallet`, biz.admin_key)).body.commerce as number;
    for (const [i, expected] of [[2, 300], [3, 400], [4, 500]] as const) {
      const card = testCard(9_600_000 + i);
      expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }], referred_by: referrer.body.referral_code })).status).toBe(201);
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `rb-${i}`, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
      await eventually(`the referrer's commerce balance at ${expected}`, async () => (await commerce()) === expected, 3_000);
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(await commerce()).toBe(500);
  });
});
