// spec/EVENTS.md: "A slow or dead endpoint never slows the POS path or other endpoints'
// deliveries." A hanging endpoint holds only its own slots; this file is about a dead one that
// fails fast (connection refused, a 500 at once). Before, it took an equal share of every claim
// round (an attempt for each of its deliveries as fast as the healthy endpoint's), and a backlog to
// the healthy endpoint drained 1.3-1.8x slower beside two of them on a loaded 2-core machine.
// Times vary too much there to assert on; the attempts the dead endpoints get meanwhile do not.
//
// Real HTTP receivers on loopback, the test stores, and a worker of the test's own started once
// the backlog is recorded (the gateway runs none).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookWorker } from '../adapters/webhooks/worker.ts';
import { webhookSecretKey } from '../processor/webhooks.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { createContacts } from './ledger-helpers.ts';
import { startReceiver, type Receiver } from './webhook-helpers.ts';

const events_count = 2_000;
/** Long enough that no retry of a failed attempt falls due while a test runs. */
const retry_base_ms = 600_000;

let gw: TestGateway;
let seed = 31_000_000;
const key = webhookSecretKey(process.env.CIM_HMAC_KEY ?? 'test-hmac-key');
const open: Receiver[] = [];

beforeAll(async () => {
  gw = await startTestGateway({ webhooks: { retry_base_ms, allow_private: true, worker: false } });
});
afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
  await gw?.close();
});

async function receiver(status: number): Promise<Receiver> {
  const r = await startReceiver(() => status);
  open.push(r);
  return r;
}

/** A closed port: connecting is refused at once. */
async function refusedUrl(): Promise<string> {
  const r = await startReceiver();
  await r.close();
  return r.url;
}

/**
 * A business with the healthy endpoint and `dead_urls` subscribed, `events_count` purchases
 * recorded (every delivery pending), then a worker started: ms until the healthy receiver has all.
 */
async function drainTime(dead_urls: readonly string[]): Promise<{ ms: number; dead_attempts: number }> {
  const healthy = await receiver(200);
  const { endpoints } = await backlog([healthy.url, ...dead_urls]);
  const sql = gw.processor.stores.sql;
  const worker = new WebhookWorker(sql, key, { retry_base_ms, allow_private: true });
  const started = performance.now();
  worker.start();
  try {
    await eventually('the healthy endpoint has every event', async () => healthy.received.length >= events_count, 120_000);
    const ms = performance.now() - started;
    const [row] = await sql<{ n: number }[]>`select coalesce(sum(attempts), 0)::int4 as n from webhook_deliveries where endpoint_id = any(${endpoints.slice(1)})`;
    return { ms, dead_attempts: row!.n };
  } finally {
    await worker.stop();
    // This business's deliveries are its own: none left for the next test's claims.
    await sql`update webhook_endpoints set status = 'deleted' where id = any(${endpoints})`;
  }
}

/** A business with webhooks to `urls` and `events_count` purchases, every delivery recorded and pending. */
function backlog(urls: readonly string[]): Promise<{ admin_key: string; endpoints: string[] }> {
  return endpointsWithDeliveries(urls, events_count);
}

