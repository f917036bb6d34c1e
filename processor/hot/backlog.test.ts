// backlog.lua against the test Redis (database 15), called through its definition (backlog.ts):
// its count against one made from the stream's pending entries and the entries after the group's
// last-delivered id, read one by one here (fast-check over adds, reads, acknowledgements and trims).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RedisClient } from '../stores.ts';
import { journal_group, journalKey } from './keys.ts';
import { hot_library } from './scripts.ts';
import { specRedisForFile } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(15, (r) => (redis = r));

// Shards of this spec only: no shard script's spec journals this far.
let next_shard = 7_000 + Math.floor(Math.random() * 1_000) * 10;
const freshShard = () => next_shard++;

const add = (key: string, n: number) => Promise.all(Array.from({ length: n }, (_, i) => redis.sendCommand(['XADD', key, '*', 'e', `{"n":${i}}`])));
const read = async (key: string, n: number): Promise<string[]> => {
  // RESP3: a map of stream to entries.
  const r = (await redis.sendCommand(['XREADGROUP', 'GROUP', journal_group, 'w', 'COUNT', String(n), 'STREAMS', key, '>'])) as Record<string, [string, string[]][]> | null;
  return r === null ? [] : r[key]!.map(([id]) => id);
};

/** What the ledger lacks, read entry by entry: the pending ones and those after the last delivered. */
async function counted(key: string): Promise<number> {
  const [g] = (await redis.sendCommand(['XINFO', 'GROUPS', key])) as Record<string, unknown>[];
  if (g === undefined) throw new Error(`${key}: no group`);
  const after = (await redis.sendCommand(['XRANGE', key, `(${String(g['last-delivered-id'])}`, '+'])) as unknown[];
  return Number(g['pending']) + after.length;
}

/**
 * A journal with the writers' group: `added` entries, the first `delivered` of them read, the
 * first `acked` of those acknowledged. Returns the shard, its key and the delivered ids.
 */
async function journal(added: number, delivered: number, acked: number) {
  const shard = freshShard();
  const key = journalKey(shard);
  await redis.sendCommand(['XGROUP', 'CREATE', key, journal_group, '0', 'MKSTREAM']);
  await add(key, added);
  const ids = await read(key, delivered);
  if (acked > 0) await redis.sendCommand(['XACK', key, journal_group, ...ids.slice(0, acked)]);
  return { shard, key, ids };
}

describe('backlog.lua', () => {
  it('no stream: 0; a stream no writer has read (no group): every entry', async () => {
    const shard = freshShard();
    expect(await redis.backlogScript({ shard })).toEqual({ entries: 0, exact: true });
    await add(journalKey(shard), 5);
    expect(await redis.backlogScript({ shard })).toEqual({ entries: 5, exact: true });
  });

  it('pending and undelivered entries count, acknowledged ones not, trimmed or not', async () => {
    const { shard, key, ids: delivered } = await journal(10, 6, 2);
    // 4 pending, 4 never delivered; 2 acknowledged still in the stream.
    expect(await redis.backlogScript({ shard })).toEqual({ entries: 8, exact: true });
    await redis.sendCommand(['XTRIM', key, 'MINID', delivered[2]!]);
    expect(await redis.backlogScript({ shard })).toEqual({ entries: 8, exact: true });
  });

  it('past the bound: the length less the run up to the last delivered, then the length standing for both', async () => {
    const { shard } = await journal(10, 6, 2);
    // After the last delivered 4 entries, within a bound of 5: counted.
    expect(await redis.backlogScript({ shard, counted_max: 5 })).toEqual({ entries: 8, exact: true });
    // Both runs (4 after, 6 up to it) past a bound of 3: the length (10) stands for them, 2
    // acknowledged entries over.
    expect(await redis.backlogScript({ shard, counted_max: 3 })).toEqual({ entries: 10, exact: false });
    // An outage's shape: many undelivered, a short run up to the last delivered.
    const outage = await journal(10, 2, 0);
    expect(await redis.backlogScript({ shard: outage.shard, counted_max: 5 })).toEqual({ entries: 10, exact: true });
  });

  it('equals the count read entry by entry, whatever was added, read, acknowledged and trimmed (fast-check)', async () => {
    const step = fc.oneof(
      fc.record({ op: fc.constant('add' as const), n: fc.integer({ min: 1, max: 30 }) }),
      fc.record({ op: fc.constant('read' as const), n: fc.integer({ min: 1, max: 30 }) }),
      fc.record({ op: fc.constant('ack' as const), n: fc.integer({ min: 1, max: 30 }) }),
      fc.record({ op: fc.constant('trim' as const), n: fc.constant(0) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), fc.integer({ min: 2, max: 40 }), async (steps, counted_max) => {
        const shard = freshShard();
        const key = journalKey(shard);
        await redis.sendCommand(['XGROUP', 'CREATE', key, journal_group, '0', 'MKSTREAM']);
        let pending: string[] = [];
        let acked: string | undefined;
        for (const s of steps) {
          if (s.op === 'add') await add(key, s.n);
          else if (s.op === 'read') pending.push(...(await read(key, s.n)));
          else if (s.op === 'ack' && pending.length > 0) {
            const done = pending.slice(0, s.n);
            pending = pending.slice(s.n);
            await redis.sendCommand(['XACK', key, journal_group, ...done]);
            acked = done.at(-1);
          } else if (s.op === 'trim' && acked !== undefined) {
            // As the writer trims: below the oldest entry still pending, or up to the last acknowledged.
            await redis.sendCommand(['XTRIM', key, 'MINID', pending[0] ?? `${acked.split('-')[0]}-${Number(acked.split('-')[1]) + 1}`]);
          }
        }
        const got = await redis.backlogScript({ shard, counted_max });
        const expected = await counted(key);
        if (got.exact) expect(got.entries).toBe(expected);
        else expect(got.entries).toBeGreaterThanOrEqual(expected);
        await redis.del(key);
      }),
      { numRuns: 40 },
    );
  });

  it('is registered no-writes: Redis runs it where it refuses writes, and by FCALL_RO', async () => {
    const shard = freshShard();
    await add(journalKey(shard), 3);
    expect(await redis.backlogScript({ shard })).toEqual({ entries: 3, exact: true }); // the library loaded
    const name = hot_library.functions.backlogScript;
    const libraries = (await redis.sendCommand(['FUNCTION', 'LIST', 'LIBRARYNAME', hot_library.name])) as { functions: { name: string; flags: string[] }[] }[];
    const flags = Object.fromEntries(libraries[0]!.functions.map((f) => [f.name, f.flags]));
    expect(flags[name]).toEqual(['no-writes']);
    expect(flags[hot_library.functions.purchaseScript]).toEqual([]);
    expect(await redis.sendCommand(['FCALL_RO', name, '1', journalKey(shard), journal_group, '10'])).toEqual([3, 1]);
  });
});
