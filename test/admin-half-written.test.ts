// An admin write whose PostgreSQL part committed but whose Redis part did not (Redis refused
// writes, or the process died in between: the client got 503 or no answer) must converge when the
// client sends the same call again, as a terminal's or a merchant's does: what PostgreSQL holds
// reaches the hot path, and nothing is awarded twice or never. The gateway runs on a Redis of this
// test's own, made to refuse writes (maxmemory 1) for the first call.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisClient } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
let admin: RedisClient;
let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;

beforeAll(async () => {
  own = await startOwnRedis();
  admin = own.client;
  gw = await startTestGateway({ redis_url: own.url });
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5% back', goal: 'spend', kind: 'cashback', award: { percent: 5 } });
  expect(o.status, o.text).toBe(201);
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});

/** Runs `write` while Redis refuses writes (the gateway's probe has seen it), then lets Redis write again. */
async function withRedisRefusing<T>(write: () => Promise<T>): Promise<T> {
  await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
  try {
    await eventually('the gateway sees Redis refusing', async () => (await call(gw, 'GET', '/readyz', undefined)).status === 503, 3_000);
    return await write();
  } finally {
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
    await eventually('the gateway sees Redis writing', async () => (await call(gw, 'GET', '/readyz', undefined)).status === 200, 3_000);
  }
}

const purchaseBy = (card: string) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `hw-${++seq}`, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });

describe('an admin write cut between PostgreSQL and Redis, sent again', () => {
  it('POST /v1/contacts: the retry answers 201 with the contact, and its card buys', async () => {
    const card = testCard(31_000_001);
    const body = { first_name: 'Half', cims: [{ type: 'card', value: card }] };
    const first = await withRedisRefusing(() => call(gw, 'POST', '/v1/contacts', biz.admin_key, body));
    expect(first.status, first.text).toBe(503);
    const again = await call(gw, 'POST', '/v1/contacts', biz.admin_key, body);
    expect(again.status, again.text).toBe(201);
    const bought = await purchaseBy(card);
    expect(bought.status, bought.text).toBe(201);
    expect(bought.body.contact_id).toBe(again.body.id);
    const wallet = await call(gw, 'GET', `/v1/contacts/${again.body.id}/wallet`, biz.admin_key);
    expect(wallet.status, wallet.text).toBe(200);
  });

  it('POST /v1/contacts/import: the same file again imports the lines the cut one left out of Redis', async () => {
    const cards = [testCard(31_000_101), testCard(31_000_102)];
    const file = cards.map((card, i) => JSON.stringify({ first_name: `Line ${i + 1}`, cims: [{ type: 'card', value: card }] })).join('\n');
    const importFile = () => call(gw, 'POST', '/v1/contacts/import', biz.admin_key, file, { 'content-type': 'application/x-ndjson' });
    const first = await withRedisRefusing(importFile);
    expect(first.status, first.text).toBe(503);
    const again = await importFile();
    expect(again.status, again.text).toBe(200);
    expect(again.body).toMatchObject({ imported: 2, failed: 0 });
    for (const card of cards) {
      const bought = await purchaseBy(card);
      expect(bought.status, bought.text).toBe(201);
    }
  });

  it('POST /v1/contacts/{id}/cims: the retry indexes the CIM, which then buys', async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [] });
    expect(c.status, c.text).toBe(201);
    const card = testCard(31_000_201);
    const add = () => call(gw, 'POST', `/v1/contacts/${c.body.id}/cims`, biz.admin_key, { type: 'card', value: card });
    const first = await withRedisRefusing(add);
    expect(first.status, first.text).toBe(503);
    const again = await add();
    expect(again.status, again.text).toBe(201);
    const bought = await purchaseBy(card);
    expect(bought.status, bought.text).toBe(201);
    expect(bought.body.contact_id).toBe(c.body.id);
  });

  it('POST /v1/schemes/{id}/signups: the retry makes the sign-up award the cut call never made, once', async () => {
    const scheme = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Club', signup: 'self' });
    expect(scheme.status, scheme.text).toBe(201);
    const offer = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'Welcome', scheme_id: scheme.body.id, goal: 'signup', kind: 'cashback', award: { fixed: 300 } });
    expect(offer.status, offer.text).toBe(201);
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(31_000_301) }] });
    expect(c.status, c.text).toBe(201);
    const signup = () => call(gw, 'POST', `/v1/schemes/${scheme.body.id}/signups`, biz.admin_key, { contact_id: c.body.id });
    const first = await withRedisRefusing(signup);
    expect(first.status, first.text).toBe(503);
    for (let i = 0; i < 2; i++) {
      const again = await signup();
      expect(again.status, again.text).toBe(201);
    }
    const wallet = await call(gw, 'GET', `/v1/contacts/${c.body.id}/wallet`, biz.admin_key);
    expect(wallet.status, wallet.text).toBe(200);
    expect(wallet.body.open + wallet.body.commerce).toBe(300);
  });
});

