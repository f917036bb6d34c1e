// A webhook worker stopping (the gateway's SIGTERM) lets the attempts in flight be answered
// before it cuts them short, and makes no attempt that had not begun. Cut short at once, a
// delivery its receiver had already taken and answered 200 was sent again after the restart: 39
// after one SIGTERM (a black-box probe of EVENTS.md, 2026-12-05). EVENTS.md allows at least once;
// a clean stop should not use it.
//
// A real HTTP receiver on loopback, the test stores, and workers of the test's own (the gateway runs none).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stop_grace_ms, WebhookWorker } from '../adapters/webhooks/worker.ts';
import { webhookSecretKey } from '../processor/webhooks.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { createContacts } from './ledger-helpers.ts';
import { startReceiver, type Receiver } from './webhook-helpers.ts';

let gw: TestGateway;
let receiver: Receiver;
const key = webhookSecretKey(process.env.CIM_HMAC_KEY ?? 'test-hmac-key');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  gw = await startTestGateway({ webhooks: { retry_base_ms: 600_000, allow_private: true, worker: false } });
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await gw?.close();
});

describe('a webhook worker stopped with an attempt in flight', () => {
  it('records the answer that comes within its grace, and sends nothing again', async () => {
    const biz = await createBusiness(gw);
    const [c] = await createContacts(gw, biz, [testCard(883_000_001)]);
    const w = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: receiver.url, events: ['transaction.approved'] });
    expect(w.status, w.text).toBe(201);
    const sql = gw.processor.stores.sql;
    const count = 3;
    for (let i = 0; i < count; i++) {
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `whs-${Date.now()}-${i}`, cim: { type: 'card', value: c!.card }, amount: 1000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
    }
    await eventually('the deliveries recorded', async () => (await sql<{ n: number }[]>`select count(*)::int4 as n from webhook_deliveries where endpoint_id = ${w.body.id}`)[0]!.n === count, 30_000);
    // The receiver holds each answer 400 ms: the worker is stopped while they are in flight.
    receiver.onRequest = () => sleep(400);
    const first = new WebhookWorker(sql, key, { retry_base_ms: 600_000, allow_private: true, per_endpoint: 1 });
    first.start();
    await eventually('the first attempt arrives', async () => receiver.received.length >= 1, 10_000);
    const stopping = performance.now();
    await first.stop();
    expect(performance.now() - stopping).toBeLessThan(stop_grace_ms + 1_000);
    const taken = receiver.received.length;
    // Each one the receiver took is recorded succeeded; the others (not begun) are due again.
    const rows = await sql<{ status: string; attempts: number }[]>`select status, attempts from webhook_deliveries where endpoint_id = ${w.body.id} order by seq`;
    expect(rows.filter((r) => r.status === 'succeeded').length).toBe(taken);
    expect(rows.filter((r) => r.status === 'pending').every((r) => r.attempts === 0)).toBe(true);

    receiver.onRequest = undefined;
    const second = new WebhookWorker(sql, key, { retry_base_ms: 600_000, allow_private: true });
    second.start();
    try {
      await eventually('every delivery succeeded', async () => (await sql<{ n: number }[]>`select count(*)::int4 as n from webhook_deliveries where endpoint_id = ${w.body.id} and status = 'succeeded'`)[0]!.n === count, 10_000);
    } finally {
      await second.stop();
    }
    // Each event reached the receiver once.
    const ids = receiver.received.map((r) => r.headers['pocketgate-event-id']);
    expect(ids.length).toBe(count);
    expect(new Set(ids).size).toBe(count);
  });
});
