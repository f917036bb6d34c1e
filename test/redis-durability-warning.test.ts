// A gateway given a Redis that does not keep what it acknowledges says so as it starts
// (processor/redis-durability.ts); one run as `npm start` runs its own (AOF, fsync always) draws no warning.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from './helpers.ts';
import { startOwnRedis, startPersistentRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
let durable: OwnRedis;

beforeAll(async () => {
  [own, durable] = await Promise.all([startOwnRedis(), startPersistentRedis()]);
});
afterAll(async () => {
  await own?.stop();
  await durable?.stop();
});

const warned = (logs: readonly string[]) => logs.filter((l) => l.includes('without AOF') || l.includes('not \\"always\\"'));

describe('the start, on Redis persistence', () => {
  it('a Redis without AOF: one warning naming the settings', async () => {
    const gw = await startTestGateway({ redis_url: own.url, ledger_writer: false });
    try {
      expect(warned(gw.logs)).toHaveLength(1);
      expect(JSON.parse(warned(gw.logs)[0]!)).toMatchObject({ level: 40, msg: expect.stringContaining('--appendonly yes --appendfsync always') });
    } finally {
      await gw.close();
    }
  });

  it('a Redis run as npm start runs its own (AOF, appendfsync always): none', async () => {
    const gw = await startTestGateway({ redis_url: durable.url, ledger_writer: false });
    try {
      expect(warned(gw.logs)).toEqual([]);
    } finally {
      await gw.close();
    }
  });
});
