// OPERATIONS.md: /readyz answers `{"redis", "postgres", "ledger_lag": N}`, the lag "counted, not
// estimated". With Redis gone the journal cannot be read, so the gateway answers the last count;
// a gateway whose Redis went away before anyone asked /readyz had no count and answered null.
// It counts once as it starts, so the lag is a number from the first answer on (and every second
// after: test/readyz-lag-count.test.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startTestGateway, type TestGateway } from './helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
let gw: TestGateway;

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ redis_url: own.url });
});
afterAll(async () => {
  await gw.close();
  await own.stop();
});

describe('/readyz before it was ever asked', () => {
  it('answers the lag as a count when Redis is gone before the first /readyz', async () => {
    await own.stop();
    const ready = await call(gw, 'GET', '/readyz', undefined);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ redis: 'down' });
    expect(Number.isInteger(ready.body.ledger_lag), JSON.stringify(ready.body)).toBe(true);
  }, 30_000);
});
