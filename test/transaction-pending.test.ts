// API.md, Reading back: "GET /v1/transactions/{id} → {…, ledger: "pending"|"recorded"};
// `recorded` once the Postgres ledger holds it." A transaction the ledger does not hold yet is
// pending, and reads back as such: with PostgreSQL down (the one time a transaction stays pending
// long enough to be seen) it was 503 `unavailable`, although its journal entry, in Redis, holds
// all the view shows. Its own gateway on a Redis of its own: the shared test gateways' ledger
// writers, with PostgreSQL up, would record it at once.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { expectProblem } from './contract-util.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';
import { startPgProxy, type PgProxy } from './pg-proxy.ts';

let own: OwnRedis;
let proxy: PgProxy;
let gw: TestGateway;
let biz: BusinessFixture;
let other: BusinessFixture;
let card: string;

beforeAll(async () => {
  proxy = await startPgProxy();
  own = await startOwnRedis();
  gw = await startTestGateway({ database_url: proxy.url, redis_url: own.url });
  biz = await createBusiness(gw);
  other = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
  card = testCard(9_420_001);
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
  // The terminal and the offers are in the gateway's caches once it has served a purchase.
  expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'warm', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' })).status).toBe(201);
});
afterAll(async () => {
  await gw?.close();
  await proxy?.close();
  await own?.stop();
});

async function purchase(reference: string): Promise<string> {
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: card }, amount: 2000, currency: 'EUR' });
  expect(p.status, p.text).toBe(201);
  return p.body.id as string;
}

describe('a transaction the ledger does not hold yet', () => {
  it('reads back pending while PostgreSQL is down, then recorded once the ledger has it', async () => {
    await proxy.set('refuse');
    // Before the gateway's probe has seen PostgreSQL go: the ledger's read fails under the call.
    const early = await purchase('early');
    let first = await call(gw, 'GET', `/v1/transactions/${early}`, biz.admin_key);
    // Unless the probe saw it go while the call waited (a loaded machine: a fresh clone's CI run at
    // d365e47): then the call is 503 at once (app.ts whilePostgresAnswers), and asked again, pending.
    if (first.status === 503) {
      expect((await call(gw, 'GET', '/readyz', undefined)).body.postgres, first.text).toBe('down');
      first = await call(gw, 'GET', `/v1/transactions/${early}`, biz.admin_key);
    }
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ id: early, kind: 'purchase', reference: 'early', ledger: 'pending', amount: 2000, currency: 'EUR' });

    await eventually('the probe sees PostgreSQL down', async () => (await call(gw, 'GET', '/readyz', undefined)).body.postgres === 'down');
    const id = await purchase('down');
    const t = await call(gw, 'GET', `/v1/transactions/${id}`, biz.admin_key);
    expect(t.status, t.text).toBe(200);
    expect(t.body).toMatchObject({ id, kind: 'purchase', reference: 'down', terminal_id: biz.terminal_id, amount: 2000, currency: 'EUR', status: 'approved', ledger: 'pending' });
    expect(t.body.awards).toEqual([expect.objectContaining({ kind: 'cashback', amount: 200 })]);
    // An id the journal does not hold may be in the ledger: it cannot say, so 503, not 404.
    const missing = await call(gw, 'GET', '/v1/transactions/txn_0000000000000000000000000', biz.admin_key);
    expectProblem(missing, 503, 'unavailable');
    // Another business's key: answered exactly as an id that does not exist (API.md, Conventions),
    // which is this 503 while the ledger cannot be read: a 404 told it the transaction exists.
    const foreign = await call(gw, 'GET', `/v1/transactions/${id}`, other.admin_key);
    expectProblem(foreign, 503, 'unavailable');
    expect(foreign.body).toEqual(missing.body);
    expect(foreign.headers.get('retry-after')).toBe(missing.headers.get('retry-after'));

    await proxy.set('forward');
    const recorded = await eventually('recorded', async () => {
      const r = await call(gw, 'GET', `/v1/transactions/${id}`, biz.admin_key);
      return r.status === 200 && r.body.ledger === 'recorded' ? r.body : undefined;
    }, 30_000);
    expect(recorded).toMatchObject({ id, reference: 'down', ledger: 'recorded' });
  });

  it('shows a purchase’s sale time (occurred_at), pending and recorded alike; a refund has none', async () => {
    // Only created_at was shown: a sale dated back read as made today (a probe of time, 2026-12-07).
    const at = new Date(Date.now() - 3 * 3_600_000);
    at.setUTCMilliseconds(345);
    const sale_time = at.toISOString().replace(/\.\d{3}Z$/, 'Z');
    await proxy.set('refuse');
    await eventually('the probe sees PostgreSQL down', async () => (await call(gw, 'GET', '/readyz', undefined)).body.postgres === 'down');
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'dated', cim: { type: 'card', value: card }, amount: 2000, currency: 'EUR', occurred_at: at.toISOString() });
    expect(p.status, p.text).toBe(201);
    const pending = await call(gw, 'GET', `/v1/transactions/${p.body.id}`, biz.admin_key);
    expect(pending.body, pending.text).toMatchObject({ ledger: 'pending', occurred_at: sale_time });
    expect(pending.body.created_at).not.toBe(sale_time);
    await proxy.set('forward');
    const recorded = await eventually('recorded', async () => {
      const r = await call(gw, 'GET', `/v1/transactions/${p.body.id}`, biz.admin_key);
      return r.status === 200 && r.body.ledger === 'recorded' ? r.body : undefined;
    }, 30_000);
    expect(recorded).toMatchObject({ occurred_at: sale_time, created_at: pending.body.created_at });
    const refund = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: 'dated-refund', original_reference: 'dated', amount: 100 });
    expect(refund.status, refund.text).toBe(201);
    expect((await call(gw, 'GET', `/v1/transactions/${refund.body.id}`, biz.admin_key)).body).not.toHaveProperty('occurred_at');
  });
});
