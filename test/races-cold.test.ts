// Refunds and reversals racing each other on an original older than the hot window: the script is
// given what the ledger holds, so concurrent ones must still never refund past the original, nor
// void it twice, nor leave a wallet other than its ledger.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOriginal } from '../processor/claim.ts';
import { referenceSlot } from '../processor/hot/references.ts';
import { reconcile, type Mismatch } from '../processor/ledger/reconcile.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, createContacts, redis_dbs, redisUrl } from './ledger-helpers.ts';

const window_s = 2;
let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;

beforeAll(async () => {
  gw = await startTestGateway({ redis_url: redisUrl(redis_dbs.races_cold), processor: { ...(await import('../gateway/config.ts')).configFromEnv().processor, reply_ttl_seconds: window_s } });
  biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
});
afterAll(async () => {
  await gw?.close();
});

const ref = () => `rc-${Date.now()}-${++seq}`;
const pos = (path: string, body: unknown) => call(gw, 'POST', path, biz.terminal_key, body);

async function forgotten(reference: string): Promise<void> {
  const stores = gw.processor.stores;
  await eventually(`${reference} forgotten`, async () => (await findOriginal(stores, referenceSlot(stores.config, biz.terminal_id, reference, stores.clock.now()))) === undefined, 10_000);
}

describe('an original older than the window', () => {
  it('6 refunds of 3000 and a reversal of a 10000 purchase at once, 4 originals: within the original, void once, wallets = ledger', async () => {
    const cards = Array.from({ length: 4 }, (_, i) => testCard(93_300_000 + i));
    const contacts = await createContacts(gw, biz, cards);
    const purchases = [];
    for (const c of contacts) {
      const p = await pos('/v1/purchases', { reference: ref(), cim: { type: 'card', value: c.card }, amount: 10_000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
      purchases.push(p);
    }
    for (const p of purchases) {
      await forgotten(p.body.reference);
      await eventually('recorded', async () => (await call(gw, 'GET', `/v1/transactions/${p.body.id}`, biz.admin_key)).body.ledger === 'recorded');
    }
    for (const [i, p] of purchases.entries()) {
      const rs = await Promise.all([
        ...Array.from({ length: 6 }, () => pos('/v1/refunds', { reference: ref(), original_reference: p.body.reference, amount: 3000 })),
        ...(i % 2 === 0 ? [pos('/v1/reversals', { reference: ref(), original_reference: p.body.reference })] : []),
      ]);
      for (const r of rs) expect(r.status, r.text).toBeLessThan(500);
      const refunds = rs.filter((r) => r.status === 201 && r.body.original_id !== undefined && r.body.original_kind === undefined);
      const reversals = rs.filter((r) => r.status === 201 && r.body.original_kind !== undefined);
      for (const r of rs.filter((r) => r.status !== 201)) expect(['amount_exceeds_original', 'already_reversed'], r.text).toContain(r.body.code);
      expect(refunds.length * 3000, JSON.stringify(rs.map((r) => [r.status, r.body.code ?? r.body.id]))).toBeLessThanOrEqual(10_000);
      expect(reversals.length).toBeLessThanOrEqual(1);
      const w = await call(gw, 'GET', `/v1/contacts/${contacts[i]!.id}/wallet`, biz.admin_key);
      expect(w.body.commerce).toBe(reversals.length === 1 ? 0 : 500 - refunds.length * 150);
    }
    const { redis, sql, config } = gw.processor.stores;
    const mismatches: Mismatch[] = [];
    const result = await reconcile(redis, sql, { shard_count: config.shard_count, business_id: biz.business_id, wait_ms: 20_000, onMismatch: (x) => mismatches.push(x) });
    expect({ result, mismatches }).toMatchObject({ result: { outcome: 'compared', mismatches: 0 }, mismatches: [] });
  });
});
