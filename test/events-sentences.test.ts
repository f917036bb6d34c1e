// EVENTS.md sentences no other test names, at their exact bounds: checked as the page words them.
// On stores of this file's own (its webhook worker is the only one claiming its deliveries), with
// WEBHOOKS_ALLOW_PRIVATE (the receivers are on loopback) and a short WEBHOOK_RETRY_BASE_MS.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { shop, type Shop } from './contract-util.ts';
import { createProcessor, postCallback, sale, transactionId } from './callback-helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { startReceiver, type Receiver } from './webhook-helpers.ts';

let own: OwnStores;
let gw: TestGateway;
const receivers: Receiver[] = [];
let seed = 15_700_000;

beforeAll(async () => {
  own = await startOwnStores('events_sentences');
  gw = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url, webhooks: { retry_base_ms: 60, allow_private: true, worker: true } });
});
afterAll(async () => {
  await gw?.close();
  await Promise.all(receivers.map((r) => r.close()));
  await own?.stop();
});

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

const cashback = { name: '5% back', goal: 'spend', award: { percent: 5 } };

function saleData(s: Shop, transaction_id: string, extra: Record<string, unknown> = {}) {
  return { transaction_id, card: { number: s.card }, amount: 1000, currency: 'EUR', merchant_code: s.biz.merchant_code, ...extra };
}

async function awardsOf(s: Shop, id: string): Promise<number[]> {
  const t = await call(gw, 'GET', `/v1/transactions/${id}`, s.biz.admin_key);
  expect(t.status, t.text).toBe(200);
  return t.body.awards.map((a: { amount: number }) => a.amount).sort((a: number, b: number) => a - b);
}

describe('callbacks in', () => {
  it("occurred_at is the purchase's for offers and caps: a happy hour of the sale's time, a once-a-day cap per sale's day", async () => {
    const hour = (new Date().getUTCHours() + 12) % 24;
    const hh = `${String(hour).padStart(2, '0')}`;
    const s = await shop(gw, testCard(++seed), [
      { name: 'happy hour', goal: 'happy_hour', award: { fixed: 100 }, conditions: { time_from: `${hh}:00`, time_to: `${hh}:59` } },
      { name: 'once a day', goal: 'spend', award: { fixed: 7 }, limits: { per_contact: { count: 1, period: 'day' } } },
    ]);
    const p = await createProcessor(gw, s.biz);
    // Yesterday (UTC, the processor's venue's zone): a day of its own whatever the time now (from
    // 12:00 UTC on, today's hour:30 was already past and on today, and the day's cap took it).
    const in_hour = new Date();
    in_hour.setUTCHours(hour, 30, 0, 0);
    in_hour.setUTCDate(in_hour.getUTCDate() - 1);
    const two_days_before = new Date(in_hour.getTime() - 2 * 86_400_000);
    const booked: string[] = [];
    for (const occurred_at of [in_hour.toISOString(), undefined, two_days_before.toISOString(), undefined]) {
      const r = await postCallback(gw, p, sale('transaction.cleared', saleData(s, transactionId(), occurred_at === undefined ? {} : { occurred_at })));
      expect(r.body.status, r.text).toBe('processed');
      booked.push(r.body.transaction_id);
    }
    // In the hour, each on a day of its own: both awards. Now (outside the hour): the day's cap
    // only, once; the second sale of today gets nothing.
    expect(await awardsOf(s, booked[0]!)).toEqual([7, 100]);
    expect(await awardsOf(s, booked[1]!)).toEqual([7]);
    expect(await awardsOf(s, booked[2]!)).toEqual([7, 100]);
    expect(await awardsOf(s, booked[3]!)).toEqual([]);
  });

  it('occurred_at just inside 35 days back and 5 minutes ahead is taken', async () => {
    const s = await shop(gw, testCard(++seed), [cashback]);
    const p = await createProcessor(gw, s.biz);
    const now = gw.processor.stores.clock.now();
    for (const ms of [now - 35 * 86_400_000 + 60_000, now + 4 * 60_000]) {
      const r = await postCallback(gw, p, sale('transaction.cleared', saleData(s, transactionId(), { occurred_at: new Date(ms).toISOString() })));
      expect(r.body.status, r.text).toBe('processed');
    }
  });

  it('the same event id from another processor is its own event, not a replay', async () => {
    const s = await shop(gw, testCard(++seed), [cashback]);
    const [a, b] = [await createProcessor(gw, s.biz), await createProcessor(gw, s.biz)];
    const first = await postCallback(gw, a, sale('transaction.cleared', saleData(s, 'shared-tx'), 'shared-evt'));
    const second = await postCallback(gw, b, sale('transaction.cleared', saleData(s, 'shared-tx'), 'shared-evt'));
    for (const r of [first, second]) expect(r.body, r.text).toMatchObject({ event_id: 'shared-evt', status: 'processed' });
    expect(second.body.replayed).toBeUndefined();
    expect(second.body.transaction_id).not.toBe(first.body.transaction_id);
  });

  it('a body of exactly 1 MiB is taken; one byte more is 400 validation_failed', async () => {
    const s = await shop(gw, testCard(++seed), [cashback]);
    const p = await createProcessor(gw, s.biz);
    const event = JSON.stringify(sale('transaction.cleared', saleData(s, transactionId())));
    const body = event + ' '.repeat(1024 * 1024 - event.length);
    expect(Buffer.byteLength(body)).toBe(1024 * 1024);
    const over = await postCallback(gw, p, `${body} `);
    expect(over.status).toBe(400);
    expect(JSON.parse(over.text).code).toBe('validation_failed');
    const taken = await postCallback(gw, p, body);
    expect(taken.status, taken.text.slice(0, 200)).toBe(200);
    expect(taken.body.status).toBe('processed');
  });
});