describe('a dead endpoint beside a healthy one (EVENTS.md: "never slows ... other endpoints\' deliveries")', () => {
  it('the dead endpoints are probed, not given an attempt per delivery, while the healthy one drains its backlog', async () => {
    const failing = await receiver(500);
    const alone = await drainTime([]);
    const beside_dead = await drainTime([failing.url, await refusedUrl()]);
    console.log(
      `webfair: ${events_count} events to the healthy endpoint: alone ${alone.ms.toFixed(0)} ms; beside two dead ${beside_dead.ms.toFixed(0)} ms ` +
        `(${(beside_dead.ms / alone.ms).toFixed(2)}x), attempts to the dead ones meanwhile ${beside_dead.dead_attempts}`,
    );
    // Before: every delivery of both (2 × events_count), as many as the healthy endpoint's. Now one
    // probe of each a claim round (about 150-170 each here): half of events_count in all is generous.
    expect(beside_dead.dead_attempts).toBeLessThan(events_count / 2);
  }, 300_000);

  it('a probed endpoint that answers again gets every delivery left due, each attempt counted once', async () => {
    // More than a claim round's share fails (16), so the endpoint is probed, beside a backlog.
    const failures = 20;
    const flaky = await startReceiver((n) => (n < failures ? 500 : 200));
    open.push(flaky);
    const healthy = await receiver(200);
    const { endpoints } = await backlog([flaky.url, healthy.url]);
    const sql = gw.processor.stores.sql;
    const worker = new WebhookWorker(sql, key, { retry_base_ms, allow_private: true });
    worker.start();
    try {
      await eventually(
        'every delivery but the failed ones succeeded',
        async () => (await sql<{ n: number }[]>`select count(*)::int4 as n from webhook_deliveries where endpoint_id = ${endpoints[0]!} and status = 'succeeded'`)[0]!.n === events_count - failures,
        120_000,
      );
      // Deliveries left due while the endpoint was probed were not attempted, nor counted: one
      // attempt each, the failed ones due again after their backoff (EVENTS.md: attempt 2 waits base).
      const rows = await sql<{ status: string; attempts: number; n: number; wait_ms: number | null }[]>`
        select status, attempts, count(*)::int4 as n, min(extract(epoch from next_attempt_at - now()) * 1000)::float8 as wait_ms
        from webhook_deliveries where endpoint_id = ${endpoints[0]!} group by status, attempts order by status`;
      expect(rows.map(({ status, attempts, n }) => ({ status, attempts, n }))).toEqual([
        { status: 'pending', attempts: 1, n: failures },
        { status: 'succeeded', attempts: 1, n: events_count - failures },
      ]);
      expect(rows[0]!.wait_ms!).toBeGreaterThan(0.8 * retry_base_ms - 60_000);
      expect(flaky.received.length).toBe(events_count);
    } finally {
      await worker.stop();
      await sql`update webhook_endpoints set status = 'deleted' where id = any(${endpoints})`;
    }
  }, 300_000);

  // EVENTS.md: "A slow or dead endpoint never slows the POS path". A dead endpoint's backlog took
  // an attempt per delivery as fast as it refused (a black-box audit: some 1,100 a second, a
  // quarter of a core the purchases beside it lost, their p99 doubled). The failing endpoints
  // together now get at most 256 a second (worker.ts failing_attempts_per_second_max).
  it('alone, a dead endpoint\'s backlog is attempted at most 256 times a second', async () => {
    const dead = await receiver(500);
    const { endpoints } = await backlog([dead.url]);
    const sql = gw.processor.stores.sql;
    const worker = new WebhookWorker(sql, key, { retry_base_ms, allow_private: true });
    const started = performance.now();
    worker.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const seconds = (performance.now() - started) / 1_000;
      const attempts = dead.received.length;
      console.log(`webfair: a dead endpoint alone with ${events_count} due: ${attempts} attempts in ${seconds.toFixed(2)} s`);
      expect(attempts).toBeGreaterThan(0);
      // The attempts before it counted as failing (up to two claim rounds' 16: the first's failures
      // may come after the second's claim), the bucket's 256, then 256 a second. Before: 1,417 here.
      expect(attempts).toBeLessThanOrEqual(2 * 16 + 256 + Math.ceil(256 * seconds));
    } finally {
      await worker.stop();
      await sql`update webhook_endpoints set status = 'deleted' where id = any(${endpoints})`;
    }
  }, 120_000);

  // No backlog elsewhere: a failing endpoint's deliveries are not probed one at a time, and each
  // retry keeps its schedule (EVENTS.md: attempt k waits base × 4^(k−2) ±20%). Probed always, 50
  // retries due together went out one a claim round, the last up to 220 ms after attempt 1 (base
  // 100 ms): some 2 ms a delivery past its time. 100 deliveries at base 200 ms: 440 ms so, within
  // 390 (the 20% and 150 ms of slack: a fresh clone's loaded run at 04:34 took 191 of 170 at base 100).
  it('alone, a failing endpoint with many deliveries still gets each retry on schedule', async () => {
    const base_ms = 200;
    // 150 ms of slack for a loaded machine. The better of two runs: the regression is late in
    // both, while a stall of the machine (594 ms once, beside two audits' gateways) rarely hits both.
    const bound_ms = 1.2 * base_ms + 150;
    const first_ms = await longestRetryWait(base_ms, 1);
    const longest_wait_ms = first_ms <= bound_ms ? first_ms : Math.min(first_ms, await longestRetryWait(base_ms, 2));
    expect(longest_wait_ms).toBeLessThanOrEqual(bound_ms);
  }, 120_000);
});

