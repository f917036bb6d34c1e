// A refund or reversal whose original is older than the hot window reads it from the ledger. With
// PostgreSQL up but slow (a lock held on the ledger: its probe still answers, so the gateway does
// not know it down), the terminal is answered 503 `unavailable` within the read's timeout
// (processor/refund.ts ledger_read_timeout_ms) instead of waiting as long as the lock is held,
// and the same refund goes through once the ledger answers again. Stores of its own: the lock
// would stall every other test's ledger.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../gateway/config.ts';
import { findOriginal } from '../processor/claim.ts';
import { referenceSlot } from '../processor/hot/references.ts';
import { ledger_read_timeout_ms } from '../processor/refund.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, createContacts } from './ledger-helpers.ts';
import { holdLock, startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;

beforeAll(async () => {
  stores = await startOwnStores('refundslow');
  gw = await startTestGateway({ database_url: stores.database_url, redis_url: stores.redis.url, processor: { ...configFromEnv().processor, reply_ttl_seconds: 2 } });
  biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
}, 30_000);
afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

describe('a refund of an original older than the hot window, the ledger slow', () => {
  it('is answered 503 unavailable within the read timeout, and goes through once the ledger answers', async () => {
    const [c] = await createContacts(gw, biz, [testCard(19_200_001)]);
    const purchase = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'old-sale', cim: { type: 'card', value: c!.card }, amount: 10_000, currency: 'EUR' });
    expect(purchase.status, purchase.text).toBe(201);
    const s = gw.processor.stores;
    await eventually('the sale recorded and out of the hot window', async () => {
      const t = await call(gw, 'GET', `/v1/transactions/${purchase.body.id}`, biz.admin_key);
      return t.body.ledger === 'recorded' && (await findOriginal(s, referenceSlot(s.config, biz.terminal_id, 'old-sale', s.clock.now()))) === undefined;
    }, 15_000);

    const refund = { reference: 'refund-old-sale', original_reference: 'old-sale', amount: 4_000 };
    const lock = await holdLock(stores.sql, 'ledger_transactions');
    try {
      const started = Date.now();
      const refused = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, refund);
      const waited_ms = Date.now() - started;
      expect([refused.status, refused.body.code], refused.text).toEqual([503, 'unavailable']);
      expect(waited_ms).toBeGreaterThanOrEqual(ledger_read_timeout_ms - 50);
      expect(waited_ms).toBeLessThan(ledger_read_timeout_ms + 3_000);
    } finally {
      lock.release();
      await lock.done.catch(() => {});
    }
    const done = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, refund);
    expect([done.status, done.body.clawed_back], done.text).toEqual([201, 200]);
  }, 60_000);
});
