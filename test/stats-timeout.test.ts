// GET /v1/stats (the console's dashboard) over a ledger too large or too busy to sum within its
// statement timeout (5 s): the business's totals since `since` are cancelled by PostgreSQL, which
// is PostgreSQL not serving them now. As with PostgreSQL known down (49e25b7), the dashboard goes
// on with Redis's traffic and ledger lag, the totals null; never a 500, nor a 503 that blanks the
// live figures when the ledger is loaded.

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
  it('answers 200 with the traffic and the ledger lag and the totals null, and the totals once the ledger reads again', async () => {
    // Held past the statement's 5 s: PostgreSQL cancels it (SQLSTATE 57014), as it does a sum over
    // millions of postings on a loaded server.
    const lock = await holdLock(stores.sql, 'ledger_postings');
    try {
      const r = await call(gw, 'GET', '/v1/stats?since=2026-01-01T00:00:00Z', biz.admin_key);
      expect([r.status, r.body.awards_today, r.body.spends_today, typeof r.body.ledger_lag, Array.isArray(r.body.per_second)], r.text).toEqual([200, null, null, 'number', true]);
    } finally {
      lock.release();
      await lock.done;
    }
    const again = await call(gw, 'GET', '/v1/stats?since=2026-01-01T00:00:01Z', biz.admin_key);
    expect([again.status, again.body.awards_today, again.body.spends_today], again.text).toEqual([200, 0, 0]);
  }, 20_000);
});
