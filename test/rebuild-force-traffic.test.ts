// `npm run rebuild --force` over a Redis that holds data while a terminal keeps buying: a purchase
// approved after rebuild began and before its contact's page is written is missing from that
// contact in Redis (its lots are replayed from the ledger as it was). OPERATIONS.md: "Afterwards
// `npm run reconcile` reports no mismatch" holds for a rebuild run with POS traffic held off;
// run under traffic, rebuild says so (appended_meanwhile; the command exits 3), never silently.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalKey } from '../processor/hot/keys.ts';
import { rebuild } from '../processor/ledger/rebuild.ts';
import { reconcile } from '../processor/ledger/reconcile.ts';
import { default_config } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;
const n = 600; // more than one page of contacts (500)

beforeAll(async () => {
  stores = await startOwnStores('rebuild_force_traffic');
  gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5%', goal: 'spend', award: { percent: 5 }, validity_days: 30 })).status).toBe(201);
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ first_name: `ft ${i}`, cims: [{ type: 'card', value: testCard(42_000_000 + i) }] })).join('\n');
  const r = await gw.app.request('/v1/contacts/import', { method: 'POST', headers: { authorization: `Bearer ${biz.admin_key}`, 'content-type': 'application/x-ndjson' }, body: lines });
  expect(r.status).toBe(200);
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

const caughtUp = () => eventually('ledger caught up', async () => (await call(gw, 'GET', '/readyz', undefined)).body.ledger_lag === 0);

async function reconciled(config: { shard_count: number }): Promise<string[]> {
  await caughtUp();
  const found: string[] = [];
  const r = await reconcile(stores.redis.client, stores.sql, { shard_count: config.shard_count, wait_ms: 10_000, onMismatch: (m) => found.push(`${m.contact_id} ${m.balance} ${m.redis} ${m.ledger}`) });
  expect(r.outcome).toBe('compared');
  return found;
}

describe('rebuild --force', () => {
  it('with POS traffic held off: nothing appended meanwhile, Redis agrees with the ledger', async () => {
    const config = { ...default_config, ...gw.processor.stores.config };
    const rebuilt = await rebuild(stores.redis.client, stores.sql, config, { force: true, wait_ms: 10_000, now_ms: Date.now() });
    expect(rebuilt.outcome).toBe('rebuilt');
    expect(rebuilt.outcome === 'rebuilt' && rebuilt.appended_meanwhile).toBe(0);
    expect(await reconciled(config)).toEqual([]);
  }, 60_000);

  it('while a terminal buys: says how many journal entries were appended meanwhile (the contacts rebuilt before theirs lack them)', async () => {
    const config = { ...default_config, ...gw.processor.stores.config };
    // Before the second page of contacts is written (and after rebuild read it from the ledger): a
    // purchase of every 20th contact in rebuild's order, five of the second page's among them.
    // Contact ids are random: every 20th line of the file misses the second page in (5/6)^30 of
    // runs, about 1 in 240, and did in the CI run of d3dd85f.
    const order = await stores.sql<{ id: string; first_name: string }[]>`select id, first_name from contacts where business_id = ${biz.business_id} order by id collate "C"`;
    expect(order.length).toBe(n);
    const bought_ids = order.filter((_, k) => k % 20 === 0);
    const second_page_ids = bought_ids.filter((_, j) => j * 20 >= 500).map((c) => c.id);
    expect(second_page_ids.length).toBe(5);
    let in_contacts = false;
    let pages = 0;
    let bought = 0;
    const buy = async () => {
      for (const c of bought_ids) {
        const i = Number(c.first_name.slice('ft '.length));
        const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `ft-${i}`, cim: { type: 'card', value: testCard(42_000_000 + i) }, amount: 10_000, currency: 'EUR' });
        expect(p.status, p.text).toBe(201);
        bought++;
      }
      await caughtUp();
    };
    const client = stores.redis.client;
    const redis = new Proxy(client, {
      get(target, prop) {
        if (prop === 'multi') {
          return () => {
            const multi = target.multi();
            const exec = multi.execAsPipeline.bind(multi);
            multi.execAsPipeline = (async () => {
              if (in_contacts && ++pages === 2) await buy();
              return exec();
            }) as typeof multi.execAsPipeline;
            return multi;
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const rebuilt = await rebuild(redis, stores.sql, config, {
      force: true, wait_ms: 10_000, now_ms: Date.now(),
      onPhase: (label) => (in_contacts = label === 'contacts'),
    });
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(rebuilt.outcome).toBe('rebuilt');
    expect(rebuilt.outcome === 'rebuilt' && rebuilt.appended_meanwhile).toBe(bought);
    // What it warns of: the contacts rebuilt before their purchase (from the ledger as it was) lack its award.
    const mismatched = new Set((await reconciled(config)).map((m) => m.split(' ')[0]));
    expect([...mismatched].sort()).toEqual([...second_page_ids].sort());
  }, 60_000);

  it('counts a purchase made meanwhile on a journal that was deleted and made anew (entries-added starting again from 0)', async () => {
    const config = { ...default_config, ...gw.processor.stores.config };
    const buy = async (reference: string, i: number) => {
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: testCard(42_000_000 + i) }, amount: 10_000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
    };
    for (let i = 1; i < n; i += 25) await buy(`fa-${i}`, i);
    await caughtUp();
    const client = stores.redis.client;
    let remade = false;
    const redis = new Proxy(client, {
      get(target, prop) {
        if (prop === 'multi' && !remade) {
          return () => {
            const multi = target.multi();
            const exec = multi.execAsPipeline.bind(multi);
            multi.execAsPipeline = (async () => {
              if (!remade) {
                remade = true;
                // Every journal gone (its writer's group with it); the next purchase's XADD makes its shard's anew.
                for (let s = 0; s < config.shard_count; s++) await target.del(journalKey(s));
                await buy('fa-anew', 3);
              }
              return exec();
            }) as typeof multi.execAsPipeline;
            return multi;
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const rebuilt = await rebuild(redis, stores.sql, config, { force: true, wait_ms: 10_000, now_ms: Date.now() });
    expect(remade).toBe(true);
    expect(rebuilt.outcome).toBe('rebuilt');
    expect(rebuilt.outcome === 'rebuilt' && rebuilt.appended_meanwhile).toBe(1);
    await caughtUp();
  }, 60_000);
});
