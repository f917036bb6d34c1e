// Webhook events are kept WEBHOOK_EVENTS_RETENTION_DAYS, then forgotten with their deliveries by
// the process that writes the ledger, a bounded number a statement (processor/webhook-retention.ts),
// but only once every delivery of the event is over: succeeded, failed, or to a deleted endpoint.
//
// Stores of this file's own: the counts are this file's alone.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneWebhookEvents } from '../processor/webhook-retention.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { createContacts } from './ledger-helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { startReceiver, type Receiver } from './webhook-helpers.ts';

let own: OwnStores;
let gw: TestGateway;
let r: Receiver;

beforeAll(async () => {
  own = await startOwnStores('webhook_retention');
  gw = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url, webhooks: { retry_base_ms: 60_000, allow_private: true, worker: true } });
  r = await startReceiver();
});
afterAll(async () => {
  await gw?.close();
  await r?.close();
  await own?.stop();
});

async function endpoint(biz: BusinessFixture, status: 'enabled' | 'disabled' | 'deleted'): Promise<string> {
  const w = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: r.url, events: ['*'] });
  expect(w.status, w.text).toBe(201);
  if (status === 'disabled') expect((await call(gw, 'PATCH', `/v1/webhooks/${w.body.id}`, biz.admin_key, { status: 'disabled' })).status).toBe(200);
  if (status === 'deleted') expect((await call(gw, 'DELETE', `/v1/webhooks/${w.body.id}`, biz.admin_key)).status).toBe(204);
  return w.body.id;
}

/** An event recorded `age_days` ago and its deliveries as they stand (a pending one due tomorrow: no worker takes it here). */
async function event(biz: BusinessFixture, id: string, age_days: number, deliveries: [string, 'pending' | 'succeeded' | 'failed'][]): Promise<void> {
  const { sql } = own;
  const at = sql`now() - make_interval(days => ${age_days})`;
  await sql`insert into webhook_events (id, business_id, type, transaction_id, created_at) values (${id}, ${biz.business_id}, 'transaction.approved', ${`txn_${id}`}, ${at})`;
  for (const [endpoint_id, status] of deliveries) {
    await sql`insert into webhook_deliveries (endpoint_id, event_id, status, attempts, next_attempt_at, created_at)
      values (${endpoint_id}, ${id}, ${status}, 1, ${status === 'pending' ? sql`now() + interval '1 day'` : null}, ${at})`;
  }
}

async function kept(): Promise<{ events: string[]; deliveries: string[] }> {
  const events = await own.sql<{ id: string }[]>`select id from webhook_events where id like 'evt_keep_test_%' order by id`;
  const deliveries = await own.sql<{ event_id: string }[]>`select distinct event_id from webhook_deliveries where event_id like 'evt_keep_test_%' order by event_id`;
  return { events: events.map((e) => e.id), deliveries: deliveries.map((d) => d.event_id) };
}

