// Tiers under concurrency (API.md: "a contact advances at once when its period units reach a
// higher tier"): purchases one contact makes at once, each judged on the tier its facts held,
// read all at once, were all judged on the tier before any of them (a races probe, 2026-12-06: 72
// of 100 given the gold offer where any order of them gives 95). They now run one after another
// in the gateway when an offer is held to tiers.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type TestGateway } from './helpers.ts';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

describe('purchases of one contact raced, with an offer held to a tier', () => {
  it('are each judged on the tier the ones before them reached: as many gold awards as any order of them gives', async () => {
    const biz = await createBusiness(gw);
    const tiers = [{ name: 'silver', min_period_units: 0, period: 'month' }, { name: 'gold', min_period_units: 50, period: 'month' }];
    expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, tiers)).status).toBe(200);
    const gold = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'gold', goal: 'spend', award: { fixed: 1 }, conditions: { tiers: ['gold'] } });
    expect(gold.status, gold.text).toBe(201);
    const card = testCard(9_300_001);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    // 10 units each (1000 minor units of EUR): the sixth and every later one is gold's. (Thirty:
    // past 32 chained, one more runs at once, judged as before: processor/purchase.ts.)
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `raced-${i}`, cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' })),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(30).fill(201));
    expect(replies.filter((r) => r.body.awards.length === 1)).toHaveLength(25);
  });
});
