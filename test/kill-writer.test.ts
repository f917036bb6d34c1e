// Crashes of the ledger writer lose nothing and double nothing.
//
// 1. A writer process holding a batch (LEDGER_COMMIT_DELAY_MS) is SIGKILLed mid-batch: whatever
//    it committed is whole batches only, and a second writer process claims what it left pending
//    (XAUTOCLAIM after LEDGER_CLAIM_IDLE_MS) and records every purchase exactly once.
// 2. A writer that committed but whose XACK never happened (crash between COMMIT and XACK). This
//    is reproduced with the real LedgerWriter over the real Redis client, except that its
//    acknowledgement commands (XACK, and the DEL of the pending read-back records that goes with
//    it) are dropped on the floor, exactly as if the process had died right after COMMIT. The
//    test checks that the state is what such a crash leaves (rows committed, entries still
//    pending for the dead consumer), then a writer process claims and re-delivers the entries:
//    no duplicate rows or postings.
//
// Gateway and writers use a Redis database of their own (redis_dbs), which no other test file's writer drains.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journal_group, journalKey } from '../processor/hot/keys.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import {
  addCashbackOffer,
  cardPurchases,
  connectTestRedis,
  connectTestSql,
  createContacts,
  expectLedgerMatches,
  journalOf,
  killWriter,
  pendingByConsumer,
  pendingTotal,
  redis_dbs,
  redisUrl,
  shard_count,
  spawnWriter,
  type Contact,
  type WriterProcess,
} from './ledger-helpers.ts';

const redis_db = redis_dbs.kill_writer;
let gw: TestGateway;
let redis: RedisClient;
let sql: Sql;
const writers: WriterProcess[] = [];

function startWriter(env: Record<string, string>): WriterProcess {
  const w = spawnWriter({ REDIS_URL: redisUrl(redis_db), SHARDS: String(shard_count), LEDGER_CLAIM_IDLE_MS: '500', ...env });
  writers.push(w);
  return w;
}

beforeAll(async () => {
  gw = await startTestGateway({ ledger_writer: false, redis_url: redisUrl(redis_db) });
  redis = await connectTestRedis(redis_db);
  sql = connectTestSql();
});
afterAll(async () => {
  // Every writer process we started goes, whatever happened to the test.
  await Promise.all(writers.map((w) => killWriter(w, 'SIGKILL')));
  await redis?.close().catch(() => {});
  await sql?.end({ timeout: 5 });
  await gw?.close();
});

function purchases(biz: BusinessFixture, contacts: Contact[], n: number, prefix: string) {
  return cardPurchases(gw, biz, contacts, n, prefix);
}

/** Stream entries (shard:stream id) pending for one consumer. */
async function pendingOf(consumer: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (let shard = 0; shard < shard_count; shard++) {
    const rows = (await redis.sendCommand(['XPENDING', journalKey(shard), journal_group, '-', '+', '100000', consumer])) as [string, string, number, number][];
    for (const [id] of rows) out.add(`${shard}:${id}`);
  }
  return out;
}

/** Committed rows of a business, by the stream entry they came from. */
async function committed(business_id: string): Promise<Map<string, string>> {
  const rows = await sql<{ id: string; shard: number; journal_id: string }[]>`select id, shard, journal_id from ledger_transactions where business_id = ${business_id}`;
  return new Map(rows.map((r) => [`${r.shard}:${r.journal_id}`, r.id]));
}

async function newBusiness(seed: number, n: number) {
  const biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
  const contacts = await createContacts(gw, biz, Array.from({ length: n }, (_, i) => testCard(seed + i)));
  return { biz, contacts };
}

