// Refusals are journaled for the ledger (processor/refusals.ts), but never past the journal's bound
// (OPERATIONS.md: JOURNAL_LENGTH_MAX): a shard script journals nothing there (lib.lua prologue),
// and neither does a refund or reversal refused before it names a contact, which no script
// guards. Past the bound such a refusal is still remembered in the hot window (its repeat replays).

import { afterAll, beforeAll, expect, it } from 'vitest';
import { configFromEnv } from '../gateway/config.ts';
import { journalKey } from '../processor/hot/keys.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

const journal_length_max = 3;
let own: OwnRedis;
let gw: TestGateway;
let biz: BusinessFixture;

beforeAll(async () => {
  own = await startOwnRedis();
  // One shard, no ledger writer: the journal only grows.
  gw = await startTestGateway({ ledger_writer: false, redis_url: own.url, processor: { ...configFromEnv().processor, shard_count: 1, journal_length_max } });
  biz = await createBusiness(gw);
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
});

it('a refund or reversal of an original not there journals nothing past JOURNAL_LENGTH_MAX, and its repeat still replays', async () => {
  const card = testCard(54_000_001);
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
  const length = async () => Number(await own.client.xLen(journalKey(0)));
  // Below the bound, journaled.
  const first = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: 'jb-1', original_reference: 'jb-none-1' });
  expect(first.body.code).toBe('original_not_found');
  expect(await length()).toBe(1);
  for (let i = 0; await length() < journal_length_max; i++) {
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `jb-p${i}`, cim: { type: 'card', value: card }, amount: 100, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
  }
  for (const [path, body] of [['/v1/refunds', { reference: 'jb-2', original_reference: 'jb-none-2' }], ['/v1/reversals', { reference: 'jb-3', original_reference: 'jb-none-3' }]] as const) {
    const refused = await call(gw, 'POST', path, biz.terminal_key, body);
    expect([refused.status, refused.body.code], path).toEqual([404, 'original_not_found']);
    const again = await call(gw, 'POST', path, biz.terminal_key, body);
    expect([again.status, again.text, again.headers.get('idempotent-replayed')], path).toEqual([404, refused.text, 'true']);
  }
  expect(await length()).toBe(journal_length_max);
});
