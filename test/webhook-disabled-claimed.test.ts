// spec/EVENTS.md: an event is sent "to every enabled endpoint subscribed to its type". A worker
// claims an endpoint's deliveries ahead of its free slots; those waiting for a slot were sent
// once one freed, even when the endpoint had been disabled or deleted meanwhile (a black-box
// probe, 2026-12-05: a hanging endpoint disabled got its 8 claimed deliveries up to 8.5 s after
// the PATCH or DELETE had answered). An attempt that waited now checks its endpoint first.
//
// A real receiver on loopback that holds its requests until told, the test stores, and a worker
// of the test's own (the gateway runs none).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookWorker } from '../adapters/webhooks/worker.ts';
import { webhookSecretKey } from '../processor/webhooks.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { createContacts } from './ledger-helpers.ts';
import { startReceiver, type Receiver } from './webhook-helpers.ts';

/** Long enough that no retry of a failed attempt falls due while the test runs. */
const retry_base_ms = 600_000;
const per_endpoint = 2;
const purchases = 10;

let gw: TestGateway;
let receiver: Receiver | undefined;
const key = webhookSecretKey(process.env.CIM_HMAC_KEY ?? 'test-hmac-key');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

beforeAll(async () => {
  gw = await startTestGateway({ webhooks: { retry_base_ms, allow_private: true, worker: false } });
});
afterAll(async () => {
  await receiver?.close();
  await gw?.close();
});

describe.each(['disabled', 'deleted'] as const)('deliveries claimed for an endpoint %s while they waited for a slot', (change) => {
  it('are not sent', async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    await receiver?.close();
    receiver = await startReceiver(() => 500);
    // The first answered at once: an endpoint is claimed deliveries to wait for its slots only
    // once its attempts are answered fast (worker.ts quick_attempt_ms); the others held.
    receiver.onRequest = () => (receiver!.received.length === 1 ? Promise.resolve() : held);
    const biz = await createBusiness(gw);
    const [c] = await createContacts(gw, biz, [testCard(41_000_000 + (change === 'deleted' ? 1 : 0))]);
    const w = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: receiver.url, events: ['transaction.approved'] });
    expect(w.status, w.text).toBe(201);
    for (let i = 0; i < purchases; i++) {
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `wdc-${change}-${i}`, cim: { type: 'card', value: c!.card }, amount: 1000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
    }
    const sql = gw.processor.stores.sql;
    await eventually('every delivery recorded', async () => (await sql<{ n: number }[]>`select count(*)::int4 as n from webhook_deliveries where endpoint_id = ${w.body.id}`)[0]!.n === purchases, 60_000);

    const worker = new WebhookWorker(sql, key, { retry_base_ms, allow_private: true, per_endpoint });
    worker.start();
    try {
      // Its slots taken by held requests, as many more claimed and waiting for them.
      await eventually('the endpoint’s slots all taken', async () => receiver!.received.length === 1 + per_endpoint, 10_000);
      await eventually('deliveries waiting for a slot', async () => worker.inFlight > per_endpoint, 10_000);
      const changed = change === 'disabled' ? await call(gw, 'PATCH', `/v1/webhooks/${w.body.id}`, biz.admin_key, { status: 'disabled' }) : await call(gw, 'DELETE', `/v1/webhooks/${w.body.id}`, biz.admin_key);
      expect(changed.status, changed.text).toBe(change === 'disabled' ? 200 : 204);
      release();
      await sleep(1_500);
      expect(receiver.received.length).toBe(1 + per_endpoint);
    } finally {
      await worker.stop();
    }
  }, 90_000);
});
