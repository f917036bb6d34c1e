// The ledger writer when Redis ran its read but the answer never reached it: the connection died
// under the reply (the store failure matrix's "Redis unreachable" round, CI 2026-12-02: two
// entries out of the ledger for 30 s). Redis delivered the entries to the writer's consumer, so
// they are pending there, on a consumer that is alive: no takeover returns them, and the idle
// claim only after claim_idle_ms. The writer must write them as soon as Redis answers again.
//
// Redis of its own, the writer's connection through a proxy that drops Redis's answers and then
// cuts; the gateway's own connection is direct, so purchases go on meanwhile.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetterKey, journalKey, journal_group } from '../processor/hot/keys.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import { createRedis, type RedisClient, type Sql } from '../processor/stores.ts';
import { createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { cardPurchases, connectTestSql, createContacts, shard_count } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';
import { StoreCut } from './store-cut.ts';

let own: OwnRedis;
let cut: StoreCut;
let gw: TestGateway;
let writer_redis: RedisClient;
let sql: Sql;
let writer: LedgerWriter | undefined;

beforeAll(async () => {
  own = await startOwnRedis();
  cut = new StoreCut(new URL(own.url));
  await cut.open();
  gw = await startTestGateway({ ledger_writer: false, redis_url: own.url });
  writer_redis = createRedis(cut.url());
  await writer_redis.connect();
  sql = connectTestSql();
});
afterAll(async () => {
  await writer?.stop();
  await writer_redis?.close().catch(() => {});
  await cut?.cut();
  await sql?.end({ timeout: 5 });
  await gw?.close();
  await own?.stop();
});

/** Entries pending on `consumer`, over every shard. */
async function pendingOn(consumer: string): Promise<number> {
  let n = 0;
  for (let s = 0; s < shard_count; s++) {
    const reply = (await own.client.sendCommand(['XPENDING', journalKey(s), journal_group, '-', '+', '1000', consumer])) as unknown[];
    n += reply.length;
  }
  return n;
}

async function recorded(ids: readonly string[]): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select count(*)::int4 as n from ledger_transactions where id = any(${ids as string[]})`;
  return row!.n;
}

describe('the ledger writer, the answer to its read lost with its connection', () => {
  it('writes the entries Redis delivered to it as soon as Redis answers again, not claim_idle_ms later', async () => {
    const biz = await createBusiness(gw);
    const contacts = await createContacts(gw, biz, Array.from({ length: 5 }, (_, i) => testCard(45_000_000 + i)));
    // A lease that cannot run out meanwhile: a takeover of the entries would hide what is tested.
    writer = new LedgerWriter(writer_redis, sql, { shard_count, consumer: 'lost-reply', claim_idle_ms: 600_000, lease_ms: 120_000 });
    // Rounds run one at a time here, so that the read whose answer is lost is one that finds entries.
    const first = await cardPurchases(gw, biz, contacts, 3, 'before');
    while ((await recorded(first.map((p) => p.id))) < first.length) await writer.drainOnce();

    const lost = await cardPurchases(gw, biz, contacts, 10, 'lost');
    cut.mute('XREADGROUP');
    const round = writer.drainOnce().then(() => 'answered', (err: Error) => err.message);
    // The read ran in Redis: the entries are the writer's consumer's now, the answers dropped.
    await eventually('the entries delivered to the writer', async () => (await pendingOn(writer!.consumer)) === lost.length, 10_000);
    await cut.cut();
    expect(await round).not.toBe('answered');
    await cut.open();
    writer.start();

    await eventually('the lost answers’ entries recorded', async () => (await recorded(lost.map((p) => p.id))) === lost.length, 10_000);
    const [row] = await sql<{ n: number; ids: number }[]>`select count(*)::int4 as n, count(distinct id)::int4 as ids from ledger_transactions where business_id = ${biz.business_id}`;
    expect(row).toEqual({ n: first.length + lost.length, ids: first.length + lost.length });
  }, 45_000);

  it('sets aside an entry deleted from the journal while pending on it, and leaves nothing pending', async () => {
    await writer?.stop();
    writer = new LedgerWriter(writer_redis, sql, { shard_count, consumer: 'lost-deleted', claim_idle_ms: 600_000, lease_ms: 120_000 });
    while ((await writer.drainOnce()) > 0);
    const biz = await createBusiness(gw);
    const contacts = await createContacts(gw, biz, Array.from({ length: 3 }, (_, i) => testCard(45_100_000 + i)));
    const lost = await cardPurchases(gw, biz, contacts, 6, 'deleted');
    cut.mute('XREADGROUP');
    const round = writer.drainOnce().then(() => 'answered', (err: Error) => err.message);
    await eventually('the entries delivered to the writer', async () => (await pendingOn(writer!.consumer)) === lost.length, 10_000);
    await cut.cut();
    expect(await round).not.toBe('answered');
    // One of them deleted by hand meanwhile (an operator's XDEL): its purchase can no longer reach the ledger.
    const [shard, deleted] = await firstPending(writer.consumer);
    expect(Number(await own.client.sendCommand(['XDEL', journalKey(shard), deleted]))).toBe(1);
    const dead_before = await deadLetters(shard);
    await cut.open();
    writer.start();

    await eventually('the other entries recorded', async () => (await recorded(lost.map((p) => p.id))) === lost.length - 1, 10_000);
    await eventually('nothing left pending on the writer', async () => (await pendingOn(writer!.consumer)) === 0, 10_000);
    const dead = (await own.client.sendCommand(['XRANGE', deadLetterKey(shard), '-', '+'])) as [string, string[]][];
    expect(dead).toHaveLength(dead_before + 1);
    const fields = dead.at(-1)![1];
    expect(fields[fields.indexOf('journal_id') + 1]).toBe(deleted);
    expect(fields[fields.indexOf('error') + 1]).toMatch(/deleted from the journal before the ledger recorded it/);
  }, 45_000);
});

/** The first entry pending on `consumer`: its shard and stream id. */
async function firstPending(consumer: string): Promise<[number, string]> {
  for (let s = 0; s < shard_count; s++) {
    const reply = (await own.client.sendCommand(['XPENDING', journalKey(s), journal_group, '-', '+', '1', consumer])) as [string, ...unknown[]][];
    if (reply.length > 0) return [s, reply[0]![0]];
  }
  throw new Error(`nothing pending on ${consumer}`);
}

async function deadLetters(shard: number): Promise<number> {
  return Number(await own.client.sendCommand(['XLEN', deadLetterKey(shard)]));
}
