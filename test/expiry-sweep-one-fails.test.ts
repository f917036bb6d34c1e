// The expiry sweep goes on past a contact whose expiry fails: one contact's script error (here
// a lot whose amount is not a number) stopped the whole sweep, so every contact after it kept its
// due lots until the retry, and for ever while that contact kept failing. Now each contact's
// failure is caught, the sweep goes on, and it reports the first failure after (the sweeper
// tries again within a second: expiry.ts start). And a contact that fails is set aside in its
// shard's index (1 s, then twice as long each time): 200 contacts that kept failing on one shard
// (a sweep reads 200 per shard) kept every other contact of that shard from expiring.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../core/ids.ts';
import { contactKey, expiryKey, lotsKey } from '../processor/hot/keys.ts';
import { call, createBusiness, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { startOnOwnStores } from './rebuilt.ts';

// Stores of its own: its sweeps, two days ahead, would expire other files' contacts in the shared Redis.
let own: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;
const ref = () => `esf-${process.pid}-${Date.now()}-${++seq}`;
const day_ms = 86_400_000;

beforeAll(async () => {
  // The sweeper runs when the test says (gw.processor.expiry.sweep), not on its timer.
  own = await startOwnStores('expirysweep');
  gw = await startOnOwnStores(own, { expiry_sweep_ms: 3_600_000 });
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10% back, a day', goal: 'spend', award: { percent: 10 }, validity_days: 1 });
  expect(o.status).toBe(201);
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});

async function contactWithLot(name: string): Promise<{ id: string; shard: number; due_ms: number }> {
  const cim = { type: 'loyalty_id', value: `${name}-${process.pid}-${Date.now()}` };
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [cim] });
  expect(c.status, c.text).toBe(201);
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: ref(), cim, amount: 1000, currency: 'EUR' });
  expect([p.status, p.body.wallet]).toEqual([201, { open: 0, commerce: 100 }]);
  const shard = shardOf(c.body.id, gw.processor.stores.config.shard_count);
  const due_ms = Number(await gw.processor.stores.redis.zScore(expiryKey(shard), c.body.id));
  return { id: c.body.id, shard, due_ms };
}

const commerceOf = async (id: string) => (await call(gw, 'GET', `/v1/contacts/${id}/wallet`, biz.admin_key)).body.commerce;

describe('an expiry sweep with a contact that fails', () => {
  it('expires every other contact due, then reports the failure; the contact is expired once it no longer fails', async () => {
    const contacts = [await contactWithLot('a'), await contactWithLot('b'), await contactWithLot('c')];
    // The sweep's order: shard by shard, earliest due first. The first one fails.
    contacts.sort((x, y) => x.shard - y.shard || x.due_ms - y.due_ms);
    const [failing, ...others] = contacts as [typeof contacts[0], ...typeof contacts];
    const { redis, clock } = gw.processor.stores;
    const lots = lotsKey(failing.shard, failing.id);
    const [field] = Object.keys(await redis.hGetAll(lots));
    await redis.hSet(lots, field!, 'not a number');

    const real = clock.now;
    const now_ms = real() + 2 * day_ms; // every lot expired a day ago
    clock.now = () => now_ms;
    try {
      await expect(gw.processor.expiry.sweep()).rejects.toThrow();
      for (const o of others) expect(await commerceOf(o.id)).toBe(0);
      await redis.hSet(lots, field!, '100');
      // Set aside for a second after its failure; then it is expired.
      expect(await gw.processor.expiry.sweep()).toBe(0);
      expect(await commerceOf(failing.id)).toBe(100);
      clock.now = () => now_ms + 1_000;
      expect(await gw.processor.expiry.sweep()).toBe(1);
      expect(await commerceOf(failing.id)).toBe(0);
    } finally {
      clock.now = real;
    }
  });
});

describe('a shard with more contacts failing than a sweep reads', () => {
  it('sets each failing contact aside, so the next sweep expires the contact behind them', async () => {
    const real = await contactWithLot('behind');
    const { redis, clock } = gw.processor.stores;
    const contact = await redis.hGetAll(contactKey(real.shard, real.id));
    const [field] = Object.keys(await redis.hGetAll(lotsKey(real.shard, real.id)));
    // 200 contacts of the same shard and business, due before it, each with a lot its script cannot read.
    const failing = Array.from({ length: 200 }, (_, i) => `${real.id}-broken-${i}`);
    const multi = redis.multi();
    for (const [i, id] of failing.entries()) {
      multi.hSet(contactKey(real.shard, id), contact);
      multi.hSet(lotsKey(real.shard, id), field!, 'not a number');
      multi.zAdd(expiryKey(real.shard), { score: real.due_ms - 1_000 + i, value: id });
    }
    await multi.exec();

    const start = clock.now;
    const now_ms = start() + 2 * day_ms;
    clock.now = () => now_ms;
    try {
      await expect(gw.processor.expiry.sweep()).rejects.toThrow();
      expect(await commerceOf(real.id)).toBe(100); // not reached: the 200 came first
      for (const id of failing) expect(await redis.zScore(expiryKey(real.shard), id)).toBe(now_ms + 1_000);
      // Set aside, the 200 are not due now: the sweep reaches the contact behind them.
      expect(await gw.processor.expiry.sweep()).toBeGreaterThanOrEqual(1);
      expect(await commerceOf(real.id)).toBe(0);
      // Due again, they fail again, and are set aside twice as long.
      clock.now = () => now_ms + 1_000;
      await expect(gw.processor.expiry.sweep()).rejects.toThrow();
      expect(await redis.zScore(expiryKey(real.shard), failing[0]!)).toBe(now_ms + 1_000 + 2_000);
    } finally {
      clock.now = start;
      const cleanup = redis.multi();
      for (const id of failing) cleanup.del([contactKey(real.shard, id), lotsKey(real.shard, id)]).zRem(expiryKey(real.shard), id);
      await cleanup.exec();
    }
  });
});

describe('a sweep failing for a store that cannot serve', () => {
  it('sets nobody aside: the contact is expired as soon as the store serves again', async () => {
    const c = await contactWithLot('journal-full');
    const { redis, clock, config } = gw.processor.stores;
    const settings = config as { journal_length_max: number };
    const journal_length_max = settings.journal_length_max;
    const start = clock.now;
    const now_ms = start() + 2 * day_ms;
    clock.now = () => now_ms;
    try {
      // Every shard's journal taken as full: each expiry refused 503 `unavailable`.
      settings.journal_length_max = 0;
      await expect(gw.processor.expiry.sweep()).rejects.toThrow(/ledger is behind/);
      expect(await redis.zScore(expiryKey(c.shard), c.id)).toBe(c.due_ms);
      settings.journal_length_max = journal_length_max;
      expect(await gw.processor.expiry.sweep()).toBeGreaterThanOrEqual(1);
      expect(await commerceOf(c.id)).toBe(0);
    } finally {
      settings.journal_length_max = journal_length_max;
      clock.now = start;
    }
  });
});
