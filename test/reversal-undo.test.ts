// A reversed purchase is void "as if it never happened" (API.md): through the HTTP contract, its
// awards' per-contact caps and budgets are free again, the contact's purchase is uncounted (no
// purchase left: the next is the first again) and its tier units are gone. Both ways Node reads
// what the purchase counted: from its journal entry (no ledger writer: still pending) and from
// the ledger (recorded before the reversal). Real Redis and PostgreSQL.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { redis_dbs, redisUrl } from './ledger-helpers.ts';
import { connectRedis } from '../processor/stores.ts';

let recording: TestGateway;
let pending: TestGateway;
let seq = 0;

beforeAll(async () => {
  recording = await startTestGateway();
  // Its own Redis database, emptied first, and no writer: every journal entry stays pending.
  // Emptied before the gateway starts: under a running one, an emptied Redis is one that lost
  // its data, and the POS path answers 503 until it is rebuilt (OPERATIONS.md).
  const redis = await connectRedis(redisUrl(redis_dbs.reversal_undo));
  await redis.flushDb().finally(() => redis.close());
  pending = await startTestGateway({ redis_url: redisUrl(redis_dbs.reversal_undo), ledger_writer: false });
});
afterAll(async () => {
  await pending?.close();
  await recording?.close();
});

const awarded = (r: { body: { awards: { amount: number }[] } }) => r.body.awards.reduce((s, a) => s + a.amount, 0);

async function setUp(gw: TestGateway): Promise<{ biz: BusinessFixture; card: string; contact_id: string }> {
  const biz = await createBusiness(gw);
  const offer = async (body: Record<string, unknown>) => expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: `o${++seq}`, ...body })).status).toBe(201);
  await offer({ goal: 'spend', award: { fixed: 100 }, limits: { per_contact: { count: 1, period: 'day' } } });
  await offer({ goal: 'spend', award: { fixed: 50 }, limits: { budget: 50 } });
  await offer({ goal: 'first_purchase', award: { fixed: 30 } });
  expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 10, period: 'month' }])).status).toBe(200);
  const card = testCard(7_300_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  return { biz, card, contact_id: c.body.id };
}

for (const [name, gw, recorded] of [
  ['pending in the journal', () => pending, false],
  ['recorded in the ledger', () => recording, true],
] as const) {
  describe(`reversing a purchase ${name}`, () => {
    it('frees its cap and budget, uncounts the purchase (the next after none is the first again) and takes its tier units', async () => {
      const g = gw();
      const { biz, card, contact_id } = await setUp(g);
      const purchases: string[] = [];
      const buyNamed = async (amount: number) => {
        const reference = `p-${++seq}`;
        const r = await call(g, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: card }, amount, currency: 'EUR' });
        expect(r.status, r.text).toBe(201);
        if (recorded) await eventually('recorded', async () => (await call(g, 'GET', `/v1/transactions/${r.body.id}`, biz.admin_key)).body.ledger === 'recorded');
        purchases.push(reference);
        return awarded(r);
      };
      const reverse = async (original_reference: string) => {
        const r = await call(g, 'POST', '/v1/reversals', biz.terminal_key, { reference: `v-${++seq}`, original_reference });
        expect(r.status, r.text).toBe(201);
      };
      const tier = async () => (await call(g, 'GET', `/v1/contacts/${contact_id}`, biz.admin_key)).body.tier;

      // First purchase: the capped 100, the budgeted 50, the first-purchase 30; 10 units: gold.
      expect(await buyNamed(1000)).toBe(180);
      expect(await tier()).toBe('gold');
      // The cap and the budget are used up, and it is no longer the first purchase.
      expect(await buyNamed(100)).toBe(0);
      // Reversing the first gives its cap, budget and units back; the second purchase still
      // counts, so the third is not a first purchase.
      await reverse(purchases[0]!);
      expect(await tier()).toBeNull();
      expect(await buyNamed(100)).toBe(150);
      // Both left reversed: no purchase counts, the next is the first again.
      await reverse(purchases[1]!);
      await reverse(purchases[2]!);
      expect(await buyNamed(100)).toBe(180);
    });
  });
}
