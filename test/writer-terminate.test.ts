// The ledger writer while its PostgreSQL backends are terminated again and again: the whole
// LedgerWriter (processor/ledger/writer.ts), constructed as kill-writer.test.ts does, on the real
// test Redis and PostgreSQL. Its connections (and only its) are terminated every 200 ms for 4 s
// while terminals keep buying (the POS path needs only Redis). The writer must keep running (the
// process too: postgres.js 3.4.9 unpatched throws from a setImmediate here, patches/README.md),
// and once the terminations stop it must catch up by itself, every purchase in the ledger exactly
// once, with its postings, and every balance as Redis has it.
//
// The gateway and the writer use a Redis database of their own (redis_dbs), which no other test file uses.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWriter, statement_entries_max } from '../processor/ledger/writer.ts';
import { connectPostgres, type RedisClient, type Sql } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, cardPurchases, connectTestRedis, connectTestSql, createContacts, expectLedgerMatches, journalOf, pendingTotal, redis_dbs, redisUrl, shard_count, type Contact } from './ledger-helpers.ts';

const redis_db = redis_dbs.writer_terminate;
/** The writer's connections carry this name, so that the test terminates theirs and no others. */
const app = `pocketgate-writer-terminate-${process.pid}`;
/** What a batch may fail with when its backend is terminated: the connection is gone, nothing else. */
const connection_lost = new Set(['CONNECTION_CLOSED', 'ECONNRESET', 'EPIPE', '57P01']);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let gw: TestGateway;
let redis: RedisClient;
let sql: Sql;
let writer_sql: Sql;
let writer: LedgerWriter | undefined;

beforeAll(async () => {
  gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_db) });
  redis = await connectTestRedis(redis_db);
  sql = connectTestSql();
  const url = new URL(process.env.DATABASE_URL!);
  url.searchParams.set('application_name', app);
  // As writer-main.ts connects: 4 connections.
  writer_sql = connectPostgres(url.toString(), 4);
});
afterAll(async () => {
  await writer?.stop();
  await redis?.close().catch(() => {});
  await writer_sql?.end({ timeout: 5 });
  await sql?.end({ timeout: 5 });
  await gw?.close();
});

function purchases(biz: BusinessFixture, contacts: Contact[], n: number, prefix: string) {
  return cardPurchases(gw, biz, contacts, n, prefix);
}

async function recorded(business_id: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int4 as n from ledger_transactions where business_id = ${business_id}`;
  return row!.n;
}

describe('the ledger writer when its PostgreSQL backends are terminated', () => {
  it('keeps running through terminations every 200 ms, then catches up: every purchase exactly once', async () => {
    const biz = await createBusiness(gw);
    await addCashbackOffer(gw, biz, 5);
    const contacts = await createContacts(gw, biz, Array.from({ length: 30 }, (_, i) => testCard(14_000_000 + i)));
    // A backlog, so that the first rounds are batches of many statements in one sql.begin
    // (16 shards × 32 entries a round: up to 512 entries, 2 statements).
    const approved = await purchases(biz, contacts, 1_200, 'B');
    // The entries the writer is given: the backlog now (its first round trims what it wrote),
    // what comes later at the end (no trim after the first round).
    const journal = await journalOf(redis, biz.business_id);
    const given = async () => new Map([...journal, ...(await journalOf(redis, biz.business_id))]);

    const batches: number[] = [];
    const errors = new Map<string, number>();
    writer = new LedgerWriter(redis, writer_sql, {
      shard_count,
      consumer: 'writer-terminate',
      // Batches of up to 32 × 16 shards: past statement_entries_max, several statements in one
      // transaction (sql.begin), where the connection dropping killed the process.
      read_count_max: 32,
      // The streams keep what the writer acknowledged (no trim) for the check below: the entries
      // the writer was given, which the ledger must hold exactly.
      trim_interval_ms: 3_600_000,
      onError: (err) => {
        const code = (err as { code?: unknown } | null)?.code;
        const key = typeof code === 'string' ? code : String(err);
        errors.set(key, (errors.get(key) ?? 0) + 1);
      },
      onBatch: (entries) => batches.push(entries),
    });
    writer.start();

    // 4 s of terminations every 200 ms, while terminals go on buying.
    const storm_end = Date.now() + 4_000;
    let terminated = 0;
    const killer = (async () => {
      while (Date.now() < storm_end) {
        const [row] = await sql<{ n: number }[]>`select count(pg_terminate_backend(pid))::int4 as n from pg_stat_activity where application_name = ${app}`;
        terminated += row!.n;
        await sleep(200);
      }
    })();
    for (let round = 0; Date.now() < storm_end; round++) approved.push(...(await purchases(biz, contacts, 50, `S${round}`)));
    await killer;
    const during = { terminated, batches: batches.length, errors: Object.fromEntries(errors) };

    // The storm hit the writer: its connections were terminated and batches failed because of it,
    // with errors that say so and nothing else.
    expect(terminated, JSON.stringify(during)).toBeGreaterThan(5);
    expect(errors.size, JSON.stringify(during)).toBeGreaterThan(0);
    for (const code of errors.keys()) expect(connection_lost, `${code} in ${JSON.stringify(during)}`).toContain(code);

    // It catches up by itself (bounded: postgres.js may back off up to 20 s before reconnecting).
    await eventually('every purchase recorded and nothing pending', async () => (await recorded(biz.business_id)) === approved.length && (await pendingTotal(redis)) === 0, 60_000);
    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id), await given());
    // What it acknowledged is what it wrote: no entry written twice, none skipped. And it wrote
    // batches of several statements in one transaction (sql.begin, where a dropped connection
    // killed the process): during the storm if the machine is quick enough for one to get through
    // between two terminations, else the backlog's first after it.
    expect(writer.written).toBe(approved.length);
    expect(batches.some((n) => n > statement_entries_max), JSON.stringify(batches)).toBe(true);

    // And it is still running: a purchase made now reaches the ledger too.
    approved.push(...(await purchases(biz, contacts, 1, 'after')));
    await eventually('the purchase after the storm recorded', async () => (await recorded(biz.business_id)) === approved.length && (await pendingTotal(redis)) === 0, 30_000);
    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id), await given());
  }, 180_000);
});
