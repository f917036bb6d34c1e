// OPERATIONS.md: `/readyz` answers 200 exactly when the POS path can approve. A Redis that lost
// its data while the gateway served (emptied, a new instance on the same address) takes writes,
// but holds no network and no balance until `npm run rebuild`: 503, `loading`. It answered 200
// until 2026-12-04 (an operations audit). And the POS path answers as /readyz does, 503
// `unavailable` (OPERATIONS.md: "loading its data"): until 2026-12-04 it answered a till's
// valid key 401, which a till takes for its key revoked (a black-box probe).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNetworkIntoRedis } from '../processor/network-load.ts';
import { probe_key } from '../processor/redis-health.ts';
import { network_cache_ttl_ms } from '../processor/network.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { createProcessor, postCallback, sale } from './callback-helpers.ts';
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
    // A terminal not used before the loss: no look-up of its key is cached in the gateway.
    const terminal = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: 'T0000002' });
    expect(terminal.status).toBe(201);
    expect((await call(gw, 'GET', '/readyz', undefined)).status).toBe(200);
    const processor = await createProcessor(gw, biz);
    const lookup = '/v1/wallets?cim_type=email&cim_value=nobody@example.com';
    expect((await call(gw, 'GET', lookup, biz.terminal_key)).status).toBe(404); // its key now known to the gateway
    await own.client.flushAll();
    const emptied = await call(gw, 'GET', '/readyz', undefined);
    expect([emptied.status, emptied.body.redis]).toEqual([503, 'loading']);
    // A key the gateway knew: its calls reach the POS path, which /readyz's finding has just
    // stopped (as the gateway's own probe would within 250 ms). Until it was told 'loading', a
    // /readyz told it 'ok' and a purchase reached the emptied Redis.
    const known = await call(gw, 'GET', lookup, biz.terminal_key);
    expect([known.status, known.body.code], known.text).toEqual([503, 'unavailable']);
    // A purchase too, and it writes nothing into the emptied Redis (rebuild would refuse it).
    const purchase = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'after-loss', cim: { type: 'email', value: 'nobody@example.com' }, amount: 100, currency: 'EUR' });
    expect([purchase.status, purchase.body.code], purchase.text).toEqual([503, 'unavailable']);
    expect((await own.client.keys('*')).filter((k) => k !== probe_key)).toEqual([]); // the probes' own key only
    for (const key of [terminal.body.api_key as string, 'tk_no_such_key_anywhere']) {
      const refused = await call(gw, 'GET', lookup, key);
      expect([refused.status, refused.body.code], refused.text).toEqual([503, 'unavailable']);
    }
    // A processor's callback, its secret verified by PostgreSQL: 503, which it retries, at once and
    // once the gateway's look-ups have expired (401 `signature_invalid` before, which it never retries).
    for (const when of ['at once', 'past the look-ups\' lifetime']) {
      if (when !== 'at once') await new Promise((resolve) => setTimeout(resolve, network_cache_ttl_ms + 100));
      const event = sale('transaction.cleared', { transaction_id: `emptied-${when.length}`, card: { number: testCard(77) }, amount: 100, currency: 'EUR', merchant_code: biz.merchant_code });
      const callback = await postCallback(gw, processor, event);
      expect([callback.status, callback.body.code], `${when}: ${callback.text}`).toEqual([503, 'unavailable']);
    }
    await loadNetworkIntoRedis(gw.processor.stores);
    // At once, before the gateway's next probe (250 ms): a refusing state is asked again first.
    const reloaded = await call(gw, 'GET', lookup, biz.terminal_key);
    expect(reloaded.status, reloaded.text).toBe(404);
    await eventually('ready again', async () => (await call(gw, 'GET', '/readyz', undefined)).status === 200);
    expect((await call(gw, 'GET', lookup, terminal.body.api_key)).status).toBe(404);
    expect((await call(gw, 'GET', lookup, 'tk_no_such_key_anywhere')).status).toBe(401);
  });
});
