// A referral award goes to the referrer on the referred contact's first purchase (API.md),
// whether or not the referrer has bought anything: before, the referrer's award kept the
// first_purchase guard of the referred contact's purchase, and the award script (on the
// referrer's shard) checked it against the referrer, refusing every referrer with a purchase.

import { describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, testCard, type TestGateway } from './helpers.ts';
import { gatewayForFile } from './business-gateway.ts';

let gw: TestGateway;
gatewayForFile((made) => (gw = made));

describe('a referrer who has bought', () => {
  it('is awarded on the referred contact’s first purchase, once', async () => {
    const biz = await createBusiness(gw);
    expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'ref', goal: 'referral', award: { fixed: 100 } })).status).toBe(201);
    const card_a = testCard(8_300_001);
    const a = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card_a }] });
    expect(a.status).toBe(201);
    const buy = (reference: string, card: string) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    expect((await buy('pa', card_a)).status).toBe(201);
    const card_b = testCard(8_300_002);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card_b }], referred_by: a.body.referral_code })).status).toBe(201);
    expect((await buy('pb1', card_b)).status).toBe(201);
    expect((await buy('pb2', card_b)).status).toBe(201);
    const commerce = async () => (await call(gw, 'GET', `/v1/contacts/${a.body.id}/wallet`, biz.admin_key)).body.commerce as number;
    await eventually('the referral award', async () => (await commerce()) === 100, 3_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(await commerce()).toBe(100);
  });
});
