// API.md: an offer's `budget` caps the total it awards and "is never exceeded, under any
// concurrency". Each award's amount is reserved from its budget before the purchase's script and
// given back when the script refuses the purchase. With DURABILITY=sync the reply waits for
// PostgreSQL after the script has committed; when PostgreSQL fails there, the terminal gets 503
// although the purchase and its awards stand in Redis (its retry replays them): before, that 503
// also gave the budget back, so the offer's counter forgot awards that were made, and later
// purchases could take the budget again. Only a refusal (the script's own answer) gives it back.
//
// A gateway of its own on a Redis database of its own (redis_dbs), which no other test file uses.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../gateway/config.ts';
import { budgetKey } from '../processor/hot/keys.ts';
import type { Sql } from '../processor/stores.ts';
import { call, createBusiness, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { redis_dbs, redisUrl } from './ledger-helpers.ts';

let gw: TestGateway;

beforeAll(async () => {
  process.env.PLATFORM_API_KEY ??= 'pk_test_platform_key';
  process.env.CIM_HMAC_KEY ??= 'test-hmac-key';
  gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_dbs.budget_sync_failure), processor: { ...configFromEnv().processor, durability: 'sync' } });
});
afterAll(async () => {
  await gw?.close();
});

describe('a budgeted award of a purchase whose reply PostgreSQL failed (DURABILITY=sync)', () => {
  it('stays counted in its budget: the purchase stands', async () => {
    const biz = await createBusiness(gw);
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'budgeted', goal: 'spend', award: { fixed: 100 }, limits: { budget: 150 } });
    expect(o.status).toBe(201);
    const card = testCard(9_500_001);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    const body = { reference: 'bs-1', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' };

    const stores = gw.processor.stores as { sql: Sql };
    const real = stores.sql;
    // PostgreSQL failing (only the sync record uses it on the purchase path).
    const refuse = () => {
      throw new Error('connection refused');
    };
    stores.sql = new Proxy(real, { apply: refuse, get: (t, p) => (p === 'begin' ? refuse : Reflect.get(t, p)) });
    let failed;
    try {
      failed = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    } finally {
      stores.sql = real;
    }
    expect(failed.status, failed.text).toBe(503);
    // The purchase stands: its retry gets it, award and all.
    const retry = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    expect(retry.status, retry.text).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body.awards.map((a: { amount: number }) => a.amount)).toEqual([100]);
    expect(await gw.processor.stores.redis.get(budgetKey(o.body.id))).toBe('100');
    // So the next purchase gets what is left of the budget, no more.
    const next = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...body, reference: 'bs-2' });
    expect(next.body.awards.map((a: { amount: number }) => a.amount)).toEqual([50]);
  });
});
