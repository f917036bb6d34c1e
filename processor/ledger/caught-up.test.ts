// caught-up.ts against the test Redis: what reconcile, rebuild and the fault suite wait on. Shards
// numbered far above any test's SHARDS, so that no other test's journal is these.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journal_group, journalKey } from '../hot/keys.ts';
import { specRedis } from '../hot/script-spec.ts';
import type { RedisClient } from '../stores.ts';
import { journalMark, shardCaughtUp } from './caught-up.ts';

let redis: RedisClient;
let shard_n = 9_000 + Math.floor(Math.random() * 1_000) * 10;

beforeAll(async () => {
  redis = await specRedis(14);
});
afterAll(async () => {
  await redis.quit();
});

async function add(key: string): Promise<string> {
  return (await redis.sendCommand(['XADD', key, '*', 'e', '{}'])) as string;
}

describe('shardCaughtUp', () => {
  it('waits for entries up to the mark to be delivered and acknowledged, not for later ones', async () => {
    const key = journalKey(++shard_n);
    await redis.sendCommand(['XGROUP', 'CREATE', key, journal_group, '0', 'MKSTREAM']);
    const first = await add(key);
    const mark = await journalMark(redis, shard_n);
    expect(mark).toBe(first);
    expect(await shardCaughtUp(redis, shard_n, mark)).toBe(false); // not delivered
    await redis.sendCommand(['XREADGROUP', 'GROUP', journal_group, 'w', 'COUNT', '1', 'STREAMS', key, '>']);
    expect(await shardCaughtUp(redis, shard_n, mark)).toBe(false); // pending
    await add(key); // after the mark
    await redis.sendCommand(['XACK', key, journal_group, first]);
    expect(await shardCaughtUp(redis, shard_n, mark)).toBe(true);
  });

  it('has nothing to wait for once the journal is gone, or made anew without the entries up to the mark', async () => {
    const key = journalKey(++shard_n);
    await redis.sendCommand(['XGROUP', 'CREATE', key, journal_group, '0', 'MKSTREAM']);
    await add(key);
    const mark = await journalMark(redis, shard_n);
    await redis.del(key); // a Redis that lost its data
    expect(await shardCaughtUp(redis, shard_n, mark)).toBe(true);
    // Its writer makes the group anew at 0; new entries come after the mark.
    await redis.sendCommand(['XGROUP', 'CREATE', key, journal_group, '0', 'MKSTREAM']);
    expect(await shardCaughtUp(redis, shard_n, mark)).toBe(true);
    await add(key);
    expect(await shardCaughtUp(redis, shard_n, mark)).toBe(true);
  });
});
