// A delivery whose attempts never finish (the worker that claimed it dies, or hangs past its
// lease) is still given up after the 8th attempt (spec/EVENTS.md: "after the 8th failure the
// delivery is `failed`"), with a last_error that says the attempt did not finish; a retry ("one
// more attempt now, whatever its status") still gets its one more attempt, however many came
// before. Migration 014 gives the deliveries it finds the same rules.
//
// Stores of this file's own, and a gateway without a delivery worker: the tests claim as a worker
// does (processor/webhook-outbox.ts) and stand for its death by never recording the attempt.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebhookWorker } from '../adapters/webhooks/worker.ts';
import { retry_send_allowance_ms, retryDelayMs } from '../core/webhooks.ts';
import { migrate, migrationFiles } from '../processor/ledger/migrate.ts';
import { connectPostgres, type Sql } from '../processor/stores.ts';
import { claimDeliveries, recordAttempts, type Claim, type ClaimedDelivery } from '../processor/webhook-outbox.ts';
import { webhookSecretKey } from '../processor/webhooks.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { createContacts } from './ledger-helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { startReceiver, type Receiver } from './webhook-helpers.ts';

let own: OwnStores;
let gw: TestGateway;
const key = webhookSecretKey(process.env.CIM_HMAC_KEY ?? 'test-hmac-key');
let seed = 24_000_000;

beforeAll(async () => {
  own = await startOwnStores('webhook_lease');
  gw = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url, webhooks: { retry_base_ms: 60_000, allow_private: true, worker: false } });
});
afterEach(async () => {
  // Each test's deliveries are its own: none left for the next one's claims.
  await own.sql`update webhook_endpoints set status = 'deleted'`;
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface OneDelivery {
  readonly admin_key: string;
  readonly endpoint_id: string;
  readonly event_id: string;
}

/** A business, its webhook and one purchase: one transaction.approved delivery, recorded and pending. */
async function oneDelivery(url = 'http://127.0.0.1:9/hook'): Promise<OneDelivery> {
  const biz = await createBusiness(gw);
  const [c] = await createContacts(gw, biz, [testCard(++seed)]);
  const w = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url, events: ['transaction.approved'] });
  expect(w.status, w.text).toBe(201);
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `lease-${seed}`, cim: { type: 'card', value: c!.card }, amount: 1000, currency: 'EUR' });
  expect(p.status, p.text).toBe(201);
  const event_id = await eventually('the delivery', async () => {
    const [d] = await own.sql<{ event_id: string }[]>`select event_id from webhook_deliveries where endpoint_id = ${w.body.id}`;
    return d?.event_id;
  });
  return { admin_key: biz.admin_key, endpoint_id: w.body.id, event_id };
}

/** Claim as a worker does, with a lease of `lease_ms`. */
async function claim(lease_ms: number): Promise<ClaimedDelivery[]> {
  return (await claimDeliveries(own.sql, key, { free: {}, per_endpoint: 16, total: 512, lease_ms })).deliveries;
}

/** Claim as a worker does, taking too what falls due within `lead_ms` (its 30 s lease never runs out here). */
async function claimAhead(lead_ms: number): Promise<Claim> {
  return await claimDeliveries(own.sql, key, { free: {}, per_endpoint: 16, total: 512, lease_ms: 30_000, lead_ms });
}

/** Claim, then die: the attempt is never recorded, and its 1 ms lease runs out. */
async function claimAndDie(): Promise<number[]> {
  const claimed = await claim(1);
  await sleep(5);
  return claimed.map((d) => d.attempt);
}

async function deliveryOf(d: OneDelivery) {
  const list = await call(gw, 'GET', `/v1/webhooks/${d.endpoint_id}/deliveries`, d.admin_key);
  expect(list.status, list.text).toBe(200);
  return list.body.data[0];
}

async function retry(d: OneDelivery): Promise<void> {
  const r = await call(gw, 'POST', `/v1/webhooks/${d.endpoint_id}/deliveries/${d.event_id}/retry`, d.admin_key);
  expect(r.status, r.text).toBe(202);
}

