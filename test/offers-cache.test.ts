// The offers each process compiles (processor/offers.ts) follow changes made elsewhere even when
// the message announcing one is lost: a subscriber that reconnects reloads every compiled
// business, and none is used past its ttl anyway. Changes are made "by another process" here:
// into PostgreSQL and the rewards snapshot in Redis, their message published while the subscriber
// is disconnected (or not at all). On a Redis of the test's own: it kills every pub/sub client of
// its Redis.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../core/ids.ts';
import { offers_channel } from '../processor/hot/keys.ts';
import type { Business } from '../processor/network.ts';
import { Offers } from '../processor/offers.ts';
import { snapshotRewards } from '../processor/rewards-snapshot.ts';
import { connectRedis, type RedisClient, type Stores } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, type TestGateway } from './helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let redis: OwnRedis;
let gw: TestGateway;

beforeAll(async () => {
  redis = await startOwnRedis();
  gw = await startTestGateway({ redis_url: redis.url });
});
afterAll(async () => {
  await gw?.close();
  await redis?.stop();
});

/** A business with one spend offer, as the gateway's cache knows it. */
async function business(): Promise<{ business: Business; offer_id: string }> {
  const biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'ten back', goal: 'spend', award: { fixed: 10 } });
  expect(o.status, o.text).toBe(201);
  const found = await gw.processor.network.business(biz.business_id);
  if (found === undefined) throw new Error('business not found');
  return { business: found, offer_id: o.body.id };
}

/**
 * Another process's change, announced to no one: a copy of an offer into PostgreSQL, and the
 * business's rewards snapshot in Redis (what the POS path loads) rewritten from it.
 */
async function addOfferBehindItsBack(business: Business, offer_id: string): Promise<void> {
  const { sql } = gw.processor.stores;
  await sql`insert into offers (id, business_id, body) select ${newId('off')}, business_id, body from offers where id = ${offer_id}`;
  await snapshotRewards(gw.processor.stores, business.id);
}

const offersOf = async (offers: Offers, business: Business) => (await offers.forBusiness(business)).compiled.purchase_offers;

describe('the compiled offers', () => {
  it('are reloaded when the subscriber reconnects: a change announced while it was disconnected is seen', async () => {
    const { business: b, offer_id } = await business();
    const offers = gw.processor.offers;
    // Settled: the gateway's own message about the offer it created has come back and gone.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const loaded = await offers.forBusiness(b);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await offers.forBusiness(b)).toBe(loaded);
    expect(loaded.compiled.purchase_offers).toBe(1);
    await addOfferBehindItsBack(b, offer_id);
    // Its message is published while the subscriber is disconnected: nobody receives it.
    const [killed, received] = (await redis.client.multi().addCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']).publish(offers_channel, b.id).exec()) as unknown as [number, number];
    expect(killed).toBeGreaterThanOrEqual(1);
    expect(received).toBe(0);
    // Seen within moments of the reconnect, long before the ttl (30 s).
    await eventually('the change to be seen', async () => (await offersOf(offers, b)) === 2, 5_000);
    // The cache still holds without a reconnect: a change nobody announces is not seen at once.
    await addOfferBehindItsBack(b, offer_id);
    expect(await offersOf(offers, b)).toBe(2);
    // Announced, it is.
    await redis.client.publish(offers_channel, b.id);
    await eventually('the announced change to be seen', async () => (await offersOf(offers, b)) === 3, 5_000);
  });

  it('are never used past their ttl: from half of it reloaded in the background, past it waited for', async () => {
    const { business: b, offer_id } = await business();
    const ttl_ms = 2_000;
    const offers = new Offers(gw.processor.stores, ttl_ms); // never subscribed: every message missed
    const first = await offers.forBusiness(b);
    expect(first.compiled.purchase_offers).toBe(1);
    await addOfferBehindItsBack(b, offer_id);
    expect(await offers.forBusiness(b)).toBe(first);
    // Past the ttl the purchase waits for the reload: it sees the change.
    await new Promise((resolve) => setTimeout(resolve, ttl_ms + 50));
    const reloaded_at = Date.now();
    expect(await offersOf(offers, b)).toBe(2);
    // Past half the ttl a purchase gets what was compiled and starts the reload, which the next see.
    await addOfferBehindItsBack(b, offer_id);
    await new Promise((resolve) => setTimeout(resolve, reloaded_at + ttl_ms / 2 + 50 - Date.now()));
    expect(await offersOf(offers, b)).toBe(2);
    await eventually('the background reload to land', async () => (await offersOf(offers, b)) === 3, ttl_ms / 2 - 100);
  });

  it('stand in when a reload fails: a purchase is not refused for it, and the next try after sees the change', async () => {
    const { business: b, offer_id } = await business();
    const closed = await connectRedis(redis.url);
    await closed.close();
    let client: RedisClient = gw.processor.stores.redis;
    const stores: Stores = { ...gw.processor.stores, get redis() { return client; } };
    const offers = new Offers(stores, 200);
    expect(await offersOf(offers, b)).toBe(1);
    await addOfferBehindItsBack(b, offer_id);
    client = closed; // every command refused
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await offersOf(offers, b)).toBe(1);
    client = gw.processor.stores.redis;
    await eventually('a later reload to see the change', async () => (await offersOf(offers, b)) === 2, 3_000);
  });
});
