// GET /v1/transactions/{id} reads the ledger. Under a lock held on the ledger's table (a migration,
// a VACUUM FULL) it waited for the lock to end: 23.7 s under a 25 s ACCESS EXCLUSIVE lock (a
// black-box probe, 2026-12-05), and each such read held a connection of the pool meanwhile. Now
// PostgreSQL gives up on it (statement_timeout): 503 unavailable within seconds, and the same
// read answers once the lock is gone.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;

beforeAll(async () => {
  stores = await startOwnStores('transaction_read_locked');
  gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
});
afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

describe('GET /v1/transactions/{id} with the ledger table locked', () => {
  it('answers 503 unavailable within seconds, not when the lock ends; the same read answers after', async () => {
    const biz = await createBusiness(gw);
    const card = testCard(929_001);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'locked-1', cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    const read = () => call(gw, 'GET', `/v1/transactions/${p.body.id}`, biz.admin_key);
    await eventually('recorded', async () => (await read()).body.ledger === 'recorded');
    // The journal's pointer to it gone too (the writer deletes it once recorded): only the ledger has it.
    await new Promise((resolve) => setTimeout(resolve, 1_000));

    let answered: { status: number; code?: string; ms: number } | undefined;
    await stores.sql.begin(async (tx) => {
      await tx`lock table ledger_transactions in access exclusive mode`;
      const began = Date.now();
      // Given up on after 6 s (the lock then ends): without a bound the read waits for it.
      const r = await Promise.race([read(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 6_000))]);
      answered = r === undefined ? undefined : { status: r.status, code: r.body.code, ms: Date.now() - began };
    });
    expect(answered, 'answered while the lock was held').toMatchObject({ status: 503, code: 'unavailable' });
    expect(answered!.ms).toBeLessThan(4_000);
    const after = await read();
    expect([after.status, after.body.id, after.body.ledger]).toEqual([200, p.body.id, 'recorded']);
  }, 60_000);
});