describe('a delivery whose attempts never finish', () => {
  it('is failed after the 8th, with a last_error saying that attempt did not finish', async () => {
    const d = await oneDelivery();
    for (let attempt = 1; attempt <= 8; attempt++) expect(await claimAndDie()).toEqual([attempt]);
    // The 8th lease ran out: no 9th attempt, and the delivery is failed.
    expect(await claimAndDie()).toEqual([]);
    expect(await claimAndDie()).toEqual([]);
    const got = await deliveryOf(d);
    expect(got).toMatchObject({ event_id: d.event_id, status: 'failed', attempts: 8, last_status_code: null, next_attempt_at: null });
    expect(got.last_error).toMatch(/attempt 8 did not finish/);
  });

  it('a retry gets one more attempt, even after 8; if that one does not finish either, failed again', async () => {
    const d = await oneDelivery();
    for (let attempt = 1; attempt <= 8; attempt++) await claimAndDie();
    expect(await claimAndDie()).toEqual([]);
    expect((await deliveryOf(d)).status).toBe('failed');

    await retry(d);
    expect(await claimAndDie()).toEqual([9]);
    expect(await claimAndDie()).toEqual([]);
    expect(await deliveryOf(d)).toMatchObject({ status: 'failed', attempts: 9 });
    expect((await deliveryOf(d)).last_error).toMatch(/attempt 9 did not finish/);

    // Retried while its 10th attempt is still in flight (its lease not over): one more now, the
    // 11th, and the 10th's answer, when it comes, no longer counts.
    await retry(d);
    const [tenth] = await claim(60_000);
    expect(tenth?.attempt).toBe(10);
    await retry(d);
    const [eleventh] = await claim(60_000);
    expect(eleventh?.attempt).toBe(11);
    await recordAttempts(own.sql, [{ seq: tenth!.seq, attempt: 10, ok: false, status_code: 500, error: 'HTTP 500' }], 60_000);
    expect(await deliveryOf(d)).toMatchObject({ status: 'pending', attempts: 11 });
    await recordAttempts(own.sql, [{ seq: eleventh!.seq, attempt: 11, ok: true, status_code: 200, error: null }], 60_000);
    expect(await deliveryOf(d)).toMatchObject({ status: 'succeeded', attempts: 11, last_status_code: 200, last_error: null });
  });

  it('the next attempt waits its backoff from the failed attempt\'s answer, not from when the result was written (a webhooks probe: some 50 ms late)', async () => {
    const d = await oneDelivery();
    const [c] = await claim(60_000);
    const ended_ms = Date.now() - 5_000; // answered 5 s before its result is written
    const due = await recordAttempts(own.sql, [{ seq: c!.seq, attempt: 1, ok: false, status_code: 500, error: 'HTTP 500', ended_ms }], 60_000, () => 0.5);
    // Jitter 0.5: the middle of attempt 2's band (base × 4^0, less half the send allowance).
    const wait_ms = retryDelayMs(60_000, 2, 0.5);
    expect(wait_ms).toBe(60_000 - retry_send_allowance_ms / 2);
    expect(due).toEqual([ended_ms + wait_ms]);
    const [row] = await own.sql<{ at_ms: number }[]>`select (extract(epoch from next_attempt_at) * 1000)::float8 as at_ms from webhook_deliveries where seq = ${c!.seq}`;
    expect(row!.at_ms).toBe(ended_ms + wait_ms);
  });

  it('a lease that runs out before the 8th counts as an attempt: the 8th is still the last', async () => {
    const d = await oneDelivery();
    // Attempt 3 dies, 8 dies; the others fail as a receiver's 503 (their backoff then cut short).
    for (let attempt = 1; attempt <= 8; attempt++) {
      const [c] = await claim(1);
      expect(c?.attempt).toBe(attempt);
      if (attempt !== 3 && attempt !== 8) {
        await recordAttempts(own.sql, [{ seq: c!.seq, attempt, ok: false, status_code: 503, error: 'HTTP 503' }], 60_000);
        await own.sql`update webhook_deliveries set next_attempt_at = now() where seq = ${c!.seq}`;
      }
      await sleep(5);
    }
    expect(await claimAndDie()).toEqual([]);
    expect(await deliveryOf(d)).toMatchObject({ status: 'failed', attempts: 8 });
  });

  it('a worker whose attempts hang past their lease: 8 attempts reach the receiver, then the delivery is failed', async () => {
    const r: Receiver = await startReceiver(() => 'hang');
    // Attempts may take 20 s, their lease is 150 ms: every lease runs out while its attempt hangs.
    const worker = new WebhookWorker(own.sql, key, { retry_base_ms: 60_000, allow_private: true, lease_ms: 150, poll_ms: 25, timeout_ms: 20_000, per_endpoint: 16 });
    try {
      const d = await oneDelivery(r.url);
      worker.start();
      const got = await eventually('failed', async () => {
        const row = await deliveryOf(d);
        return row.status === 'failed' ? row : undefined;
      }, 15_000);
      expect(got).toMatchObject({ attempts: 8, last_status_code: null });
      expect(got.last_error).toMatch(/attempt 8 did not finish/);
      await sleep(500);
      expect(r.received).toHaveLength(8);
      expect(new Set(r.received.map((e) => e.json.id))).toEqual(new Set([d.event_id]));
    } finally {
      await worker.stop();
      await r.close();
    }
    expect((await own.sql<{ attempts: number }[]>`select attempts from webhook_deliveries where status = 'failed'`).map((x) => x.attempts)).toContain(8);
  });
});

