// DURABILITY=sync: a transaction is in the PostgreSQL ledger by the time its reply arrives, with
// no ledger writer running; the writer later finds it there and records nothing twice. In async
// mode (the default) the reply does not wait for PostgreSQL.
//
// The gateways run on Redis database 7, which no other test file uses, so that this file's
// writer is the only consumer of these journal streams.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../gateway/config.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, connectTestRedis, connectTestSql, createContacts, journalEntries, ledgerPostings, ledgerRows, redisUrl, shard_count, type Contact } from './ledger-helpers.ts';

const redis_db = 7;

let sync_gw: TestGateway;
let async_gw: TestGateway;
let redis: RedisClient;
let sql: Sql;

beforeAll(async () => {
  process.env.PLATFORM_API_KEY ??= 'pk_test_platform_key';
  process.env.CIM_HMAC_KEY ??= 'test-hmac-key';
  const base = configFromEnv();
  sync_gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_db), processor: { ...base.processor, durability: 'sync' } });
  async_gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_db), processor: { ...base.processor, durability: 'async' } });
  redis = await connectTestRedis(redis_db);
  sql = connectTestSql();
});
afterAll(async () => {
  await redis?.close().catch(() => {});
  await sql?.end({ timeout: 5 });
  await sync_gw?.close();
  await async_gw?.close();
});

describe('DURABILITY=sync', () => {
  let biz: BusinessFixture;
  let contacts: Contact[];

  it('replies to a purchase only once it is in ledger_transactions, with its postings and journal id', async () => {
    biz = await createBusiness(sync_gw);
    await addCashbackOffer(sync_gw, biz, 5);
    contacts = await createContacts(sync_gw, biz, [testCard(17_000_001), testCard(17_000_002)]);

    const r = await call(sync_gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'D-1', cim: { type: 'card', value: contacts[0]!.card }, amount: 2000, currency: 'EUR' });
    expect(r.status).toBe(201);
    expect(r.body.status).toBe('approved');
    // No writer runs anywhere on this database: only the sync path can have put it there.
    const rows = await ledgerRows(sql, biz.business_id);
    expect(rows.map((x) => [x.id, x.reference, x.kind])).toEqual([[r.body.id, 'D-1', 'purchase']]);
    const postings = await ledgerPostings(sql, biz.business_id);
    expect(postings.length).toBeGreaterThan(0);
    expect(postings.every((p) => p.transaction_id === r.body.id)).toBe(true);
    // The journal id is the stream entry's, as the writer would have stored it (statements order by it).
    const [stored] = await sql<{ shard: number; journal_id: string; reply: unknown }[]>`select shard, journal_id, reply from ledger_transactions where id = ${r.body.id as string}`;
    const entry = (await journalEntries(redis)).find((j) => j.entry.id === r.body.id);
    expect([stored!.shard, stored!.journal_id]).toEqual([entry!.shard, entry!.stream_id]);
    expect(stored!.reply).toEqual(JSON.parse(r.text));

    const statement = await call(sync_gw, 'GET', `/v1/contacts/${contacts[0]!.id}/statement`, biz.admin_key);
    expect(statement.status).toBe(200);
    expect(statement.body.lines.map((l: { transaction_id: string }) => l.transaction_id)).toEqual([r.body.id]);

    // A replay answers the same and records nothing more.
    const again = await call(sync_gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'D-1', cim: { type: 'card', value: contacts[0]!.card }, amount: 2000, currency: 'EUR' });
    expect(again.text).toBe(r.text);
    expect(await ledgerRows(sql, biz.business_id)).toHaveLength(1);
  });

  it('an async-mode reply does not wait for PostgreSQL; the writer then records both, once each', async () => {
    const r = await call(async_gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'D-2', cim: { type: 'card', value: contacts[1]!.card }, amount: 3000, currency: 'EUR' });
    expect(r.status).toBe(201);
    expect((await ledgerRows(sql, biz.business_id)).map((x) => x.reference).sort()).toEqual(['D-1']);
    const postings_before = (await ledgerPostings(sql, biz.business_id)).length;

    // The writer reads both entries from the journal: D-1 is already recorded and skipped.
    let inserted = 0;
    const writer = new LedgerWriter(redis, sql, { shard_count, onBatch: (_entries, n) => (inserted += n) });
    for (let round = 0; round < 3; round++) await writer.drainOnce();
    expect(inserted).toBe(1);
    const rows = await ledgerRows(sql, biz.business_id);
    expect(rows.map((x) => x.reference).sort()).toEqual(['D-1', 'D-2']);
    const postings = await ledgerPostings(sql, biz.business_id);
    // D-1's postings were not written a second time.
    expect(postings.filter((p) => p.transaction_id !== r.body.id)).toHaveLength(postings_before);
  });
});
