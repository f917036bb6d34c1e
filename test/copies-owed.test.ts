// An admin change that the POS path reads (a contact's spend_blocked and tags, an offer, the
// tiers) never stands in PostgreSQL alone: refused at once (503, nothing changed) while Redis takes
// no write, and when Redis fails between the commit and the copy, the copy is owed and made by the
// ledger-writing process's sweep once Redis takes writes again (processor/copies-owed.ts). Before,
// GET showed a contact blocked that still spent, an offer inactive that still awarded (an
// operations audit, 2026-12-04).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rewards_lock_namespace } from '../processor/rewards-snapshot.ts';
import { contactKey } from '../processor/hot/keys.ts';
import { shardOf } from '../core/ids.ts';
import type { Sql } from '../processor/stores.ts';
import { expectProblem } from './contract-util.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
let gw: TestGateway;
let biz: BusinessFixture;
let sql: Sql;
let seq = 0;

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ redis_url: own.url });
  sql = gw.processor.stores.sql;
  biz = await createBusiness(gw);
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});

async function newContact(): Promise<{ id: string; card: string; wallet_code: string }> {
  const card = testCard(61_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  return { id: c.body.id, card, wallet_code: c.body.wallet_code };
}

async function newOffer(): Promise<string> {
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'Owed', goal: 'spend', kind: 'cashback', award: { fixed: 100 + seq } });
  expect(o.status, o.text).toBe(201);
  return o.body.id;
}

function purchase(card: string) {
  return call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `owed-${++seq}`, cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' });
}

/** Redis out of memory: reads go on, writes are refused. */
async function refusingWrites<T>(work: () => Promise<T>): Promise<T> {
  await own.client.configSet('maxmemory', '1');
  try {
    return await work();
  } finally {
    await own.client.configSet('maxmemory', '0');
    // The gateway's probe (every 250 ms) has heard Redis take writes again: until then admin calls are refused at once.
    await eventually('Redis heard writable', async () => gw.processor.stores.redis_health?.writable === true);
  }
}

/** Holds a PostgreSQL lock (`lock` run in a transaction of its own) until `release` is called; `pid` is its backend's. */
async function holding(lock: (tx: Sql) => Promise<unknown>): Promise<{ pid: number; release: () => Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked!: (pid: number) => void;
  const taken = new Promise<number>((resolve) => (locked = resolve));
  const held = sql.begin(async (tx) => {
    const [backend] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
    await lock(tx as unknown as Sql);
    locked(backend!.pid);
    await released;
  });
  const pid = await Promise.race([taken, held.then(() => -1)]);
  return { pid, release: async () => (release(), await held) };
}

/** Whether a query waits on the lock `holder` holds (another test file's waits are not this one's). */
async function waitsOn(holder: number): Promise<boolean> {
  return (await sql`select 1 from pg_stat_activity where ${holder} = any(pg_blocking_pids(pid))`).length > 0;
}

const owed = async (kind: string, id: string) => (await sql`select 1 from redis_copies_owed where kind = ${kind} and id = ${id}`).length;

describe('while Redis takes no write', () => {
  it('a PATCH of what the POS path reads is 503 and changes nothing in PostgreSQL', async () => {
    const c = await newContact();
    const offer_id = await newOffer();
    await refusingWrites(async () => {
      expectProblem(await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: true }), 503, 'unavailable');
      expectProblem(await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { tags: ['owed'] }), 503, 'unavailable');
      expectProblem(await call(gw, 'PATCH', `/v1/offers/${offer_id}`, biz.admin_key, { active: false }), 503, 'unavailable');
      expectProblem(await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 10, period: 'month' }]), 503, 'unavailable');
    });
    expect((await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body).toMatchObject({ spend_blocked: false, tags: [] });
    expect((await call(gw, 'GET', `/v1/offers/${offer_id}`, biz.admin_key)).body.active).not.toBe(false);
    expect((await call(gw, 'GET', '/v1/tiers', biz.admin_key)).body.data).toEqual([]);
    // A PATCH that the POS path does not read needs no Redis.
    const named = await refusingWrites(() => call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { first_name: 'Ada' }));
    expect(named.status, named.text).toBe(200);
  });
});

describe('Redis failing between the commit and the copy', () => {
  it("a contact's spend_blocked: 503, the copy owed, made by the sweep once Redis takes writes; the contact cannot spend", async () => {
    const c = await newContact();
    // The PATCH passes its check of Redis, then waits on the contact's row while Redis starts refusing writes.
    const lock = await holding((tx) => tx`select 1 from contacts where id = ${c.id} for update`);
    const patching = call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: true });
    await eventually('the PATCH waits on the row', () => waitsOn(lock.pid));
    await refusingWrites(async () => {
      await lock.release();
      expectProblem(await patching, 503, 'unavailable');
      // Owed while Redis refuses: no sweep can have made it yet.
      expect(await owed('contact', c.id)).toBe(1);
    });
    const [row] = await sql<{ spend_blocked: boolean }[]>`select spend_blocked from contacts where id = ${c.id}`;
    expect(row!.spend_blocked).toBe(true); // committed before the copy failed
    const key = contactKey(shardOf(c.id, gw.processor.stores.config.shard_count), c.id);
    await eventually('the sweep copied it', async () => (await own.client.hGet(key, 'x')) === '1' && (await owed('contact', c.id)) === 0, 15_000);
    const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: `owed-spend-${++seq}`, amount: 1, currency: 'EUR', wallet_code: c.wallet_code });
    expectProblem(spend, 422, 'spend_blocked');
  });

  it('an offer made inactive: 503, the copy owed, made by the sweep; purchases no longer get its award', async () => {
    const offer_id = await newOffer();
    const c = await newContact();
    const before = await purchase(c.card);
    expect(before.body.awards.map((a: { offer_id: string }) => a.offer_id)).toContain(offer_id);
    // The PATCH commits, then its copy waits on the business's rewards lock while Redis starts refusing writes.
    const lock = await holding((tx) => tx`select pg_advisory_xact_lock(${rewards_lock_namespace}, hashtext(${biz.business_id}))`);
    const patching = call(gw, 'PATCH', `/v1/offers/${offer_id}`, biz.admin_key, { active: false });
    await eventually('the PATCH committed', async () => (await owed('rewards', biz.business_id)) === 1);
    await refusingWrites(async () => {
      await lock.release();
      expectProblem(await patching, 503, 'unavailable');
    });
    expect((await call(gw, 'GET', `/v1/offers/${offer_id}`, biz.admin_key)).body.active).toBe(false);
    await eventually('the sweep copied it', async () => (await owed('rewards', biz.business_id)) === 0, 15_000);
    await eventually('purchases no longer get it', async () => {
      const after = await purchase(c.card);
      expect(after.status, after.text).toBe(201);
      return !after.body.awards.some((a: { offer_id: string }) => a.offer_id === offer_id);
    }, 15_000);
  });

  it('a change whose copy succeeds owes nothing', async () => {
    const c = await newContact();
    const offer_id = await newOffer();
    expect((await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { tags: ['paid'] })).status).toBe(200);
    expect((await call(gw, 'PATCH', `/v1/offers/${offer_id}`, biz.admin_key, { max_award: 50 })).status).toBe(200);
    expect(await owed('contact', c.id)).toBe(0);
    expect(await owed('rewards', biz.business_id)).toBe(0);
  });
});
