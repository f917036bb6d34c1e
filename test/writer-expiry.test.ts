// LEDGER_WRITER=off leaves the ledger and award expiry to writers run on their own
// (`npm run ledger-writer`): such a writer expires what is due, through the hot path, into the
// ledger. The gateway and the writer run on a Redis of this test's own.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../core/ids.ts';
import { expiryKey, lotsKey } from '../processor/hot/keys.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { connectTestSql, createContacts, shard_count, spawnWriter, type WriterProcess } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
let url: string;
let redis: RedisClient;
let sql: Sql;
let gw: TestGateway;
let writer: WriterProcess | undefined;

beforeAll(async () => {
  own = await startOwnRedis();
  url = own.url;
  redis = own.client;
  sql = connectTestSql();
  gw = await startTestGateway({ redis_url: url, ledger_writer: false });
});
afterAll(async () => {
  writer?.child.kill('SIGKILL');
  await gw?.close();
  await sql?.end({ timeout: 5 });
  await own?.stop();
});

describe('a ledger writer of its own (LEDGER_WRITER=off)', () => {
  it('expires awards that are due, into the ledger', async () => {
    const biz = await createBusiness(gw);
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'a day', goal: 'spend', kind: 'cashback', award: { fixed: 300 }, validity_days: 1 });
    expect(o.status).toBe(201);
    const [c] = await createContacts(gw, biz, [testCard(16_000_001)]);
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'expiring', cim: { type: 'card', value: c!.card }, amount: 1000, currency: 'EUR' });
    expect(p.body.wallet).toEqual({ open: 0, commerce: 300 });
    // A day later, as far as the lot knows: its expiry moved into the past, in the lots and in
    // the shard's index of expiries.
    const shard = shardOf(c!.id, shard_count);
    const [field] = (await redis.sendCommand(['HKEYS', lotsKey(shard, c!.id)])) as string[];
    const past = String(Date.now() - 60_000).padStart(13, '0');
    await redis.sendCommand(['HDEL', lotsKey(shard, c!.id), field!]);
    await redis.sendCommand(['HSET', lotsKey(shard, c!.id), `${past}|${field!.split('|')[1]}`, '300']);
    await redis.sendCommand(['ZADD', expiryKey(shard), past, c!.id]);

    writer = spawnWriter({ REDIS_URL: url, SHARDS: String(shard_count), CIM_HMAC_KEY: process.env.CIM_HMAC_KEY ?? 'test-hmac-key', EXPIRY_SWEEP_MS: '200' });
    await writer.consumer;
    await eventually('the lot expired', async () => (await call(gw, 'GET', `/v1/contacts/${c!.id}/wallet`, biz.admin_key)).body.commerce === 0, 15_000);
    const rows = await eventually('the expiry in the ledger', async () => {
      const r = await sql<{ kind: string; amount: number }[]>`select kind, amount from ledger_transactions where contact_id = ${c!.id} order by created_at`;
      return r.length === 2 ? r : undefined;
    }, 15_000);
    expect(rows.map((r) => [r.kind, r.amount])).toEqual([['purchase', 1000], ['expiry', 300]]);
  });
});