describe('many endpoints failing, dead since (EVENTS.md: "at least once, to every enabled endpoint"; retry "one more attempt now")', () => {
  it('an endpoint failing after 32 others that are gone is still attempted: its retry by hand goes out and succeeds (a black-box probe)', async () => {
    // The failing endpoints' 256 attempts a second were shared in the order they first failed,
    // each its whole claim: 16 dead ones took every token of every round, deleted or idle, and an
    // endpoint failing after them was never attempted again until a restart.
    const sql = gw.processor.stores.sql;
    const worker = new WebhookWorker(sql, key, { retry_base_ms, allow_private: true });
    worker.start();
    try {
      const dead_url = await refusedUrl();
      // Two businesses of 16 (a business's most).
      const dead = { endpoints: [] as string[] };
      for (let b = 0; b < 2; b++) dead.endpoints.push(...(await endpointsWithDeliveries(Array.from({ length: 16 }, () => dead_url), 8)).endpoints);
      await eventually('every dead endpoint failed 8 in a row', async () => (await sql<{ n: number }[]>`select count(*)::int4 as n from webhook_deliveries where endpoint_id = any(${dead.endpoints}) and attempts = 1`)[0]!.n === 32 * 8, 60_000);
      await sql`update webhook_endpoints set status = 'deleted' where id = any(${dead.endpoints})`;
      const flaky = await startReceiver((n) => (n < 8 ? 500 : 200));
      open.push(flaky);
      const late = await endpointsWithDeliveries([flaky.url], 8);
      await eventually('the late endpoint failed 8 in a row', async () => flaky.received.length >= 8, 60_000);
      const [row] = await sql<{ event_id: string }[]>`select event_id from webhook_deliveries where endpoint_id = ${late.endpoints[0]!} limit 1`;
      const retried = await call(gw, 'POST', `/v1/webhooks/${late.endpoints[0]!}/deliveries/${row!.event_id}/retry`, late.admin_key);
      expect(retried.status, retried.text).toBe(202);
      // Before the fix it never went out until a restart: 30 s tells that apart on a loaded
      // machine (10 s passed alone in 0.8 s, and timed out once in a CI run beside two probes).
      await eventually('the retry succeeded', async () => (await sql<{ status: string }[]>`select status from webhook_deliveries where endpoint_id = ${late.endpoints[0]!} and event_id = ${row!.event_id}`)[0]!.status === 'succeeded', 30_000);
      await sql`update webhook_endpoints set status = 'deleted' where id = ${late.endpoints[0]!}`;
    } finally {
      await worker.stop();
    }
  }, 120_000);
});

