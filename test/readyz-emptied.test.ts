// OPERATIONS.md: `/readyz` answers 200 exactly when the POS path can approve. A Redis that lost
// its data while the gateway served (emptied, a new instance on the same address) takes writes,
// but holds no network (every key 401) and no balance until `npm run rebuild`: 503, `loading`.
// It answered 200 until 2026-12-04 (an operations audit).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNetworkIntoRedis } from '../processor/network-load.ts';
import { call, createBusiness, eventually, startTestGateway, type TestGateway } from './helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
let gw: TestGateway;

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ redis_url: own.url });
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});

describe('/readyz on a Redis emptied under the gateway', () => {
  it('503 loading while the network is gone, 200 again once it is loaded back', async () => {
    const biz = await createBusiness(gw);
    expect((await call(gw, 'GET', '/readyz', undefined)).status).toBe(200);
    await own.client.flushAll();
    const emptied = await call(gw, 'GET', '/readyz', undefined);
    expect([emptied.status, emptied.body.redis]).toEqual([503, 'loading']);
    await loadNetworkIntoRedis(gw.processor.stores);
    await eventually('ready again', async () => (await call(gw, 'GET', '/readyz', undefined)).status === 200);
    expect((await call(gw, 'GET', '/v1/wallets?cim_type=email&cim_value=nobody@example.com', biz.terminal_key)).status).toBe(404);
  });
});