describe('migration 014 on deliveries made before it', () => {
  const database = `pocketgate_lease_migration_${process.pid}`;
  let admin: Sql;
  let sql: Sql;
  beforeAll(async () => {
    admin = connectPostgres(process.env.DATABASE_URL!, 1);
    await admin.unsafe(`drop database if exists ${database}`);
    await admin.unsafe(`create database ${database}`);
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `/${database}`;
    sql = connectPostgres(url.toString(), 2);
  });
  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    await admin?.unsafe(`drop database if exists ${database} with (force)`);
    await admin?.end({ timeout: 5 });
  });

  it('a pending delivery at or past 8 attempts (a retry asked for, or a lease that ran out) gets one more attempt, then no more', async () => {
    await sql`create table schema_migrations (name text primary key, applied_at timestamptz not null default now())`;
    for (const file of (await migrationFiles()).filter((f) => f < '014')) {
      await sql.unsafe(await readFile(join(import.meta.dirname, '..', 'processor', 'ledger', 'migrations', file), 'utf8'));
      await sql`insert into schema_migrations (name) values (${file})`;
    }
    await sql`insert into businesses (id, name, currency, reward_resolution) values ('biz_m', 'Migrated', 'EUR', 'all')`;
    await sql`insert into webhook_endpoints (id, business_id, url, events, status, secret) values ('whk_m', 'biz_m', 'http://127.0.0.1:9/', '{*}', 'enabled', 'x')`;
    const before: [string, string, number][] = [['a', 'pending', 3], ['b', 'pending', 8], ['c', 'pending', 12], ['d', 'failed', 8], ['e', 'succeeded', 1]];
    for (const [id, status, attempts] of before) {
      await sql`insert into webhook_events (id, business_id, type, transaction_id) values (${`evt_${id}`}, 'biz_m', 'transaction.approved', ${`txn_${id}`})`;
      await sql`insert into webhook_deliveries (endpoint_id, event_id, status, attempts, next_attempt_at)
        values ('whk_m', ${`evt_${id}`}, ${status}, ${attempts}, ${status === 'pending' ? sql`now() - interval '1 second'` : null})`;
    }
    expect(await migrate(sql)).toEqual((await migrationFiles()).filter((f) => f >= '014'));
    const claimAll = async () => (await claimDeliveries(sql, key, { free: {}, per_endpoint: 16, total: 16, lease_ms: 1 })).deliveries.map((c) => [c.event_id, c.attempt]).sort();
    expect(await claimAll()).toEqual([['evt_a', 4], ['evt_b', 9], ['evt_c', 13]]);
    await sleep(5);
    expect(await claimAll()).toEqual([['evt_a', 5]]);
    const rows = await sql<{ event_id: string; status: string; attempts: number }[]>`select event_id, status, attempts from webhook_deliveries order by event_id`;
    expect(rows.map((r) => [r.event_id, r.status, r.attempts])).toEqual([['evt_a', 'pending', 5], ['evt_b', 'failed', 9], ['evt_c', 'failed', 13], ['evt_d', 'failed', 8], ['evt_e', 'succeeded', 1]]);
  });
});

// A retry claimed ahead (the worker's lead, so that it goes out when due rather than a claim's
// statements after): claimed only within the lead, and with the time it is due, for the worker
// to hold it until then (test/webhook-retry-schedule.test.ts measures the sending).
describe('a delivery falling due within the claim lead', () => {
  it('is claimed with its due time; one due after the lead is not claimed', async () => {
    const d = await oneDelivery();
    const due_ms = Date.now() + 2_000;
    await own.sql`update webhook_deliveries set next_attempt_at = ${new Date(due_ms)} where endpoint_id = ${d.endpoint_id}`;
    expect((await claimAhead(0)).deliveries).toEqual([]);
    expect((await claimAhead(1_000)).deliveries).toEqual([]);
    const [claimed, ...more] = (await claimAhead(5_000)).deliveries;
    expect(more).toEqual([]);
    expect(claimed).toMatchObject({ event_id: d.event_id, attempt: 1, due_ms });
  });
});

describe('a delivery whose last attempt\'s lease ends within the claim lead', () => {
  it('is not given up ahead: only once the lease has run out', async () => {
    const d = await oneDelivery();
    const lease_end_ms = Date.now() + 2_000;
    await own.sql`update webhook_deliveries set attempts = attempts_max, next_attempt_at = ${new Date(lease_end_ms)} where endpoint_id = ${d.endpoint_id}`;
    expect(await claimAhead(5_000)).toEqual({ deliveries: [], given_up: 0 });
    expect((await deliveryOf(d)).status).toBe('pending');
    await own.sql`update webhook_deliveries set next_attempt_at = now() where endpoint_id = ${d.endpoint_id}`;
    expect(await claimAhead(5_000)).toEqual({ deliveries: [], given_up: 1 });
    expect((await deliveryOf(d)).status).toBe('failed');
  });
});
