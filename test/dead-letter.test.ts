// One journal entry PostgreSQL refuses must not stop the ledger: the writer sets it aside on the
// shard's dead-letter stream and records everything else.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { deadLetterKey, journalKey } from '../processor/hot/keys.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';
import { call, createBusiness, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { addCashbackOffer, connectTestSql, createContacts, shard_count } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

// A Redis of its own: a writer of another file on a shared database would take the bad entry too.
let own: OwnRedis;
let gw: TestGateway;
let redis: RedisClient;
let sql: Sql;

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ ledger_writer: false, redis_url: own.url });
  redis = own.client;
  sql = connectTestSql();
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
  await sql?.end();
});

it('sets aside an entry PostgreSQL refuses and records the rest', async () => {
  const biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
  const contacts = await createContacts(gw, biz, [testCard(31_000_001), testCard(31_000_002)]);
  const ids: string[] = [];
  for (const [i, c] of contacts.entries()) {
    const r = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `dl-${i}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' });
    expect(r.status).toBe(201);
    ids.push(r.body.id);
  }
  // An entry no database would take: a negative amount breaks ledger_transactions' check.
  const bad_id = 'txn_deadletter0000000000';
  const bad = JSON.stringify({ id: bad_id, kind: 'purchase', business_id: biz.business_id, terminal_id: biz.terminal_id, reference: 'dl-bad', contact_id: contacts[0]!.id, amount: -5, currency: 'EUR', created_at: new Date().toISOString(), postings: [] });
  await redis.sendCommand(['XADD', journalKey(0), '*', 'e', bad, 'r', '{}']);

  const set_aside: string[] = [];
  const writer = new LedgerWriter(redis, sql, { shard_count, onDeadLetter: (id) => set_aside.push(id) });
  for (let i = 0; i < 5 && (await writer.drainOnce()) > 0; i++);

  const rows = await sql<{ id: string }[]>`select id from ledger_transactions where business_id = ${biz.business_id} order by id`;
  expect(rows.map((r) => r.id)).toEqual([...ids].sort());
  expect(set_aside).toEqual([bad_id]);
  const dead = (await redis.sendCommand(['XRANGE', deadLetterKey(0), '-', '+'])) as [string, string[]][];
  expect(dead).toHaveLength(1);
  expect(dead[0]![1]).toContain(bad);
  // Nothing is left pending: the ledger goes on.
  const pending = await Promise.all(Array.from({ length: shard_count }, async (_, s) => Number(((await redis.sendCommand(['XPENDING', journalKey(s), 'ledger'])) as [number])[0])));
  expect(pending.every((n) => n === 0)).toBe(true);
});

it('sets aside a refusal PostgreSQL refuses, as it came (field x), and records the good refusal beside it', async () => {
  const biz = await createBusiness(gw);
  const contact = (await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(31_000_003) }] })).body as { id: string; wallet_code: string };
  const refused = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: 'dl-refused', amount: 1_000, currency: 'EUR', wallet_code: contact.wallet_code });
  expect([refused.status, refused.body.code]).toEqual([422, 'insufficient_funds']);
  // A refusal no database would take: no contact (ledger_refusals.contact_id is not null). No
  // terminal no longer does: the processor's own refusals name none, the writer places them
  // under the rewards terminal (processor/ledger/writer.ts refusalColumns).
  const bad_id = 'rfs_deadletter0000000000';
  const bad = JSON.stringify({ id: bad_id, code: 'insufficient_funds', business_id: biz.business_id, terminal_id: 'ter_deadletter', reference: 'dl-bad', request_hash: 'h', created_at: new Date().toISOString() });
  await redis.sendCommand(['XADD', journalKey(1), '*', 'x', bad]);
  const dead_before = ((await redis.sendCommand(['XRANGE', deadLetterKey(1), '-', '+'])) as unknown[]).length;

  const set_aside: string[] = [];
  const writer = new LedgerWriter(redis, sql, { shard_count, onDeadLetter: (id) => set_aside.push(id) });
  for (let i = 0; i < 5 && (await writer.drainOnce()) > 0; i++);

  expect(set_aside).toEqual([bad_id]);
  const kept = await sql<{ reference: string; code: string }[]>`select reference, code from ledger_refusals where business_id = ${biz.business_id}`;
  expect(kept).toEqual([{ reference: 'dl-refused', code: 'insufficient_funds' }]);
  const dead = (await redis.sendCommand(['XRANGE', deadLetterKey(1), '-', '+'])) as [string, string[]][];
  expect(dead).toHaveLength(dead_before + 1);
  const fields = dead.at(-1)![1];
  expect(fields[fields.indexOf('x') + 1]).toBe(bad);
  expect(fields).not.toContain('e');
});
