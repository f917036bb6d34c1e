// Deliveries survive a SIGKILL of the gateway that was sending them (spec/EVENTS.md: "Deliveries
// survive a restart of every process"): a gateway process (`gateway/main.ts`, as `npm start` runs
// it) records purchases and tries their events against a receiver that fails; it is killed; the
// receiver recovers; a new gateway process sends every event, none lost.
//
// Stores of this file's own. The API calls go through an in-process gateway without a ledger
// writer or a delivery worker: the gateway processes do all the recording and sending.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { addCashbackOffer, createContacts } from './ledger-helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { killGateway, spawnGateway, startReceiver, type GatewayProcess, type Receiver } from './webhook-helpers.ts';

let own: OwnStores;
let api: TestGateway;
let r: Receiver;
const processes: GatewayProcess[] = [];

function gatewayProcess(): GatewayProcess {
  const g = spawnGateway({ REDIS_URL: own.redis.url, DATABASE_URL: own.database_url, WEBHOOKS_ALLOW_PRIVATE: '1', WEBHOOK_RETRY_BASE_MS: '200' });
  processes.push(g);
  return g;
}

beforeAll(async () => {
  own = await startOwnStores('webhooks_kill');
  api = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url, ledger_writer: false, webhooks: { retry_base_ms: 200, allow_private: true, worker: false } });
  r = await startReceiver(() => 503);
});
afterAll(async () => {
  await Promise.all(processes.map((g) => killGateway(g, 'SIGKILL')));
  await api?.close();
  await r?.close();
  await own?.stop();
});

describe('a gateway killed while it had deliveries to make', () => {
  it('SIGKILL: a new gateway process delivers every event, after the receiver recovers', async () => {
    const first = gatewayProcess();
    await first.port;
    const biz = await createBusiness(api);
    await addCashbackOffer(api, biz, 5);
    const contacts = await createContacts(api, biz, [testCard(23_000_001), testCard(23_000_002)]);
    const w = await call(api, 'POST', '/v1/webhooks', biz.admin_key, { url: r.url, events: ['*'] });
    expect(w.status).toBe(201);
    const n = 20;
    for (let i = 0; i < n; i++) {
      const p = await call(api, 'POST', '/v1/purchases', biz.terminal_key, { reference: `kill-${i}`, cim: { type: 'card', value: contacts[i % 2]!.card }, amount: 1000 + i, currency: 'EUR' });
      expect(p.status).toBe(201);
    }
    // Each purchase: transaction.approved and award.created.
    const events = 2 * n;
    // Every delivery tried and refused at least twice, none leased to the first gateway now (its
    // attempt answered and recorded): the kill then cuts no attempt short.
    await eventually('every delivery tried twice and refused', async () => {
      const [row] = await own.sql<{ total: number; tried: number }[]>`
        select count(*)::int4 as total, count(*) filter (where attempts >= 2 and last_status_code = 503 and next_attempt_at < now() + interval '5 seconds')::int4 as tried
        from webhook_deliveries where endpoint_id = ${w.body.id}`;
      return row!.total === events && row!.tried === events;
    }, 30_000);
    await killGateway(first, 'SIGKILL');
    expect(first.child.signalCode).toBe('SIGKILL');
    const before = new Set(r.received.map((e) => e.json.id as string));
    expect(before.size).toBe(events);

    r.behaviour = () => 200;
    const killed_at = r.received.length;
    const second = gatewayProcess();
    await second.port;
    await eventually('every event delivered by the new gateway', async () => {
      const list = (await call(api, 'GET', `/v1/webhooks/${w.body.id}/deliveries?status=succeeded&limit=1000`, biz.admin_key)).body.data as unknown[];
      return list.length === events;
    }, 45_000);
    const after = new Set(r.received.slice(killed_at).map((e) => e.json.id as string));
    expect(after).toEqual(before);
    expect((await call(api, 'GET', `/v1/webhooks/${w.body.id}/deliveries?status=pending`, biz.admin_key)).body.data).toEqual([]);
    await killGateway(second, 'SIGTERM');
    expect(second.child.exitCode).toBe(0);
  });
});
