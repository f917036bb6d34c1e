// GET /v1/stats (the console's dashboard) over a ledger too large or too busy to sum within its
// statement timeout (5 s): the business's totals since `since` are cancelled by PostgreSQL, which
// is PostgreSQL not serving now (503 unavailable, retry later), never a 500 for a valid query.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';
import { holdLock, startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;

beforeAll(async () => {
  stores = await startOwnStores('stats_timeout');
  gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  biz = await createBusiness(gw);
});

afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

describe('GET /v1/stats when the ledger cannot be summed within its timeout', () => {
  it('answers 503 unavailable, not 500, and 200 once the ledger reads again', async () => {
    // Held past the statement's 5 s: PostgreSQL cancels it (SQLSTATE 57014), as it does a sum over
    // millions of postings on a loaded server.
    const lock = await holdLock(stores.sql, 'ledger_postings');
    try {
      const r = await call(gw, 'GET', '/v1/stats?since=2026-01-01T00:00:00Z', biz.admin_key);
      expect([r.status, r.body.code], r.text).toEqual([503, 'unavailable']);
    } finally {
      lock.release();
      await lock.done;
    }
    const again = await call(gw, 'GET', '/v1/stats?since=2026-01-01T00:00:01Z', biz.admin_key);
    expect(again.status, again.text).toBe(200);
  }, 20_000);
});