describe('webhook events past the retention', () => {
  it('are forgotten with their deliveries once all are over, at most events_max a statement; the others are kept', async () => {
    const biz = await createBusiness(gw);
    const [on, off, gone] = [await endpoint(biz, 'enabled'), await endpoint(biz, 'disabled'), await endpoint(biz, 'deleted')];
    const e = (name: string) => `evt_keep_test_${name}`;
    await event(biz, e('old_succeeded'), 100, [[on, 'succeeded'], [gone, 'pending']]);
    await event(biz, e('old_failed'), 91, [[on, 'failed'], [off, 'succeeded']]);
    await event(biz, e('old_disabled_waiting'), 200, [[on, 'succeeded'], [off, 'pending']]);
    await event(biz, e('old_retrying'), 120, [[on, 'pending']]);
    await event(biz, e('young'), 89, [[on, 'succeeded']]);
    await event(biz, e('new'), 0, [[on, 'failed']]);

    expect(await pruneWebhookEvents(own.sql, 90, 1)).toBe(1);
    expect(await pruneWebhookEvents(own.sql, 90, 1)).toBe(1);
    expect(await pruneWebhookEvents(own.sql, 90, 1)).toBe(0);
    const left = ['new', 'old_disabled_waiting', 'old_retrying', 'young'].map(e);
    expect(await kept()).toEqual({ events: left, deliveries: left });
    expect(await own.sql`select 1 from webhook_deliveries where event_id = ${e('old_disabled_waiting')}`).toHaveLength(2);

    // Over at last: the retry succeeded; the disabled endpoint is deleted (its deliveries never go).
    await own.sql`update webhook_deliveries set status = 'succeeded', next_attempt_at = null where event_id = ${e('old_retrying')}`;
    expect((await call(gw, 'DELETE', `/v1/webhooks/${off}`, biz.admin_key)).status).toBe(204);
    expect(await pruneWebhookEvents(own.sql, 90)).toBe(2);
    expect(await kept()).toEqual({ events: [e('new'), e('young')], deliveries: [e('new'), e('young')] });
    // With a shorter retention, the 89-day-old one goes too; the new one stays.
    expect(await pruneWebhookEvents(own.sql, 90)).toBe(0);
    expect(await pruneWebhookEvents(own.sql, 88)).toBe(1);
    expect(await kept()).toEqual({ events: [e('new')], deliveries: [e('new')] });
  });

  it('a delivery sent and forgotten: no longer listed nor retried (404); its transaction is still read back', async () => {
    const biz = await createBusiness(gw);
    const [c] = await createContacts(gw, biz, [testCard(25_000_001)]);
    const id = await endpoint(biz, 'enabled');
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'kept-1', cim: { type: 'card', value: c!.card }, amount: 1000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    const list = async () => (await call(gw, 'GET', `/v1/webhooks/${id}/deliveries`, biz.admin_key)).body.data as { event_id: string; status: string }[];
    const [d] = await eventually('delivered', async () => ((await list())[0]?.status === 'succeeded' ? list() : undefined));
    // Kept as long as the retention: a day short of it, nothing is forgotten.
    await own.sql`update webhook_events set created_at = now() - interval '89 days' where id = ${d!.event_id}`;
    while ((await pruneWebhookEvents(own.sql, 90)) > 0);
    expect(await list()).toHaveLength(1);
    await own.sql`update webhook_events set created_at = now() - interval '91 days' where id = ${d!.event_id}`;
    while ((await pruneWebhookEvents(own.sql, 90)) > 0);
    expect(await list()).toEqual([]);
    expect((await call(gw, 'POST', `/v1/webhooks/${id}/deliveries/${d!.event_id}/retry`, biz.admin_key)).status).toBe(404);
    const t = await call(gw, 'GET', `/v1/transactions/${p.body.id}`, biz.admin_key);
    expect(t.body).toMatchObject({ id: p.body.id, ledger: 'recorded' });
  });

  it('a retry accepted while a prune runs is not forgotten: the prune fails and forgets nothing', async () => {
    const biz = await createBusiness(gw);
    const on = await endpoint(biz, 'enabled');
    const id = 'evt_retried_while_pruned';
    await event(biz, id, 100, [[on, 'failed']]);
    // The retry (processor/webhooks.ts retry) holds its row, uncommitted, while the prune starts.
    const retry = await own.sql.reserve();
    try {
      await retry`begin`;
      await retry`update webhook_deliveries set status = 'pending', next_attempt_at = now() + interval '1 day' where event_id = ${id}`;
      const pruning = pruneWebhookEvents(own.sql, 90).then(
        (n) => ({ n }),
        (err: { code?: string }) => ({ code: err.code }),
      );
      await eventually('the prune waiting for the retry’s row', async () =>
        (await own.sql`select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%delete from webhook_deliveries%'`).length > 0,
      );
      await retry`commit`;
      expect(await pruning).toEqual({ code: '40001' }); // could not serialize: nothing forgotten
    } finally {
      retry.release();
    }
    expect(await own.sql`select status from webhook_deliveries where event_id = ${id}`).toEqual([{ status: 'pending' }]);
    expect(await own.sql`select 1 from webhook_events where id = ${id}`).toHaveLength(1);
  });
});
