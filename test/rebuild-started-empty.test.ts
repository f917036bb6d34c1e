// OPERATIONS.md: `npm run rebuild` is "for a Redis that lost its data (a new, empty instance)",
// "refuses to run when Redis already holds Pocketgate data", and afterwards "every reply of the
// window replays unchanged". A gateway started on such a Redis before the rebuild copied the
// network (the keys work) but not the contacts: it answered a till's known customers 404
// contact_not_found, kept that refusal under the reference (its replay 404 too), counted wrong
// guesses, and those writes then made `npm run rebuild` refuse without --force (a black-box probe,
// 2026-12-05). Now each business with contacts in PostgreSQL is marked at that start and answers
// 503 `unavailable`, writing nothing, until the rebuild has loaded it; a business made meanwhile is
// whole and serves.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalMarks, waitForLedger } from '../processor/ledger/caught-up.ts';
import { rebuild } from '../processor/ledger/rebuild.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway | undefined;
let biz: BusinessFixture;
const card = testCard(929_001);
const first = { reference: 'rse-1', cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' };
let first_reply: string;

beforeAll(async () => {
  stores = await startOwnStores('rebuild_started_empty');
  gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, first);
  expect([p.status, p.body.wallet], p.text).toEqual([201, { open: 0, commerce: 100 }]);
  first_reply = p.text;
  const redis = gw.processor.stores.redis;
  expect(await waitForLedger(redis, await journalMarks(redis, gw.processor.stores.config.shard_count), 10_000)).toBe(true);
  await gw.close();
  gw = undefined;
});
afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

describe('a gateway started on a Redis that lost its data, before the rebuild', () => {
  it('answers the business 503 (POS and admin), writes nothing, and lets the rebuild run unforced', async () => {
    await stores.redis.client.flushAll();
    gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
    const ready = await call(gw, 'GET', '/readyz', undefined);
    expect(ready.status, ready.text).toBe(200);
    // /readyz says Redis takes writes; the log says what the operator must run.
    const warned = gw.logs.map((l) => JSON.parse(l) as { level: number; msg: string; businesses?: number }).find((l) => l.msg.includes('npm run rebuild'));
    expect([warned?.level, warned?.businesses], gw.logs.join('')).toEqual([40, 1]);

    // The till's repeat of an approved purchase, a new one, a wallet look-up, a spend by wallet
    // code (a guess), and the admin's calls: 503, not 404, and no refusal kept.
    const repeat = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, first);
    expect([repeat.status, repeat.body.code], repeat.text).toEqual([503, 'unavailable']);
    const fresh = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...first, reference: 'rse-2' });
    expect([fresh.status, fresh.body.code], fresh.text).toEqual([503, 'unavailable']);
    const wallet = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, biz.terminal_key);
    expect([wallet.status, wallet.body.code], wallet.text).toEqual([503, 'unavailable']);
    const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: 'rse-s', amount: 1, currency: 'EUR', wallet_code: '4000000000000002' });
    expect([spend.status, spend.body.code], spend.text).toEqual([503, 'unavailable']);
    const admin = await call(gw, 'GET', '/v1/offers', biz.admin_key);
    expect([admin.status, admin.body.code], admin.text).toEqual([503, 'unavailable']);
    const acting = await call(gw, 'POST', '/v1/purchases', biz.admin_key, { ...first, reference: 'rse-a' }, { 'pocketgate-terminal': biz.terminal_id });
    expect([acting.status, acting.body.code], acting.text).toEqual([503, 'unavailable']);

    // Nothing the refusals did stops the rebuild, unforced.
    const rebuilt = await rebuild(stores.redis.client, stores.sql, gw.processor.stores.config, { force: false, wait_ms: 10_000, now_ms: Date.now() });
    expect(rebuilt.outcome).toBe('rebuilt');
    // Within the network cache's life (5 s), the business serves again: its reply replays unchanged.
    const replayed = await eventually('the business served again', async () => {
      const r = await call(gw!, 'POST', '/v1/purchases', biz.terminal_key, first);
      return r.status === 201 ? r : undefined;
    });
    expect([replayed.text, replayed.headers.get('idempotent-replayed')]).toEqual([first_reply, 'true']);
    const next = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...first, reference: 'rse-2' });
    expect([next.status, next.body.wallet], next.text).toEqual([201, { open: 0, commerce: 200 }]);
    await eventually('the admin key served again', async () => (await call(gw!, 'GET', '/v1/offers', biz.admin_key)).status === 200);
  }, 90_000);

  it('serves a business made meanwhile at once; the rebuild, forced over its data, makes the other whole', async () => {
    const redis = gw!.processor.stores.redis;
    expect(await waitForLedger(redis, await journalMarks(redis, gw!.processor.stores.config.shard_count), 10_000)).toBe(true);
    await gw!.close();
    gw = undefined;
    await stores.redis.client.flushAll();
    gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...first, reference: 'rse-3' })).status).toBe(503);
    const other = await createBusiness(gw);
    const other_card = testCard(929_002);
    expect((await call(gw, 'POST', '/v1/contacts', other.admin_key, { cims: [{ type: 'card', value: other_card }] })).status).toBe(201);
    const bought = await call(gw, 'POST', '/v1/purchases', other.terminal_key, { ...first, cim: { type: 'card', value: other_card } });
    expect(bought.status, bought.text).toBe(201);
    // Its data is Pocketgate data: unforced, the rebuild refuses; forced, it loads both as the ledger holds them.
    const config = gw.processor.stores.config;
    expect((await rebuild(stores.redis.client, stores.sql, config, { force: false, wait_ms: 10_000, now_ms: Date.now() })).outcome).toBe('refused');
    expect((await rebuild(stores.redis.client, stores.sql, config, { force: true, wait_ms: 10_000, now_ms: Date.now() })).outcome).toBe('rebuilt');
    const back = await eventually('the business served again', async () => {
      const r = await call(gw!, 'POST', '/v1/purchases', biz.terminal_key, { ...first, reference: 'rse-3' });
      return r.status === 201 ? r : undefined;
    });
    expect(back.body.wallet).toEqual({ open: 0, commerce: 300 });
    const again = await call(gw, 'POST', '/v1/purchases', other.terminal_key, { ...first, cim: { type: 'card', value: other_card } });
    expect([again.status, again.text, again.headers.get('idempotent-replayed')]).toEqual([201, bought.text, 'true']);
  }, 90_000);

  it('marks nothing when Redis holds contacts’ data without the network’s mark (an upgrade from when the network lived in PostgreSQL alone): it serves', async () => {
    await gw!.close();
    gw = undefined;
    await stores.redis.client.del('n:loaded');
    gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...first, reference: 'rse-4' });
    expect([p.status, p.body.wallet], p.text).toEqual([201, { open: 0, commerce: 400 }]);
    expect((await call(gw, 'GET', '/v1/offers', biz.admin_key)).status).toBe(200);
  }, 60_000);
});