describe('an offer create cut between PostgreSQL and Redis is never live', () => {
  it('POST /v1/offers: sent again after the 503, the purchase awards the offer once, not twice', async () => {
    const b = await createBusiness(gw);
    const body = { name: '2% back', goal: 'spend', kind: 'cashback', award: { percent: 2 } };
    const first = await withRedisRefusing(() => call(gw, 'POST', '/v1/offers', b.admin_key, body));
    expect(first.status, first.text).toBe(503);
    const again = await call(gw, 'POST', '/v1/offers', b.admin_key, body);
    expect(again.status, again.text).toBe(201);
    // Any later change of the business's rewards (here a tier table) copies what PostgreSQL holds.
    const tiers = await call(gw, 'PUT', '/v1/tiers', b.admin_key, [{ name: 'silver', min_period_units: 1000, period: 'year' }]);
    expect(tiers.status, tiers.text).toBe(200);
    const card = testCard(31_000_401);
    const c = await call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(c.status, c.text).toBe(201);
    const bought = await call(gw, 'POST', '/v1/purchases', b.terminal_key, { reference: `hw-${++seq}`, cim: { type: 'card', value: card }, amount: 10_000, currency: 'EUR' });
    expect(bought.status, bought.text).toBe(201);
    expect(bought.body.awards.reduce((s: number, a: { amount: number }) => s + a.amount, 0)).toBe(200);
    // The cut one is nowhere to be read or changed.
    const [cut] = await gw.processor.stores.sql<{ id: string }[]>`select id from offers where business_id = ${b.business_id} and id <> ${again.body.id}`;
    expect(cut).toBeDefined();
    const list = await call(gw, 'GET', '/v1/offers', b.admin_key);
    expect(list.body.data.map((o: { id: string }) => o.id)).toEqual([again.body.id]);
    expect((await call(gw, 'GET', `/v1/offers/${cut!.id}`, b.admin_key)).status).toBe(404);
    expect((await call(gw, 'PATCH', `/v1/offers/${cut!.id}`, b.admin_key, { name: 'back' })).status).toBe(404);
  });

  it('POST /v1/offers: a commit that fails after Redis took the copy leaves no offer, dropped from Redis by the next copy', async () => {
    const b = await createBusiness(gw);
    const kept = await call(gw, 'POST', '/v1/offers', b.admin_key, { name: '1% back', goal: 'spend', kind: 'cashback', award: { percent: 1 } });
    expect(kept.status, kept.text).toBe(201);
    const { sql } = gw.processor.stores;
    // Refused at commit (a deferred trigger), after the statement that shows the offer and after Redis's write.
    await sql`create function test_commit_fails() returns trigger language plpgsql as $$ begin raise exception 'commit refused'; end $$`;
    await sql`create constraint trigger test_commit_fails after update on offers deferrable initially deferred
      for each row when (new.body->>'name' = 'Commit fails') execute function test_commit_fails()`;
    let cut;
    try {
      cut = await call(gw, 'POST', '/v1/offers', b.admin_key, { name: 'Commit fails', goal: 'spend', kind: 'cashback', award: { percent: 2 } });
    } finally {
      await sql`drop trigger test_commit_fails on offers`;
      await sql`drop function test_commit_fails()`;
    }
    expect(cut.status, cut.text).not.toBe(201);
    const list = await call(gw, 'GET', '/v1/offers', b.admin_key);
    expect(list.body.data.map((o: { id: string }) => o.id)).toEqual([kept.body.id]);
    const tiers = await call(gw, 'PUT', '/v1/tiers', b.admin_key, [{ name: 'silver', min_period_units: 1000, period: 'year' }]);
    expect(tiers.status, tiers.text).toBe(200);
    const card = testCard(31_000_501);
    const c = await call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(c.status, c.text).toBe(201);
    const bought = await call(gw, 'POST', '/v1/purchases', b.terminal_key, { reference: `hw-${++seq}`, cim: { type: 'card', value: card }, amount: 10_000, currency: 'EUR' });
    expect(bought.status, bought.text).toBe(201);
    expect(bought.body.awards.map((a: { offer_id: string }) => a.offer_id)).toEqual([kept.body.id]);
  });
});
