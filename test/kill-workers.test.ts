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
    expect(Number(await own.redis.client.get(budgetKey(o.body.id)))).toBe(700 * n);
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
