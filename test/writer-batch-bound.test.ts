// A ledger writer's batch holds at most read_count_max entries of each shard, whatever their
// source: a dead leased consumer's entries (the takeover), entries an older consumer left idle
// (XAUTOCLAIM) and new ones (XREADGROUP), all waiting at once. The passes run in that order, each
// given the room the ones before left; what has no room is taken by a later round, and every
// purchase is recorded exactly once, nothing left pending.
//
// Everything runs on a Redis of this file's own: the test plays the dead and the older consumer.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journal_group, journalKey } from '../processor/hot/keys.ts';
import { LedgerWriter, type JournalRecord } from '../processor/ledger/writer.ts';
import type { Sql } from '../processor/stores.ts';
import { createBusiness, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { addCashbackOffer, cardPurchases, connectTestSql, createContacts, expectLedgerMatches, journalOf, pendingByConsumer, shard_count } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

const read_count_max = 4;
/** Entries each shard's dead consumer holds: more than a round has room for. */
const dead_count = read_count_max + 1;
/** A consumer named as leased writers are, whose lease key was never set: dead. */
const dead = 'dead-writer@1';
/** A consumer without a lease (an older writer): only XAUTOCLAIM takes its entries. */
const older = 'older-writer';
const claim_idle_ms = 100;

let own: OwnRedis;
let sql: Sql;
let gw: TestGateway;

beforeAll(async () => {
  own = await startOwnRedis();
  sql = connectTestSql();
  gw = await startTestGateway({ ledger_writer: false, redis_url: own.url });
});
afterAll(async () => {
  await gw?.close();
  await sql?.end({ timeout: 5 });
  await own?.stop();
});

/** Delivers up to `count` new entries of `shard` to `consumer`; their stream ids. */
async function deliver(shard: number, consumer: string, count: number): Promise<string[]> {
  const reply = (await own.client.sendCommand(['XREADGROUP', 'GROUP', journal_group, consumer, 'COUNT', String(count), 'STREAMS', journalKey(shard), '>'])) as
    | Record<string, [string, string[]][]>
    | [string, [string, string[]][]][]
    | null;
  if (reply === null) return [];
  return (Array.isArray(reply) ? reply.flatMap((r) => r[1]) : Object.values(reply).flat()).map(([id]) => id);
}

/** Entries of the streams not yet delivered to the group. */
async function undelivered(): Promise<number> {
  let n = 0;
  for (let shard = 0; shard < shard_count; shard++) {
    const groups = (await own.client.sendCommand(['XINFO', 'GROUPS', journalKey(shard)])) as (Record<string, unknown> | unknown[])[];
    const g = groups.find((x) => (Array.isArray(x) ? x[x.indexOf('name') + 1] : x.name) === journal_group)!;
    const last = String(Array.isArray(g) ? g[g.indexOf('last-delivered-id') + 1] : g['last-delivered-id']);
    n += ((await own.client.sendCommand(['XRANGE', journalKey(shard), `(${last}`, '+'])) as unknown[]).length;
  }
  return n;
}

async function consumers(): Promise<Set<string>> {
  const names = new Set<string>();
  for (let shard = 0; shard < shard_count; shard++) {
    const reply = (await own.client.sendCommand(['XINFO', 'CONSUMERS', journalKey(shard), journal_group])) as (Record<string, unknown> | unknown[])[];
    for (const c of reply) names.add(String(Array.isArray(c) ? c[c.indexOf('name') + 1] : c.name));
  }
  return names;
}

const key = (r: { shard: number; stream_id: string }) => `${r.shard}:${r.stream_id}`;

describe('a ledger writer batch', () => {
  it(`never holds more than read_count_max entries of a shard, with dead, idle and new entries all waiting; later rounds take the rest, once`, async () => {
    const biz = await createBusiness(gw);
    await addCashbackOffer(gw, biz, 5);
    const contacts = await createContacts(gw, biz, Array.from({ length: 80 }, (_, i) => testCard(19_000_000 + i)));
    const approved = await cardPurchases(gw, biz, contacts, 400, 'B');
    const journal = await journalOf(own.client, biz.business_id);

    // Per shard: the dead consumer holds dead_count entries, the older one 1, the rest are new.
    const source = new Map<string, 'dead' | 'idle'>();
    const dead_of: string[][] = [];
    for (let shard = 0; shard < shard_count; shard++) {
      await own.client.sendCommand(['XGROUP', 'CREATE', journalKey(shard), journal_group, '0', 'MKSTREAM']);
      dead_of[shard] = (await deliver(shard, dead, dead_count)).map((id) => `${shard}:${id}`);
      for (const k of dead_of[shard]!) source.set(k, 'dead');
      for (const id of await deliver(shard, older, 1)) source.set(`${shard}:${id}`, 'idle');
    }
    expect([...source.values()].filter((s) => s === 'dead').length).toBeGreaterThan(read_count_max * 8);
    // Idle past claim_idle_ms: XAUTOCLAIM may take the older consumer's entries from the first round.
    await new Promise((resolve) => setTimeout(resolve, 2 * claim_idle_ms));

    const batches: JournalRecord[][] = [];
    const errors: unknown[] = [];
    const writer = new LedgerWriter(own.client, sql, {
      shard_count,
      read_count_max,
      claim_idle_ms,
      onError: (err) => errors.push(err),
      onBatch: (_entries, _inserted, items) => batches.push([...items]),
    });
    let rounds = 0;
    try {
      // Until nothing is left and the dead consumer, its entries all claimed, is gone; bounded.
      const done = async () => (await undelivered()) === 0 && (await pendingByConsumer(own.client)).size === 0 && !(await consumers()).has(dead);
      for (; rounds < 400 && !(await done()); rounds++) await writer.drainOnce();
    } finally {
      await writer.stop();
    }
    expect(errors).toEqual([]);
    expect(rounds).toBeLessThan(400);

    // The bound, in every batch and shard.
    for (const [b, batch] of batches.entries()) {
      const per_shard = new Map<number, number>();
      for (const r of batch) per_shard.set(r.shard, (per_shard.get(r.shard) ?? 0) + 1);
      for (const [shard, n] of per_shard) expect(n, `batch ${b}, shard ${shard}`).toBeLessThanOrEqual(read_count_max);
    }
    // The takeover came first: the first batch holds as many of each shard's dead entries as fit.
    for (let shard = 0; shard < shard_count; shard++) {
      const taken = batches[0]!.filter((r) => r.shard === shard && source.get(key(r)) === 'dead').length;
      expect(taken, `shard ${shard}`).toBe(Math.min(read_count_max, dead_of[shard]!.length));
    }
    // All three sources met in one batch of one shard, and it still kept to the bound (above).
    const mixed = batches.some((batch) =>
      Array.from({ length: shard_count }, (_, shard) => new Set(batch.filter((r) => r.shard === shard).map((r) => source.get(key(r)) ?? 'new'))).some((s) => s.size === 3),
    );
    expect(mixed).toBe(true);

    // Every entry in exactly one batch; the ledger holds every purchase once; nothing pending.
    const keys = batches.flat().map(key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.length).toBe(approved.length);
    expect(writer.written).toBe(approved.length);
    await expectLedgerMatches(gw, sql, biz, approved, contacts.map((c) => c.id), journal);
  });
});
