// Callback answers are kept CALLBACK_EVENTS_RETENTION_DAYS, then forgotten by the process that
// writes the ledger, a bounded number of rows a statement (processor/callback-events.ts prune).

import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBusiness, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { createProcessor, postCallback, sale, transactionId, type ProcessorFixture } from './callback-helpers.ts';
import { shop, walletOf } from './contract-util.ts';

let gw: TestGateway;
let p: ProcessorFixture;

beforeAll(async () => {
  gw = await startTestGateway();
  p = await createProcessor(gw, await createBusiness(gw));
});
afterAll(async () => {
  await gw?.close();
});

async function store(event_id: string, age_days: number): Promise<void> {
  await gw.processor.stores.sql`
    insert into callback_events (processor_id, event_id, type, transaction_id, result, created_at)
    values (${p.id}, ${event_id}, 'transaction.cleared', ${event_id}, '{"status":"ignored","code":"unknown_card"}', now() - make_interval(days => ${age_days}))`;
}

async function stored(): Promise<string[]> {
  const rows = await gw.processor.stores.sql<{ event_id: string }[]>`select event_id from callback_events where processor_id = ${p.id} order by event_id`;
  return rows.map((r) => r.event_id);
}

it('forgets answers older than the retention, at most rows_max a statement, and keeps the younger ones', async () => {
  for (const [id, age] of [['old-1', 600], ['old-2', 541], ['old-3', 700], ['young-1', 539], ['young-2', 0]] as const) await store(id, age);
  // Other processors' old answers go too (the retention is the gateway's); only ours are counted here.
  expect(await gw.processor.callback_events.prune(540, 2)).toBeLessThanOrEqual(2);
  while ((await gw.processor.callback_events.prune(540, 2)) > 0);
  expect(await stored()).toEqual(['young-1', 'young-2']);
  expect(await gw.processor.callback_events.prune(540, 2)).toBe(0);
});

it('an answer forgotten leaves the purchase it made: the event sent again within the hot window books nothing twice', async () => {
  const s = await shop(gw, testCard(917_001), [{ name: '10% back', goal: 'spend', award: { percent: 10 } }]);
  const q = await createProcessor(gw, s.biz);
  const e = sale('transaction.cleared', { transaction_id: transactionId(), card: { number: s.card }, amount: 1000, currency: 'EUR', merchant_code: s.biz.merchant_code });
  expect((await postCallback(gw, q, e)).body.status).toBe('processed');
  expect((await postCallback(gw, q, e)).body).toMatchObject({ status: 'processed', replayed: true });
  await gw.processor.stores.sql`update callback_events set created_at = now() - interval '541 days' where processor_id = ${q.id}`;
  while ((await gw.processor.callback_events.prune(540)) > 0);
  expect(await gw.processor.stores.sql`select 1 from callback_events where processor_id = ${q.id}`).toHaveLength(0);
  // Answered afresh, as an event never seen: its purchase (the same reference and body on the
  // processor's terminal) is the one already booked, which the hot window still remembers.
  const again = await postCallback(gw, q, e);
  expect(again.body.status, again.text).toBe('processed');
  expect((await walletOf(gw, s.biz.admin_key, s.contact_id)).commerce).toBe(100);
});
