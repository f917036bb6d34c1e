// The journal reaches the PostgreSQL ledger exactly once: 500 purchases over 50 contacts are
// each recorded once, their postings balance against the Redis balances, read-back turns to
// `recorded`, the streams are trimmed once acknowledged, and journal entries delivered again are
// not written twice.
//
// The gateway runs on a Redis database of its own (redis_dbs) so that this file's writer is the only consumer of its
// journal streams (other files' in-process writers drain database 0) and stream lengths are ours.

import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalKey } from '../processor/hot/keys.ts';
import type { JournalEntry } from '../processor/journal.ts';
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
  redis_dbs,
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
/** The writer's own connections, with a statement timeout so that a test can make a batch fail. */
let writer_sql: Sql;
let writer: LedgerWriter | undefined;
const writer_errors: unknown[] = [];
/** Every journal entry the writer was given, by transaction id: what the ledger must hold. */
const written = new Map<string, JournalEntry>();

beforeAll(async () => {
  gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_dbs.ledger) });
  redis = await connectTestRedis(redis_dbs.ledger);
  sql = connectTestSql();
  writer_sql = postgres(process.env.DATABASE_URL!, { max: 2, onnotice: () => {}, connection: { statement_timeout: 1_500 } });
});
afterAll(async () => {
  await writer?.stop();
  await redis?.close().catch(() => {});
  await sql?.end({ timeout: 5 });
  await writer_sql?.end({ timeout: 5 });
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

    writer = new LedgerWriter(redis, writer_sql, {
      shard_count,
      read_count_max: 16,
      trim_interval_ms: 100,
      onError: (err) => writer_errors.push(err),
      onBatch: (_entries, _inserted, items) => items.forEach((i) => written.set(JSON.parse(i.entry).id, JSON.parse(i.entry))),
    });
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
    expect(recorded.body.postings).toEqual([
      { debit_account: `${biz.business_id}:rewards:EUR`, credit_account: `${contacts[0]!.id}:commerce:EUR`, amount: 50 },
      // The fixture merchant's 10% contribution fee on the award.
      { debit_account: `${biz.merchant_id}:fees:EUR`, credit_account: `${biz.business_id}:fee_income:EUR`, amount: 5 },
    ]);

    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id), written);

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

    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id), written);
    const postings_after = await ledgerPostings(sql, biz.business_id);
    expect(postings_after.length).toBe(postings_before.length);
    await eventually('journal trimmed', async () => (await streamLengths(redis)).every((n) => n === 0), 10_000);
    expect(writer_errors).toEqual([]);
  });

  // A batch that fails (here: its statement times out waiting on a lock the test holds) is
  // retried by the same writer as soon as the store answers again, not left pending until
  // XAUTOCLAIM takes it after claim_idle_ms (30 s by default).
  it('retries a failed batch at once', async () => {
    expect(contacts).toBeDefined();
    const [late] = await createContacts(gw, biz, [testCard(12_000_900)]);
    const errors_before = writer_errors.length;
    // The purchase is made while the writer is stopped, so that its row can be inserted first.
    await writer!.stop();
    const r = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'late-1', cim: { type: 'card', value: late!.card }, amount: 2000, currency: 'EUR' });
    expect(r.status, r.text).toBe(201);
    const id = r.body.id as string;
    await sql
      .begin(async (tx) => {
        // The transaction's row, inserted first and not committed: the writer's insert of it
        // waits on this transaction until its statement timeout.
        await tx`insert into ledger_transactions (amount, created_at, shard, id, business_id, kind, currency, journal_id)
          values (0, now(), 0, ${id}, ${biz.business_id}, 'purchase', 'EUR', '0-0')`;
        writer!.start();
        await eventually('the batch to fail', async () => writer_errors.length > errors_before, 10_000);
        throw new Error('roll back');
      })
      .catch((err: Error) => {
        if (err.message !== 'roll back') throw err;
      });
    expect(String((writer_errors.at(-1) as Error).message)).toContain('statement timeout');
    const t0 = Date.now();
    await eventually('the failed batch recorded', async () => (await call(gw, 'GET', `/v1/transactions/${id}`, biz.admin_key)).body.ledger === 'recorded', 10_000);
    expect(Date.now() - t0).toBeLessThan(5_000);
    approved.push({ id, reference: 'late-1', awarded: 100 });
    contacts.push(late!);
    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id), written);
    await eventually('nothing pending', async () => (await pendingTotal(redis)) === 0, 5_000);
  });

  // Redis losing its data (or an operator deleting a stream) takes the consumer group with it;
  // the hot path's next XADD makes a new stream without one. A running writer must notice and
  // create the group again, or the ledger silently stops (and purchases later stop too, once the
  // journal reaches its length cap).
  it('keeps writing after the journal streams and their group are lost', async () => {
    expect(contacts).toBeDefined();
    for (let s = 0; s < shard_count; s++) await redis.del(journalKey(s));
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `lost-${i}`, cim: { type: 'card', value: contacts[i]!.card }, amount: 2000, currency: 'EUR' }),
      ),
    );
    const ids = replies.map((r) => {
      expect(r.status, r.text).toBe(201);
      return r.body.id as string;
    });
    await eventually(
      'purchases after the loss recorded',
      async () => {
        const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where id = any(${ids})`;
        return row!.n === ids.length;
      },
      10_000,
    );
    const all = [...approved, ...ids.map((id, i) => ({ id, reference: `lost-${i}`, awarded: 100 }))];
    expect(all).toHaveLength(purchases_total + 1 + 40);
    await expectLedgerMatches(gw, sql, biz, all, contacts.map((c) => c.id), written);
    await eventually('journal trimmed', async () => (await streamLengths(redis)).every((n) => n === 0) && (await pendingTotal(redis)) === 0, 10_000);
  });
});