describe('killing the ledger writer', () => {
  it('SIGKILL mid-batch: only whole batches are committed, and a second writer records everything exactly once', async () => {
    const { biz, contacts } = await newBusiness(13_000_000, 30);
    const approved = await purchases(biz, contacts, 300, 'K');
    const journal = await journalOf(redis, biz.business_id);

    // Small batches (at most 16 shards × 8 entries), each held 1 s before its commit: the writer
    // commits a batch or two while we watch, and is killed while holding the next.
    const first = startWriter({ LEDGER_READ_COUNT: '8', LEDGER_COMMIT_DELAY_MS: '1000' });
    const consumer = await first.consumer;
    await eventually(
      'the first writer to hold a batch after committing one',
      async () => (await committed(biz.business_id)).size > 0 && ((await pendingByConsumer(redis)).get(consumer) ?? 0) > 0,
      15_000,
    );
    await killWriter(first, 'SIGKILL');
    expect(first.child.signalCode).toBe('SIGKILL');

    // The batch in hand when it died is exactly what is pending for it: all of it committed (died
    // between COMMIT and XACK) or none of it (died before COMMIT), never part. Everything it
    // acknowledged is committed.
    const in_hand = await pendingOf(consumer);
    const rows = await committed(biz.business_id);
    expect(in_hand.size).toBeGreaterThan(0);
    // A round takes at most 8 per shard, new and claimed (XAUTOCLAIM) together.
    expect(in_hand.size).toBeLessThanOrEqual(shard_count * 8);
    const in_hand_committed = [...in_hand].filter((k) => rows.has(k)).length;
    expect([0, in_hand.size]).toContain(in_hand_committed);
    expect(rows.size - in_hand_committed).toBeGreaterThan(0); // at least one whole batch before it
    expect(rows.size).toBeLessThan(approved.length);
    // Every row committed so far is either acknowledged or part of the batch in hand; nothing else
    // is pending anywhere.
    expect(await pendingTotal(redis)).toBe(in_hand.size);

    // A second writer, no delay: claims the dead writer's entries once idle for 500 ms.
    const second = startWriter({});
    await second.consumer;
    await eventually(
      'every purchase recorded and nothing pending',
      async () => (await committed(biz.business_id)).size === approved.length && (await pendingTotal(redis)) === 0,
      15_000,
    );
    expect((await pendingOf(consumer)).size).toBe(0);
    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id), journal);

    // Everything is in; no more entries can come, so the second writer may go.
    await killWriter(second, 'SIGTERM');
    expect(second.child.exitCode).toBe(0);
    // Still exactly once after the second writer had time for more claim rounds.
    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id), journal);
  });

  it('died after COMMIT, before XACK: the entries are delivered again and not doubled', async () => {
    const { biz, contacts } = await newBusiness(13_100_000, 20);
    const approved = await purchases(biz, contacts, 200, 'A');
    const journal = await journalOf(redis, biz.business_id);

    // The real writer, whose acknowledgements are lost (see the top of this file).
    const lossy = new Proxy(redis, {
      get(target, prop) {
        if (prop === 'sendCommand') {
          return (args: string[]) => (args[0] === 'XACK' || args[0] === 'DEL' ? Promise.resolve(0) : target.sendCommand(args));
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const crashed = new LedgerWriter(lossy, sql, { shard_count, consumer: 'crashed-after-commit', claim_idle_ms: 600_000 });
    let drained = 0;
    while (drained < approved.length) {
      const n = await crashed.drainOnce();
      expect(n).toBeGreaterThan(0);
      drained += n;
    }
    // The state a crash between COMMIT and XACK leaves: all committed, all still pending for it.
    expect((await committed(biz.business_id)).size).toBe(approved.length);
    expect((await pendingOf(crashed.consumer)).size).toBe(approved.length);
    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id), journal);

    const redelivering = startWriter({});
    await redelivering.consumer;
    await eventually('the dead consumer\'s entries claimed and acknowledged', async () => (await pendingTotal(redis)) === 0, 15_000);
    // It really re-delivered them (the log counts entries per batch; none inserted anything).
    // The writer logs a batch after its XACK, and the line crosses a pipe: wait for it.
    const batches = () =>
      redelivering.output.flatMap((l) => {
        try {
          const j = JSON.parse(l) as { msg?: string; entries?: number; inserted?: number };
          return j.msg === 'batch written' ? [j] : [];
        } catch {
          return [];
        }
      });
    const logged = () => batches().reduce((s, b) => s + b.entries!, 0);
    await eventually('the re-delivered batches logged', async () => logged() >= approved.length, 5_000);
    expect(logged()).toBe(approved.length);
    expect(batches().reduce((s, b) => s + b.inserted!, 0)).toBe(0);
    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id), journal);
    // The read-back records the lost DELs left behind are cleaned up by the second delivery.
    const records: string[] = [];
    for await (const keys of redis.scanIterator({ MATCH: 'x:*', COUNT: 1000 })) records.push(...keys);
    expect(records).toEqual([]);
    const t = await call(gw, 'GET', `/v1/transactions/${approved[0]!.id}`, biz.admin_key);
    expect(t.body.ledger).toBe('recorded');
    await killWriter(redelivering, 'SIGTERM');
  });
});
