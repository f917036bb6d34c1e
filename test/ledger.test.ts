// The journal reaches the PostgreSQL ledger exactly once: 500 purchases over 50 contacts are
// each recorded once, their postings balance against the Redis balances, read-back turns to
// `recorded`, the streams are trimmed once acknowledged, and journal entries delivered again are
// not written twice.
//
// The gateway runs on Redis database 2 so that this file's writer is the only consumer of its
// journal streams (other files' in-process writers drain database 0) and stream lengths are ours.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalKey } from '../processor/hot/keys.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import {
  addCashbackOffer,
  connectTestRedis,
  connectTestSql,
  createContacts,
  expectLedgerMatches,
  inBatches,
  journalEntries,
  ledgerPostings,
  ledgerRows,
  pendingTotal,
  redisUrl,
  shard_count,
  streamLengths,
  type Contact,
  type StreamItem,
} from './ledger-helpers.ts';

const purchases_total = 500;
const contacts_total = 50;

let gw: TestGateway;
let redis: RedisClient;
let sql: Sql;
let writer: LedgerWriter | undefined;
const writer_errors: unknown[] = [];

beforeAll(async () => {
  gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(2) });
  redis = await connectTestRedis(2);
  sql = connectTestSql();
});
afterAll(async () => {
  await writer?.stop();
  await redis?.close().catch(() => {});
  await sql?.end({ timeout: 5 });
  await gw?.close();
});

describe('ledger writer', () => {
  let biz: BusinessFixture;
  let contacts: Contact[];
  let approved: { id: string; reference: string; awarded: number }[];
  let journal: StreamItem[];

  it('records every approved purchase exactly once, balanced, and trims the journal', async () => {
    biz = await createBusiness(gw);
    await addCashbackOffer(gw, biz, 5);
    contacts = await createContacts(gw, biz, Array.from({ length: contacts_total }, (_, i) => testCard(12_000_000 + i)));

    const replies = await inBatches(
      Array.from({ length: purchases_total }, (_, i) => () =>
        call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `L-${i}`, cim: { type: 'card', value: contacts[i % contacts_total]!.card }, amount: 1000 + 7 * i, currency: 'EUR' }),
      ),
      50,
    );
    approved = replies.map((r, i) => {
      expect(r.status).toBe(201);
      expect(r.body.status).toBe('approved');
      return { id: r.body.id as string, reference: `L-${i}`, awarded: Math.floor((1000 + 7 * i) / 20) };
    });
    for (let i = 0; i < purchases_total; i++) expect(replies[i]!.body.awards.map((a: { amount: number }) => a.amount)).toEqual([approved[i]!.awarded]);

    // No writer yet: everything is in the journal, once, and reads back as pending.
    journal = (await journalEntries(redis)).filter((j) => j.entry.business_id === biz.business_id);
    expect(journal.map((j) => j.entry.id).sort()).toEqual(approved.map((a) => a.id).sort());
    expect((await streamLengths(redis)).reduce((a, b) => a + b, 0)).toBe(purchases_total);
    expect(await ledgerRows(sql, biz.business_id)).toHaveLength(0);
    const before = await call(gw, 'GET', `/v1/transactions/${approved[0]!.id}`, biz.admin_key);
    expect(before.status).toBe(200);
    expect(before.body.ledger).toBe('pending');

    writer = new LedgerWriter(redis, sql, { shard_count, read_count_max: 16, trim_interval_ms: 100, onError: (err) => writer_errors.push(err) });
    writer.start();

    // Read back while the writer works: every read finds the transaction (pending or recorded),
    // and every one turns to recorded.
    const unrecorded = new Set(approved.map((a) => a.id));
    await eventually(
      'every transaction recorded',
      async () => {
        const ids = [...unrecorded];
        const reads = await Promise.all(ids.map((id) => call(gw, 'GET', `/v1/transactions/${id}`, biz.admin_key)));
        reads.forEach((r, i) => {
          expect(r.status, `GET /v1/transactions/${ids[i]} while the writer drains: ${r.text}`).toBe(200);
          expect(r.body.id).toBe(ids[i]);
          if (r.body.ledger === 'recorded') unrecorded.delete(ids[i]!);
          else expect(r.body.ledger).toBe('pending');
        });
        return unrecorded.size === 0;
      },
      20_000,
    );
    const recorded = await call(gw, 'GET', `/v1/transactions/${approved[0]!.id}`, biz.admin_key);
    expect(recorded.body).toMatchObject({ id: approved[0]!.id, kind: 'purchase', reference: 'L-0', terminal_id: biz.terminal_id, amount: 1000, ledger: 'recorded' });
    expect(recorded.body.postings).toEqual([{ debit_account: `${biz.business_id}:rewards:EUR`, credit_account: `${contacts[0]!.id}:commerce:EUR`, amount: 50 }]);

    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id));

    // Acknowledged entries are trimmed away: this database's streams hold only this test's entries.
    await eventually('journal trimmed', async () => (await streamLengths(redis)).every((n) => n === 0) && (await pendingTotal(redis)) === 0, 10_000);
    expect(writer_errors).toEqual([]);
  });

  it('does not double entries delivered again', async () => {
    expect(journal).toBeDefined();
    const postings_before = await ledgerPostings(sql, biz.business_id);
    const added_before = writer!.written;

    // The same journal entries appended again, verbatim (new stream ids, same transaction ids):
    // 40 of them twice in a row (likely one batch), and the first 10 once more after that.
    const again = journal.slice(0, 40);
    for (const j of again) {
      for (let k = 0; k < 2; k++) await redis.sendCommand(['XADD', journalKey(j.shard), '*', ...j.fields]);
    }
    await eventually('re-added entries drained', async () => writer!.written >= added_before + 80 && (await pendingTotal(redis)) === 0, 10_000);
    for (const j of again.slice(0, 10)) await redis.sendCommand(['XADD', journalKey(j.shard), '*', ...j.fields]);
    await eventually('re-added entries drained', async () => writer!.written >= added_before + 90 && (await pendingTotal(redis)) === 0, 10_000);

    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id));
    const postings_after = await ledgerPostings(sql, biz.business_id);
    expect(postings_after.length).toBe(postings_before.length);
    await eventually('journal trimmed', async () => (await streamLengths(redis)).every((n) => n === 0), 10_000);
    expect(writer_errors).toEqual([]);
  });
});
