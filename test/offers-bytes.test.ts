// A business's offers in all are bounded (offers_bytes_max, processor/offers.ts): its rewards
// snapshot is one Redis string that each change rewrites whole and every gateway parses again,
// and with offers of up to 1 MiB each nothing bounded it. Past the bound a create or a PATCH is
// 400 and changes nothing. On stores of its own: the snapshots are megabytes, and every gateway
// other files start on a Redis of their own would copy them.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offers_bytes_max } from '../processor/offers.ts';
import { rewardsKey } from '../processor/rewards-snapshot.ts';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;

beforeAll(async () => {
  stores = await startOwnStores('offers_bytes');
  gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  biz = await createBusiness(gw);
}, 60_000);
afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

/** An offer naming `n` SKUs of 64 characters (10,000: some 700 KB). */
const skus = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}-${String(i).padStart(8, '0')}`.padEnd(64, 'x'));
const body = (name: string, n: number) => ({ name, goal: 'product', award: { percent: 1 }, conditions: { products: { skus: skus(name, n) } } });

describe('a business’s offers in all', () => {
  it('are refused past the bound, a create or a PATCH, changing nothing; room made by a PATCH is taken again', async () => {
    const small = await call(gw, 'POST', '/v1/offers', biz.admin_key, body('small', 10));
    expect(small.status, small.text).toBe(201);
    let created = 1;
    let refused: Awaited<ReturnType<typeof call<any>>> | undefined;
    const before_refusal = { snapshot: '', offers: 0 };
    for (let i = 0; i < 20 && refused === undefined; i++) {
      before_refusal.snapshot = (await stores.redis.client.get(rewardsKey(biz.business_id)))!;
      const r = await call(gw, 'POST', '/v1/offers', biz.admin_key, body(`big${i}`, 10_000));
      if (r.status === 201) created++;
      else refused = r;
    }
    expect(refused?.status, refused?.text.slice(0, 300)).toBe(400);
    expect(refused!.body.code).toBe('validation_failed');
    expect(refused!.body.detail).toContain(`at most ${offers_bytes_max} bytes`);
    // Some 700 KB each: 11 or 12 of them fit in 8 MiB, the small one beside them.
    expect(created).toBeGreaterThanOrEqual(11);
    expect(created).toBeLessThanOrEqual(13);
    const listed = await call(gw, 'GET', '/v1/offers', biz.admin_key);
    expect(listed.body.data ?? listed.body).toHaveLength(created);
    const snapshot = (await stores.redis.client.get(rewardsKey(biz.business_id)))!;
    expect(snapshot).toBe(before_refusal.snapshot);
    expect(Buffer.byteLength(snapshot)).toBeLessThanOrEqual(offers_bytes_max + 64 * 1024);

    // Growing the small one to a big one's size does not fit either.
    const grown = await call(gw, 'PATCH', `/v1/offers/${small.body.id}`, biz.admin_key, { conditions: { products: { skus: skus('grown', 10_000) } } });
    expect(grown.status, grown.text.slice(0, 300)).toBe(400);
    expect((await call(gw, 'GET', `/v1/offers/${small.body.id}`, biz.admin_key)).body.conditions.products.skus).toHaveLength(10);
    expect(await stores.redis.client.get(rewardsKey(biz.business_id))).toBe(snapshot);

    // A big one made small leaves room for the one refused.
    const big = (listed.body.data ?? listed.body).find((o: { name: string }) => o.name === 'big0');
    const shrunk = await call(gw, 'PATCH', `/v1/offers/${big.id}`, biz.admin_key, { conditions: { products: { skus: skus('shrunk', 10) } } });
    expect(shrunk.status, shrunk.text.slice(0, 300)).toBe(200);
    const again = await call(gw, 'POST', '/v1/offers', biz.admin_key, body(`big${created - 1}`, 10_000));
    expect(again.status, again.text.slice(0, 300)).toBe(201);

    // The same room made again, and two creates of that size at once: one fits, not both (each is
    // committed hidden and shown after: the check counts hidden offers too).
    const other = (listed.body.data ?? listed.body).find((o: { name: string }) => o.name === 'big1');
    expect((await call(gw, 'PATCH', `/v1/offers/${other.id}`, biz.admin_key, { conditions: { products: { skus: skus('shrunk', 10) } } })).status).toBe(200);
    const both = await Promise.all([1, 2].map(() => call(gw, 'POST', '/v1/offers', biz.admin_key, body(`big${created - 1}`, 10_000))));
    expect(both.map((r) => r.status).sort()).toEqual([201, 400]);
  }, 120_000);

  it('an offer a create answered 503 left hidden counts only while that create may still show it', async () => {
    const other = await createBusiness(gw);
    const { sql } = gw.processor.stores;
    // A create cut after its commit: its offer hidden for good (nothing ever shows it), 8 MiB of it.
    const left = { name: 'cut', goal: 'spend', award: { percent: 1 }, pad: 'x'.repeat(offers_bytes_max) };
    const [row] = await sql<{ id: string }[]>`
      insert into offers (id, business_id, body, hidden, created_at) values (${`off_left${Date.now()}`}, ${other.business_id}, ${sql.json(left)}, true, now() - interval '10 minutes') returning id`;
    const fits = await call(gw, 'POST', '/v1/offers', other.admin_key, body('after', 10));
    expect(fits.status, fits.text.slice(0, 300)).toBe(201);
    // The same hidden offer as a create in flight would hold it: counted.
    await sql`update offers set created_at = now() where id = ${row!.id}`;
    const refused = await call(gw, 'POST', '/v1/offers', other.admin_key, body('during', 10));
    expect(refused.status, refused.text.slice(0, 300)).toBe(400);
  }, 60_000);
});
