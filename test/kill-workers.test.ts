// The background workers through a SIGKILL of the gateway process that runs them (the ground
// rule: every acknowledged transaction reaches the ledger exactly once, through kills of any
// process). A gateway process (`gateway/main.ts`, as `npm start` runs it, its ledger writer and
// sweepers on) is killed while
// 1. the expiry sweeper expires many contacts' lots: after a restart every due lot is expired
//    exactly once, the ledger equals the wallets (reconcile), nothing left due;
// 2. the referral sweeper makes many intents left behind (awards made or not): each referrer is
//    awarded exactly once;
// 3. a webhook delivery, or a manual retry, is in flight to a receiver that never answers: after
//    a restart the event arrives, the delivery ends `succeeded`, nothing stays `pending`;
// 4. its ledger writer commits a batch while PostgreSQL holds a lock on the table it writes: once
//    the lock goes, after the restart, each journal entry is recorded once.
//
// Stores of this file's own. The API calls go through an in-process gateway without a ledger
// writer, sweepers or a delivery worker: the gateway processes do the work being killed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../core/ids.ts';
import { budgetKey, expiryKey, lotsKey, referralsKey } from '../processor/hot/keys.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { createContacts, inBatches, pendingTotal, shard_count, type Contact } from './ledger-helpers.ts';
import { holdLock, runCommand, startOwnStores, type OwnStores } from './own-stores.ts';
import { killGateway, spawnGateway, startReceiver, type GatewayProcess, type Receiver } from './webhook-helpers.ts';

let own: OwnStores;
let api: TestGateway;
const processes: GatewayProcess[] = [];
const hmac = process.env.CIM_HMAC_KEY ?? 'test-hmac-key';

function gatewayProcess(env: Record<string, string> = {}): GatewayProcess {
  const g = spawnGateway({
    REDIS_URL: own.redis.url, DATABASE_URL: own.database_url, CIM_HMAC_KEY: hmac, SHARDS: String(shard_count),
    WEBHOOKS_ALLOW_PRIVATE: '1', WEBHOOK_RETRY_BASE_MS: '200', EXPIRY_SWEEP_MS: '100', REFERRAL_SWEEP_MS: '100', ...env,
  });
  processes.push(g);
  return g;
}

