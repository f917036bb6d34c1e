// Webhook endpoints changed while their deliveries are in flight, on two gateways sharing stores of
// this file's own (both send): PATCHed, disabled, re-enabled and deleted while purchases make
// events and a slow receiver holds attempts; a retry racing the attempt in flight.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { addCashbackOffer, createContacts } from './ledger-helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { startReceiver, type Receiver } from './webhook-helpers.ts';

let own: OwnStores;
let gw: TestGateway;
let other: TestGateway;
const receivers: Receiver[] = [];

beforeAll(async () => {
  own = await startOwnStores('races_webhooks');
  const config = { redis_url: own.redis.url, database_url: own.database_url, webhooks: { retry_base_ms: 50, allow_private: true, worker: true } };
  gw = await startTestGateway(config);
  other = await startTestGateway(config);
});
afterAll(async () => {
  await other?.close();
  await gw?.close();
  await Promise.all(receivers.map((r) => r.close()));
  await own?.stop();
});

const slow = async (ms: number) => {
  const r = await startReceiver(() => 200);
  receivers.push(r);
  r.onRequest = () => new Promise((resolve) => setTimeout(resolve, ms));
  return r;
};

describe('webhook endpoints changed while deliveries are in flight', () => {
  it('PATCH url/events, disable, enable and DELETE on both gateways while 60 purchases run: no 5xx, nothing sent after the DELETE answered, deliveries 404 then', async () => {
    const biz = await createBusiness(gw);
    await addCashbackOffer(gw, biz, 5);
    const [c] = await createContacts(gw, biz, [testCard(93_600_001)]);
    const a = await slow(150);
    const b = await slow(150);
    const w = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: a.url, events: ['*'] });
    expect(w.status, w.text).toBe(201);
    const id = w.body.id as string;
    const buys = Array.from({ length: 60 }, (_, i) => call(i % 2 ? other : gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `wh-${i}`, cim: { type: 'card', value: c!.card }, amount: 1000, currency: 'EUR' }));
    const admin = [];
    for (const [k, body] of [{ url: b.url }, { status: 'disabled' }, { events: ['transaction.approved'] }, { status: 'enabled' }, { url: a.url }].entries()) {
      await new Promise((r) => setTimeout(r, 40));
      admin.push(await call(k % 2 ? other : gw, 'PATCH', `/v1/webhooks/${id}`, biz.admin_key, body));
    }
    for (const r of admin) expect(r.status, r.text).toBe(200);
    const retries = [];
    const page = await call(gw, 'GET', `/v1/webhooks/${id}/deliveries?limit=20`, biz.admin_key);
    expect(page.status, page.text).toBe(200);
    for (const d of page.body.data) retries.push(call(other, 'POST', `/v1/webhooks/${id}/deliveries/${d.event_id}/retry`, biz.admin_key));
    for (const r of await Promise.all(retries)) expect(r.status, r.text).toBe(202);
    for (const r of await Promise.all(buys)) expect(r.status, r.text).toBe(201);
    const del = await call(other, 'DELETE', `/v1/webhooks/${id}`, biz.admin_key);
    expect(del.status, del.text).toBe(204);
    // Attempts claimed before the DELETE may still arrive (150 ms each); none claimed after it.
    await new Promise((r) => setTimeout(r, 1_000));
    const seen = a.received.length + b.received.length;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(a.received.length + b.received.length).toBe(seen);
    expect((await call(gw, 'GET', `/v1/webhooks/${id}/deliveries`, biz.admin_key)).status).toBe(404);
    expect((await call(gw, 'PATCH', `/v1/webhooks/${id}`, biz.admin_key, { status: 'enabled' })).status).toBe(404);
  });

  it('a retry asked for while the delivery’s attempt is in flight, 10 times: one more attempt is made, the delivery ends succeeded', async () => {
    const biz = await createBusiness(gw);
    await addCashbackOffer(gw, biz, 5);
    const [c] = await createContacts(gw, biz, [testCard(93_600_002)]);
    const wrong: string[] = [];
    for (let round = 0; round < 10; round++) {
      const r = await slow(300);
      const w = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: r.url, events: ['transaction.approved'] });
      const id = w.body.id as string;
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `rt-${round}`, cim: { type: 'card', value: c!.card }, amount: 1000, currency: 'EUR' });
      expect(p.status).toBe(201);
      await eventually('the first attempt', async () => r.received.length === 1);
      const event_id = r.received[0]!.json.id as string;
      const retry = await call(round % 2 ? other : gw, 'POST', `/v1/webhooks/${id}/deliveries/${event_id}/retry`, biz.admin_key);
      expect(retry.status, retry.text).toBe(202);
      await new Promise((res) => setTimeout(res, 1_000));
      const [d] = (await call(gw, 'GET', `/v1/webhooks/${id}/deliveries`, biz.admin_key)).body.data;
      if (r.received.length !== 2 || d.status !== 'succeeded') wrong.push(`round ${round}: ${r.received.length} attempts received, ${JSON.stringify(d)}`);
      await call(gw, 'DELETE', `/v1/webhooks/${id}`, biz.admin_key);
    }
    expect(wrong).toEqual([]);
  });
});
