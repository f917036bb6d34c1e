// OPERATIONS.md: `/readyz` answers 200 exactly when the POS path can approve, and a rebuild
// reloads a Redis that lost its data. A rebuild marked the network loaded as soon as it had copied
// it, before any contact: a gateway on that Redis answered 200 and its tills' contacts 404
// contact_not_found (final, where a till would retry a 503), during every rebuild and, after one
// killed there, until someone ran `rebuild --force` (a black-box probe, 2026-12-05). Now the POS
// path waits ('loading') until all is loaded, and a rebuild killed is finished by the next, unforced.
// The kills are failures thrown at a phase (the contacts', after the network's copy; the
// references', after the contacts'): what a SIGKILL there leaves in Redis (the rebuild's lock goes
// with its session either way: rebuild.test.ts). One key marks both states (network_loaded_key),
// so that no pair of writes can be cut in between (a review).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalMarks, waitForLedger } from '../processor/ledger/caught-up.ts';
import { rebuild } from '../processor/ledger/rebuild.ts';
import { network_loaded_key } from '../processor/network-layout.ts';
import { loadNetworkIntoRedis } from '../processor/network-load.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;
const card = testCard(928_001);
let seq = 0;

const buy = (g: TestGateway) => call(g, 'POST', '/v1/purchases', biz.terminal_key, { reference: `ri-${++seq}`, cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' });

beforeAll(async () => {
  stores = await startOwnStores('rebuild_interrupted');
  gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
  expect((await buy(gw)).body.wallet).toEqual({ open: 0, commerce: 100 });
  const redis = gw.processor.stores.redis;
  expect(await waitForLedger(redis, await journalMarks(redis, gw.processor.stores.config.shard_count), 10_000)).toBe(true);
});
afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

describe('a rebuild killed after the network’s copy', () => {
  it('leaves the POS path waiting (503 loading, not 404), even for a gateway started then; the next rebuild, unforced, finishes it, contacts written or not', async () => {
    const config = gw.processor.stores.config;
    await stores.redis.client.flushAll();
    await eventually('the gateway sees Redis emptied', async () => (await call(gw, 'GET', '/readyz', undefined)).body.redis === 'loading');
    const killedAt = (phase: string) =>
      rebuild(stores.redis.client, stores.sql, config, {
        force: false,
        wait_ms: 10_000,
        now_ms: Date.now(),
        onPhase: (label) => {
          if (label === phase) throw new Error(`killed at the ${phase}`);
        },
      }).then(
        () => 'not killed',
        (err: unknown) => (err as Error).message,
      );
    expect(await killedAt('contacts')).toBe('killed at the contacts');

    const waiting = async (g: TestGateway) => {
      const ready = await call(g, 'GET', '/readyz', undefined);
      expect([ready.status, ready.body.redis]).toEqual([503, 'loading']);
      const p = await buy(g);
      expect([p.status, p.body.code], p.text).toEqual([503, 'unavailable']);
    };
    await waiting(gw);
    // A gateway started on it now does not take it as loaded either (it copied the network and
    // marked it loaded when it found no mark).
    const late = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
    try {
      await waiting(late);
    } finally {
      await late.close();
    }

    // A network copy finished after a rebuild's mark (a gateway that began copying before the
    // rebuild did) leaves the mark: it marks only where nothing is marked.
    await loadNetworkIntoRedis({ redis: stores.redis.client, sql: stores.sql });
    expect(await stores.redis.client.get(network_loaded_key)).toMatch(/^rebuilding:/);

    // Killed again, with the contacts written: Pocketgate data, yet its mark says unfinished, so
    // the next rebuild loads it all again without --force.
    expect(await killedAt('references')).toBe('killed at the references');
    await waiting(gw);
    const again = await rebuild(stores.redis.client, stores.sql, config, { force: false, wait_ms: 10_000, now_ms: Date.now() });
    expect(again.outcome).toBe('rebuilt');
    await eventually('the gateway serves again', async () => (await call(gw, 'GET', '/readyz', undefined)).status === 200);
    const p = await buy(gw);
    expect([p.status, p.body.wallet], p.text).toEqual([201, { open: 0, commerce: 200 }]);
    // Loaded once: a third rebuild finds Pocketgate data and no unfinished one's mark.
    expect((await rebuild(stores.redis.client, stores.sql, config, { force: false, wait_ms: 10_000, now_ms: Date.now() })).outcome).toBe('refused');
  }, 60_000);
});