beforeAll(async () => {
  own = await startOwnStores('kill_workers');
  api = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url, ledger_writer: false, webhooks: { retry_base_ms: 200, allow_private: true, worker: false } });
});
afterAll(async () => {
  await Promise.all(processes.map((g) => killGateway(g, 'SIGKILL')));
  await api?.close();
  await own?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function dueContacts(): Promise<number> {
  let n = 0;
  for (let shard = 0; shard < shard_count; shard++) n += await own.redis.client.zCount(expiryKey(shard), '-inf', Date.now());
  return n;
}

/** Kill `g` once `started` says its work began (or at once if it finished already). */
async function killWhen(g: GatewayProcess, started: () => Promise<boolean>): Promise<void> {
  await eventually('the work to begin', async () => (await started()) || undefined, 15_000);
  await killGateway(g, 'SIGKILL');
  expect(g.child.signalCode).toBe('SIGKILL');
}

async function reconciled(business_id: string): Promise<void> {
  const r = await runCommand('reconcile-main.ts', ['--business', business_id, '--wait-seconds', '20'], { REDIS_URL: own.redis.url, DATABASE_URL: own.database_url, CIM_HMAC_KEY: hmac });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toMatch(/mismatches: 0/);
}

const wallet = async (biz: BusinessFixture, id: string) => (await call(api, 'GET', `/v1/contacts/${id}/wallet`, biz.admin_key)).body as { open: number; commerce: number };

describe('the expiry sweeper, killed mid-sweep', () => {
  it('after a restart every due lot is expired exactly once, the ledger equals the wallets', async () => {
    const biz = await createBusiness(api);
    const o = await call(api, 'POST', '/v1/offers', biz.admin_key, { name: 'a day', goal: 'spend', kind: 'cashback', award: { fixed: 300 }, validity_days: 1 });
    expect(o.status, o.text).toBe(201);
    const contacts = await createContacts(api, biz, Array.from({ length: 400 }, (_, i) => testCard(41_000_000 + i)));
    await inBatches(contacts.map((c, i) => async () => {
      const p = await call(api, 'POST', '/v1/purchases', biz.terminal_key, { reference: `exp-${i}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
    }), 20);
    // Every lot a day older, as far as it knows: due now, in the lots and the shard's index.
    const past = String(Date.now() - 60_000).padStart(13, '0');
    for (const c of contacts) {
      const shard = shardOf(c.id, shard_count);
      const [field] = (await own.redis.client.sendCommand(['HKEYS', lotsKey(shard, c.id)])) as string[];
      await own.redis.client.multi().hDel(lotsKey(shard, c.id), field!).hSet(lotsKey(shard, c.id), `${past}|${field!.split('|')[1]}`, '300').zAdd(expiryKey(shard), { score: Number(past), value: c.id }).exec();
    }
    expect(await dueContacts()).toBe(contacts.length);

    const first = gatewayProcess({ LEDGER_CLAIM_IDLE_MS: '500' });
    await first.port;
    await killWhen(first, async () => (await dueContacts()) < contacts.length);
    const left = await dueContacts();
    console.log(`expiry: killed with ${left} of ${contacts.length} contacts due`);

    const second = gatewayProcess({ LEDGER_CLAIM_IDLE_MS: '500' });
    await second.port;
    await eventually('nothing left due', async () => (await dueContacts()) === 0, 20_000);
    for (const c of contacts) expect(await wallet(biz, c.id)).toMatchObject({ open: 0, commerce: 0 });
    await eventually('every expiry in the ledger', async () => {
      const [row] = await own.sql<{ n: number }[]>`select count(*)::int4 as n from ledger_transactions where business_id = ${biz.business_id} and kind = 'expiry'`;
      return row!.n >= contacts.length;
    }, 20_000);
    const rows = await own.sql<{ contact_id: string; n: number; amount: number }[]>`
      select contact_id, count(*)::int4 as n, sum(amount)::int4 as amount from ledger_transactions
      where business_id = ${biz.business_id} and kind = 'expiry' group by contact_id`;
    expect(rows.length, `killed with ${left} due`).toBe(contacts.length);
    expect(rows.filter((r) => r.n !== 1 || r.amount !== 300)).toEqual([]);
    await reconciled(biz.business_id);
    await killGateway(second, 'SIGTERM');
  }, 60_000);
});

describe('the referral sweeper, killed while it makes many intents left behind', () => {
  it('each referrer is awarded exactly once', async () => {
    const biz = await createBusiness(api);
    const o = await call(api, 'POST', '/v1/offers', biz.admin_key, { name: 'referral', goal: 'referral', award: { fixed: 700 }, limits: { budget: 10_000_000 } });
    expect(o.status, o.text).toBe(201);
    const n = 200;
    const referrers: { id: string }[] = [];
    const referred: Contact[] = [];
    for (let i = 0; i < n; i++) {
      const r = await call(api, 'POST', '/v1/contacts', biz.admin_key, {});
      expect(r.status, r.text).toBe(201);
      referrers.push({ id: r.body.id });
      const code = r.body.referral_code as string;
      const card = testCard(42_500_000 + i);
      const c = await call(api, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }], referred_by: code });
      expect(c.status, c.text).toBe(201);
      referred.push({ id: c.body.id, card });
    }
    // Every first purchase leaves its intent behind, as a crashed process would: half before the
    // award was made, half after it was made but before the intent left the outbox.
    let crash_at: 'committed' | 'awarded' = 'committed';
    api.processor.awards.onReferralStep = (step) => {
      if (step === crash_at) throw new Error(`test: crashed at ${step}`);
    };
    try {
      for (const [i, c] of referred.entries()) {
        crash_at = i % 2 === 0 ? 'committed' : 'awarded';
        const p = await call(api, 'POST', '/v1/purchases', biz.terminal_key, { reference: `ref-${i}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' });
        expect(p.status, p.text).toBe(201);
      }
    } finally {
      api.processor.awards.onReferralStep = undefined;
    }
    const intents = async () => {
      let total = 0;
      for (let shard = 0; shard < shard_count; shard++) total += await own.redis.client.zCard(referralsKey(shard));
      return total;
    };
    expect(await intents()).toBe(n);
    await sleep(5_000); // intent_age_ms: left behind from now on

    const first = gatewayProcess({ LEDGER_CLAIM_IDLE_MS: '500' });
    await first.port;
    await killWhen(first, async () => (await intents()) < n);
    const left = await intents();
    console.log(`referrals: killed with ${left} of ${n} intents left`);
    const second = gatewayProcess({ LEDGER_CLAIM_IDLE_MS: '500' });
    await second.port;
    await eventually('every intent made', async () => (await intents()) === 0, 20_000);
    const commerce = await Promise.all(referrers.map(async (r) => (await wallet(biz, r.id)).commerce));
    expect(commerce.filter((m) => m !== 700), `killed with ${left} intents left`).toEqual([]);
    // README: a kill between a budget's reservation and the award script leaves that one
    // reservation unspent (never over-awarded); the sweeper makes one intent at a time.
    const budget = Number(await own.redis.client.get(budgetKey(o.body.id)));
    expect(budget).toBeGreaterThanOrEqual(700 * n);
    expect(budget).toBeLessThanOrEqual(700 * (n + 1));
    await eventually('every award in the ledger', async () => {
      const [row] = await own.sql<{ n: number }[]>`select count(*)::int4 as n from ledger_transactions where business_id = ${biz.business_id} and kind = 'award' and reference like 'referral:%'`;
      return row!.n >= n;
    }, 20_000);
    const [row] = await own.sql<{ n: number; contacts: number }[]>`
      select count(*)::int4 as n, count(distinct contact_id)::int4 as contacts from ledger_transactions where business_id = ${biz.business_id} and kind = 'award' and reference like 'referral:%'`;
    expect(row).toEqual({ n, contacts: n });
    await reconciled(biz.business_id);
    await killGateway(second, 'SIGTERM');
  }, 90_000);
});

interface Delivery {
  readonly event_id: string;
  readonly status: string;
  readonly attempts: number;
  readonly last_status_code: number | null;
  readonly last_error: string | null;
  readonly next_attempt_at: string | null;
}

/** A business with one endpoint on `r` (transaction.approved only) and its one delivery, made by a purchase. */
async function oneDelivery(r: Receiver, seed: number): Promise<{ biz: BusinessFixture; webhook_id: string; delivery: () => Promise<Delivery> }> {
  const biz = await createBusiness(api);
  const [c] = await createContacts(api, biz, [testCard(seed)]);
  const w = await call(api, 'POST', '/v1/webhooks', biz.admin_key, { url: r.url, events: ['transaction.approved'] });
  expect(w.status, w.text).toBe(201);
  const p = await call(api, 'POST', '/v1/purchases', biz.terminal_key, { reference: `wh-${seed}`, cim: { type: 'card', value: c!.card }, amount: 1000, currency: 'EUR' });
  expect(p.status, p.text).toBe(201);
  const delivery = async () => {
    const list = (await call(api, 'GET', `/v1/webhooks/${w.body.id}/deliveries`, biz.admin_key)).body.data as Delivery[];
    expect(list.length).toBeLessThanOrEqual(1);
    return list[0]!;
  };
  return { biz, webhook_id: w.body.id, delivery };
}

/** The 30 s lease of a killed gateway's attempt, run out (rather than waited for). */
async function leaseRunsOut(webhook_id: string): Promise<void> {
  await own.sql`update webhook_deliveries set next_attempt_at = now() where endpoint_id = ${webhook_id} and status = 'pending'`;
}

describe('the webhook worker, killed with an attempt in flight', () => {
  let r: Receiver;
  beforeAll(async () => {
    r = await startReceiver(() => 'hang');
  });
  afterAll(async () => {
    await r?.close();
  });

  it('a first attempt to a receiver that hangs: after a restart the event arrives again, the delivery succeeds, nothing stays pending', async () => {
    r.behaviour = () => 'hang';
    const first = gatewayProcess();
    await first.port;
    const { biz, webhook_id, delivery } = await oneDelivery(r, 43_000_001);
    const before = r.received.length;
    await eventually('the attempt in flight', async () => r.received.length > before, 15_000);
    const event_id = r.received.at(-1)!.json.id as string;
    await killGateway(first, 'SIGKILL');
    // The attempt counted, the delivery leased to the dead gateway: pending, due when the lease ends.
    expect(await delivery()).toMatchObject({ event_id, status: 'pending', attempts: 1 });
    await leaseRunsOut(webhook_id);

    r.behaviour = () => 200;
    const second = gatewayProcess();
    await second.port;
    await eventually('the delivery to succeed', async () => (await delivery()).status === 'succeeded', 15_000);
    expect(await delivery()).toMatchObject({ event_id, status: 'succeeded', attempts: 2, next_attempt_at: null });
    expect(r.received.slice(before).filter((e) => e.json.id === event_id).length).toBeGreaterThanOrEqual(2);
    expect((await call(api, 'GET', `/v1/webhooks/${webhook_id}/deliveries?status=pending`, biz.admin_key)).body.data).toEqual([]);
    await killGateway(second, 'SIGTERM');
  }, 45_000);

  it('a manual retry of a succeeded delivery, killed mid-attempt: after a restart it is made again and succeeds', async () => {
    r.behaviour = () => 200;
    const first = gatewayProcess();
    await first.port;
    const { biz, webhook_id, delivery } = await oneDelivery(r, 43_000_002);
    await eventually('the delivery to succeed', async () => (await delivery())?.status === 'succeeded', 15_000);
    const { event_id } = await delivery();
    r.behaviour = () => 'hang';
    const before = r.received.length;
    const retry = await call(api, 'POST', `/v1/webhooks/${webhook_id}/deliveries/${event_id}/retry`, biz.admin_key);
    expect(retry.status, retry.text).toBe(202);
    await eventually('the retry in flight', async () => r.received.length > before, 15_000);
    await killGateway(first, 'SIGKILL');
    expect(await delivery()).toMatchObject({ status: 'pending', attempts: 2 });
    await leaseRunsOut(webhook_id);

    r.behaviour = () => 200;
    const second = gatewayProcess();
    await second.port;
    await eventually('the delivery to succeed again', async () => (await delivery()).status === 'succeeded', 15_000);
    expect(await delivery()).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(r.received.slice(before).filter((e) => e.json.id === event_id).length).toBeGreaterThanOrEqual(2);
    await killGateway(second, 'SIGTERM');
  }, 45_000);

  it('a manual retry of a failed delivery (8 attempts), killed mid-attempt: after a restart it ends failed (README), not pending', async () => {
    r.behaviour = () => 503;
    // Attempt 2 not due within the test: were it claimed just before the history below is written,
    // its request would be taken for the manual retry's (CI, 2026-12-02: attempts 8, not 9).
    const first = gatewayProcess({ WEBHOOK_RETRY_BASE_MS: '120000' });
    await first.port;
    const { biz, webhook_id, delivery } = await oneDelivery(r, 43_000_003);
    // Refused, not only claimed: a claim leaves it pending with a lease too, and were its request to
    // arrive after the history below is written, it would be taken for the manual retry's (CI,
    // 2026-12-04: attempts 8, not 9).
    await eventually('the first attempt refused', async () => {
      const d = await delivery();
      return (d?.attempts === 1 && d.status === 'pending' && d.last_status_code === 503) || undefined;
    }, 15_000);
    // Its history: 8 attempts refused (not waited for).
    await own.sql`update webhook_deliveries set status = 'failed', attempts = 8, next_attempt_at = null where endpoint_id = ${webhook_id}`;
    const { event_id } = await delivery();
    r.behaviour = () => 'hang';
    const before = r.received.length;
    const retry = await call(api, 'POST', `/v1/webhooks/${webhook_id}/deliveries/${event_id}/retry`, biz.admin_key);
    expect(retry.status, retry.text).toBe(202);
    await eventually('the retry in flight', async () => r.received.length > before, 15_000);
    await killGateway(first, 'SIGKILL');
    expect(await delivery()).toMatchObject({ status: 'pending', attempts: 9 });
    await leaseRunsOut(webhook_id);

    r.behaviour = () => 200;
    const second = gatewayProcess();
    await second.port;
    // README: a claim that finds it due with its attempts at its limit fails it there and then.
    await eventually('the delivery to end', async () => (await delivery()).status !== 'pending', 15_000);
    const d = await delivery();
    expect(d).toMatchObject({ status: 'failed', attempts: 9, next_attempt_at: null });
    expect(d.last_error).toMatch(/^attempt 9 did not finish/);
    await killGateway(second, 'SIGTERM');
  }, 45_000);
});

describe('the ledger writer, killed while PostgreSQL holds a lock on the table it writes', () => {
  it('after a restart and the lock released, each journal entry is recorded once', async () => {
    const biz = await createBusiness(api);
    const contacts = await createContacts(api, biz, Array.from({ length: 20 }, (_, i) => testCard(44_000_000 + i)));
    const lock = await holdLock(own.sql, 'ledger_transactions');
    let released = false;
    try {
      const first = gatewayProcess();
      await first.port;
      const n = 100;
      const approved = await inBatches(Array.from({ length: n }, (_, i) => async () => {
        const p = await call(api, 'POST', '/v1/purchases', biz.terminal_key, { reference: `lock-${i}`, cim: { type: 'card', value: contacts[i % contacts.length]!.card }, amount: 1000 + i, currency: 'EUR' });
        expect(p.status, p.text).toBe(201);
        return p.body.id as string;
      }), 10);
      // Its writer holds the batch, its statement waiting on the lock.
      await eventually('the writer waiting on the lock', async () => {
        const [row] = await own.sql<{ n: number }[]>`select count(*)::int4 as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`;
        return row!.n > 0;
      }, 15_000);
      await killGateway(first, 'SIGKILL');
      // The dead gateway's backend still waits on the lock, its batch's statement in hand.
      const [waiting] = await own.sql<{ n: number }[]>`select count(*)::int4 as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`;
      console.log(`lock: ${waiting!.n} backends waiting after the kill`);
      const second = gatewayProcess();
      await second.port;
      await sleep(4_000); // the dead writer's lease (3 s) ends: the second claims its entries
      lock.release();
      released = true;
      await lock.done;
      await eventually('every purchase recorded, nothing pending', async () => {
        const [row] = await own.sql<{ n: number }[]>`select count(*)::int4 as n from ledger_transactions where business_id = ${biz.business_id}`;
        return row!.n === n && (await pendingTotal(own.redis.client)) === 0;
      }, 20_000);
      const rows = await own.sql<{ id: string; n: number }[]>`select id, count(*)::int4 as n from ledger_transactions where business_id = ${biz.business_id} group by id`;
      expect(new Set(rows.map((x) => x.id))).toEqual(new Set(approved));
      expect(rows.filter((x) => x.n !== 1)).toEqual([]);
      const [postings] = await own.sql<{ n: number }[]>`select count(*)::int4 as n from ledger_postings p join ledger_transactions t on t.id = p.transaction_id where t.business_id = ${biz.business_id}`;
      const [once] = await own.sql<{ n: number }[]>`select count(*)::int4 as n from (select distinct p.transaction_id, p.n from ledger_postings p join ledger_transactions t on t.id = p.transaction_id where t.business_id = ${biz.business_id}) x`;
      expect(postings!.n).toBe(once!.n);
      await reconciled(biz.business_id);
      await killGateway(second, 'SIGTERM');
    } finally {
      if (!released) lock.release();
    }
  }, 60_000);
});