describe('endpoints that never answer (EVENTS.md: "A slow or dead endpoint never slows ... other endpoints\' deliveries")', () => {
  it('hold their own slots, not deliveries waiting for them: another endpoint\'s delivery goes out at once (a black-box probe: up to 9 s late)', async () => {
    // Each hanging endpoint was claimed twice its slots (8 in flight, 8 waiting): 36 of them filled
    // the process's 512, and every other endpoint waited for their 10 s timeouts. Scaled down here:
    // 64 in all, 6 hanging endpoints (96 claimed before, 48 now), a 5 s timeout.
    const sql = gw.processor.stores.sql;
    const hanging = await startReceiver(() => 'hang');
    open.push(hanging);
    const healthy = await receiver(200);
    const hung = await endpointsWithDeliveries(Array.from({ length: 6 }, () => hanging.url), 20);
    const worker = new WebhookWorker(sql, key, { retry_base_ms, allow_private: true, in_flight_max: 64, timeout_ms: 5_000 });
    worker.start();
    try {
      await eventually('the hanging endpoints\' attempts in flight', async () => hanging.received.length >= 6 * 8, 10_000);
      const sent = Date.now();
      const other = await endpointsWithDeliveries([healthy.url], 1);
      await eventually('the other endpoint\'s delivery', async () => healthy.received.length >= 1, 15_000);
      expect(Date.now() - sent).toBeLessThan(2_500);
      await sql`update webhook_endpoints set status = 'deleted' where id = any(${[...hung.endpoints, ...other.endpoints]})`;
    } finally {
      await worker.stop();
    }
  }, 120_000);
});

/** A business with webhooks to `urls` and `purchases` purchases (50 at once), every delivery recorded. */
async function endpointsWithDeliveries(urls: readonly string[], purchases: number): Promise<{ admin_key: string; endpoints: string[] }> {
  const biz = await createBusiness(gw);
  const [c] = await createContacts(gw, biz, [testCard(++seed)]);
  const endpoints: string[] = [];
  for (const url of urls) {
    const w = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url, events: ['transaction.approved'] });
    expect(w.status, w.text).toBe(201);
    endpoints.push(w.body.id);
  }
  for (let i = 0; i < purchases; i += 50) {
    const replies = await Promise.all(
      Array.from({ length: Math.min(50, purchases - i) }, (_, j) =>
        call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `fair-${seed}-${i + j}`, cim: { type: 'card', value: c!.card }, amount: 1000, currency: 'EUR' }),
      ),
    );
    for (const p of replies) expect(p.status, p.text).toBe(201);
  }
  const sql = gw.processor.stores.sql;
  await eventually('every delivery recorded', async () => (await sql<{ n: number }[]>`select count(*)::int4 as n from webhook_deliveries where endpoint_id = any(${endpoints})`)[0]!.n === urls.length * purchases, 60_000);
  return { admin_key: biz.admin_key, endpoints };
}

/**
 * 100 deliveries to an endpoint that fails them all, retried at `base_ms`: the longest time from a
 * delivery's first attempt to its second.
 */
async function longestRetryWait(base_ms: number, run: number): Promise<number> {
  const deliveries = 100;
  const failing = await receiver(503);
  const biz = await createBusiness(gw);
  const [c] = await createContacts(gw, biz, [testCard(++seed)]);
  const w = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: failing.url, events: ['transaction.approved'] });
  expect(w.status, w.text).toBe(201);
  const sql = gw.processor.stores.sql;
  const worker = new WebhookWorker(sql, key, { retry_base_ms: base_ms, allow_private: true });
  worker.start();
  try {
    await Promise.all(
      Array.from({ length: deliveries }, (_, i) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `alone-${run}-${i}`, cim: { type: 'card', value: c!.card }, amount: 1000, currency: 'EUR' })),
    );
    await eventually('two attempts of each', async () => failing.received.length >= 2 * deliveries, 30_000);
    const first = new Map<string, number>();
    let longest_wait_ms = 0;
    for (const r of failing.received) {
      const at = first.get(r.json.id);
      if (at === undefined) first.set(r.json.id, r.at);
      else longest_wait_ms = Math.max(longest_wait_ms, r.at - at);
    }
    return longest_wait_ms;
  } finally {
    await worker.stop();
    await sql`update webhook_endpoints set status = 'deleted' where id = ${w.body.id}`;
  }
}
