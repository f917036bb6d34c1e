// A gateway given a Redis that does not keep what it acknowledges says so as it starts
// (processor/redis-durability.ts); the Redis `npm test` and `npm start` run (AOF, fsync always) draws no warning.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from './helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;

beforeAll(async () => {
  own = await startOwnRedis();
});
afterAll(async () => {
  await own?.stop();
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

  it('the test services’ Redis (AOF, appendfsync always): none', async () => {
    const gw = await startTestGateway({ ledger_writer: false });
    try {
      expect(warned(gw.logs)).toEqual([]);
    } finally {
      await gw.close();
    }
  });
});
