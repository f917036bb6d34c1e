// PUT /v1/tiers holds a connection of the pool (its advisory lock's transaction) while it makes
// its reads and writes on others: as many PUTs at once as the pool has connections held all of
// them, each waiting for one more, and no call of the process that needs PostgreSQL was answered.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
});
afterAll(async () => {
  await gw?.close();
});

describe('PUT /v1/tiers many at once', () => {
  it('answers every one, and the business is still served, with more PUTs than the pool has connections', async () => {
    const tiers = [{ name: 'gold', min_period_units: 100, period: 'month' }];
    const answers = Promise.all(Array.from({ length: 12 }, () => call(gw, 'PUT', '/v1/tiers', biz.admin_key, tiers)));
    const timeout = new Promise<'stuck'>((resolve) => setTimeout(() => resolve('stuck'), 10_000).unref());
    const outcome = await Promise.race([answers, timeout]);
    expect(outcome).not.toBe('stuck');
    for (const r of outcome as Awaited<typeof answers>) expect(r.status, r.text).toBe(200);
    const read = await call(gw, 'GET', '/v1/tiers', biz.admin_key);
    expect(read.status, read.text).toBe(200);
  }, 30_000);
});