describe('webhooks out', () => {
  async function endpoint(s: Shop, url: string, events: string[] = ['*']) {
    const w = await call(gw, 'POST', '/v1/webhooks', s.biz.admin_key, { url, events });
    expect(w.status, w.text).toBe(201);
    return w.body as { id: string };
  }
  const purchase = async (s: Shop, reference: string) => {
    const r = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, { reference, cim: { type: 'card', value: s.card }, amount: 1000, currency: 'EUR' });
    expect(r.status, r.text).toBe(201);
    return r.body as { id: string };
  };
  const deliveries = async (s: Shop, id: string, query = '') => {
    const d = await call(gw, 'GET', `/v1/webhooks/${id}/deliveries${query}`, s.biz.admin_key);
    expect(d.status, d.text).toBe(200);
    return d.body as { data: any[]; has_more: boolean };
  };

  it('a 3xx answer is no success: not followed, retried, its status recorded', async () => {
    const s = await shop(gw, testCard(++seed), []);
    const r = await receiver((n) => (n === 0 ? 302 : 200));
    const w = await endpoint(s, r.url, ['transaction.approved']);
    await purchase(s, 'ev-3xx');
    await eventually('succeeded on the second attempt', async () => (await deliveries(s, w.id)).data[0]?.status === 'succeeded', 10_000);
    const [d] = (await deliveries(s, w.id)).data;
    expect(d).toMatchObject({ attempts: 2, last_status_code: 200 });
    expect(r.received).toHaveLength(2);
    expect(r.received[1]!.headers['pocketgate-event-id']).toBe(r.received[0]!.headers['pocketgate-event-id']);
  });

  it('retry of a succeeded delivery: 202, one more attempt now', async () => {
    const s = await shop(gw, testCard(++seed), []);
    const r = await receiver();
    const w = await endpoint(s, r.url, ['transaction.approved']);
    await purchase(s, 'ev-retry');
    await eventually('succeeded', async () => (await deliveries(s, w.id)).data[0]?.status === 'succeeded', 10_000);
    const event_id = (await deliveries(s, w.id)).data[0].event_id;
    const retried = await call(gw, 'POST', `/v1/webhooks/${w.id}/deliveries/${event_id}/retry`, s.biz.admin_key);
    expect(retried.status, retried.text).toBe(202);
    await eventually('attempted again', async () => r.received.length === 2, 5_000);
    await eventually('succeeded again', async () => (await deliveries(s, w.id)).data[0]?.attempts === 2 && (await deliveries(s, w.id)).data[0]?.status === 'succeeded', 5_000);
  });

  it('retry of a succeeded delivery whose one more attempt fails: that attempt alone, then failed, no backoff after it', async () => {
    const s = await shop(gw, testCard(++seed), []);
    let failing = false;
    const r = await receiver(() => (failing ? 500 : 200));
    const w = await endpoint(s, r.url, ['transaction.approved']);
    await purchase(s, 'ev-retry-fails');
    await eventually('succeeded', async () => (await deliveries(s, w.id)).data[0]?.status === 'succeeded', 10_000);
    failing = true;
    const event_id = (await deliveries(s, w.id)).data[0].event_id;
    expect((await call(gw, 'POST', `/v1/webhooks/${w.id}/deliveries/${event_id}/retry`, s.biz.admin_key)).status).toBe(202);
    await eventually('attempted again, and failed', async () => (await deliveries(s, w.id)).data[0]?.status === 'failed', 5_000);
    // Attempts 3 and 4 would have come 240 and 960 ms after (base 60 ms × 4^(k−2), ±20%).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(r.received).toHaveLength(2);
    expect((await deliveries(s, w.id)).data[0]).toMatchObject({ attempts: 2, status: 'failed', last_status_code: 500, next_attempt_at: null });
  });

  it('retry of a pending delivery: its next attempt now, and its schedule goes on after a failure', async () => {
    const s = await shop(gw, testCard(++seed), []);
    const r = await receiver((n) => (n < 3 ? 500 : 200));
    const w = await endpoint(s, r.url, ['transaction.approved']);
    await purchase(s, 'ev-retry-pending');
    await eventually('failed once, pending', async () => r.received.length === 1, 5_000);
    const event_id = (await deliveries(s, w.id)).data[0].event_id;
    expect((await call(gw, 'POST', `/v1/webhooks/${w.id}/deliveries/${event_id}/retry`, s.biz.admin_key)).status).toBe(202);
    // The retried attempt fails too (the receiver's second answer), and the backoff carries on to
    // the fourth attempt, which succeeds.
    await eventually('succeeded on the fourth attempt', async () => (await deliveries(s, w.id)).data[0]?.status === 'succeeded', 10_000);
    expect((await deliveries(s, w.id)).data[0]).toMatchObject({ attempts: 4, status: 'succeeded' });
  });

  it('deliveries: limit defaults to 100, and 1000 is taken', async () => {
    const s = await shop(gw, testCard(++seed), []);
    const r = await receiver();
    const w = await endpoint(s, r.url, ['transaction.approved']);
    for (let i = 0; i < 101; i++) await purchase(s, `ev-page-${i}`);
    await eventually('101 delivered', async () => r.received.length >= 101, 20_000);
    const page = await deliveries(s, w.id);
    expect(page.data).toHaveLength(100);
    expect(page.has_more).toBe(true);
    const all = await deliveries(s, w.id, '?limit=1000');
    expect(all.data).toHaveLength(101);
    expect(all.has_more).toBe(false);
  });
});
