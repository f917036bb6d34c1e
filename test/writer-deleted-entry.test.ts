// A journal entry deleted from its stream while pending (an operator's XDEL or XTRIM: the writer
// trims only below what it acknowledged). Redis 7's XAUTOCLAIM and XCLAIM drop such an entry from
// the group without a word; the writer puts it on the shard's dead-letter stream instead, so that
// the purchase the ledger will never hold is on record. (Its re-read of its own pending entries,
// which see it with nil fields: test/writer-lost-reply.test.ts.)

import { afterAll, beforeAll, expect, it } from 'vitest';
import { deadLetterKey, journalKey, journal_group } from '../processor/hot/keys.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import type { Sql } from '../processor/stores.ts';
import { createBusiness, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { cardPurchases, connectTestSql, createContacts, shard_count } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
let gw: TestGateway;
let sql: Sql;

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ ledger_writer: false, redis_url: own.url });
  sql = connectTestSql();
  // The groups exist before anything is delivered by hand below.
  const writer = new LedgerWriter(own.client, sql, { shard_count, consumer: 'setup' });
  while ((await writer.drainOnce()) > 0);
  await writer.stop();
});
afterAll(async () => {
  await gw?.close();
  await own?.stop();
  await sql?.end({ timeout: 5 });
});

type Entries = [string, string[]][];

/** Every new journal entry delivered to `consumer`; the shard and stream id of transaction `id`'s. */
async function deliverTo(consumer: string, id: string): Promise<[number, string]> {
  let found: [number, string] | undefined;
  for (let s = 0; s < shard_count; s++) {
    const reply = (await own.client.sendCommand(['XREADGROUP', 'GROUP', journal_group, consumer, 'COUNT', '1000', 'STREAMS', journalKey(s), '>'])) as Record<string, Entries> | [string, Entries][] | null;
    const streams = reply === null ? [] : Array.isArray(reply) ? reply.map((r) => r[1]) : Object.values(reply);
    for (const [stream_id, fields] of streams.flat()) if (fields.some((f) => f.includes(id))) found = [s, stream_id];
  }
  if (found === undefined) throw new Error(`no journal entry of ${id}`);
  return found;
}

async function deadLetters(shard: number): Promise<Entries> {
  return (await own.client.sendCommand(['XRANGE', deadLetterKey(shard), '-', '+'])) as Entries;
}

/** A purchase's entry delivered to `consumer`, then deleted from its stream; a writer's round after. */
async function deletedWhilePendingOn(consumer: string, claimer: LedgerWriter, n: number): Promise<{ shard: number; deleted: string; dead_before: number }> {
  const biz = await createBusiness(gw);
  const [contact] = await createContacts(gw, biz, [testCard(45_300_000 + n)]);
  const [purchase] = await cardPurchases(gw, biz, [contact!], 1, `deleted-${n}`);
  const [shard, deleted] = await deliverTo(consumer, purchase!.id);
  expect(Number(await own.client.sendCommand(['XDEL', journalKey(shard), deleted]))).toBe(1);
  const dead_before = (await deadLetters(shard)).length;
  await claimer.drainOnce();
  await claimer.stop();
  return { shard, deleted, dead_before };
}

async function expectSetAside(shard: number, deleted: string, dead_before: number): Promise<void> {
  const dead = await deadLetters(shard);
  expect(dead).toHaveLength(dead_before + 1);
  const fields = dead.at(-1)![1];
  expect(fields[fields.indexOf('journal_id') + 1]).toBe(deleted);
  expect(fields[fields.indexOf('error') + 1]).toMatch(/deleted from the journal before the ledger recorded it/);
  expect(Number(((await own.client.sendCommand(['XPENDING', journalKey(shard), journal_group])) as [number])[0])).toBe(0);
}

it('sets aside an entry deleted while pending on an older writer’s consumer, which the idle claim drops', async () => {
  // No lease (no '@' in its name): left to the idle claim, here after 1 ms.
  const claimer = new LedgerWriter(own.client, sql, { shard_count, consumer: 'idle-claimer', claim_idle_ms: 1, lease_ms: 120_000 });
  const { shard, deleted, dead_before } = await deletedWhilePendingOn('older-writer', claimer, 1);
  await expectSetAside(shard, deleted, dead_before);
});

it('sets aside an entry deleted while pending on a dead writer’s consumer, which the takeover drops', async () => {
  // A leased name whose lease key is gone: dead, taken over at the claimer's first round.
  const claimer = new LedgerWriter(own.client, sql, { shard_count, consumer: 'taker', claim_idle_ms: 600_000, lease_ms: 120_000 });
  const { shard, deleted, dead_before } = await deletedWhilePendingOn('gone@1', claimer, 2);
  await expectSetAside(shard, deleted, dead_before);
});
