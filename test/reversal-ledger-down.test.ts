// A purchase reversed while PostgreSQL is down, after the ledger recorded it (its journal entry
// gone): API.md "voids an earlier purchase ... entirely, as if it never happened", and
// OPERATIONS.md "PostgreSQL unreachable: the POS path goes on approving". The reversal is approved
// at once (the money, the purchase itself); what the purchase counted (a per-contact cap, here
// once for life) is given back once PostgreSQL answers (processor/deferred-undos.ts), as rebuild
// would make it from the ledger: the contact's next purchase is awarded again.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { shardOf } from '../core/ids.ts';
import { deferredUndosKey, transactionKey } from '../processor/hot/keys.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { shard_count } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';
import { startPgProxy, type PgProxy } from './pg-proxy.ts';

let own: OwnRedis;
let proxy: PgProxy;
let gw: TestGateway;

beforeAll(async () => {
  own = await startOwnRedis();
  proxy = await startPgProxy('forward');
  gw = await startTestGateway({ redis_url: own.url, database_url: proxy.url });
});
afterAll(async () => {
  await gw?.close();
  await proxy?.close();
  await own?.stop();
});

it('a purchase reversed with PostgreSQL down frees its per-contact cap, as if it never happened', async () => {
  const biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'once', goal: 'spend', award: { fixed: 100 }, limits: { per_contact: { count: 1, period: 'lifetime' } } });
  expect(o.status, o.text).toBe(201);
  const card = testCard(91_000_001);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  const buy = (reference: string) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });

  const first = await buy('rld-1');
  expect(first.status, first.text).toBe(201);
  expect(first.body.awards).toHaveLength(1);
  // Recorded: the journal's pointer to it is gone, only the ledger has what it counted.
  const shard = shardOf(c.body.id, shard_count);
  await eventually('the purchase in the ledger', async () => (await own.client.get(transactionKey(shard, first.body.id))) === null);

  await proxy.set('refuse');
  const reversal = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'rld-rev', original_reference: 'rld-1' });
  expect(reversal.status, reversal.text).toBe(201);
  expect(reversal.body.wallet).toEqual({ open: 0, commerce: 0 });
  // Its cap is still counted while the ledger cannot say what the purchase counted.
  const meanwhile = await buy('rld-2');
  expect(meanwhile.status, meanwhile.text).toBe(201);
  expect(meanwhile.body.awards).toHaveLength(0);
  const replayed = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'rld-rev', original_reference: 'rld-1' });
  expect([replayed.status, replayed.headers.get('idempotent-replayed')], replayed.text).toEqual([201, 'true']);

  await proxy.set('forward');
  await eventually('the cap given back once PostgreSQL answers', async () => (await own.client.hLen(deferredUndosKey(shard))) === 0, 15_000);
  const after = await buy('rld-3');
  expect(after.status, after.text).toBe(201);
  expect(after.body.awards).toHaveLength(1);
}, 30_000);
