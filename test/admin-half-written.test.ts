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
