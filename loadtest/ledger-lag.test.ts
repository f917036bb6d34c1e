import { describe, expect, it } from 'vitest';
import { ageMs, compareStreamIds, firstRangeId, groupOf, oldestId, streamIdMs, summariseLag, timeMs } from './ledger-lag.ts';

describe('stream ids', () => {
  it('start with the ms of the Redis clock', () => {
    expect(streamIdMs('1732435200123-7')).toBe(1732435200123);
    expect(streamIdMs('1732435200123')).toBe(1732435200123);
    expect(() => streamIdMs('x-1')).toThrow();
  });

  it('order by ms, then sequence (numerically, not as text)', () => {
    expect(compareStreamIds('100-9', '100-10')).toBeLessThan(0);
    expect(compareStreamIds('99-5', '100-0')).toBeLessThan(0);
    expect(compareStreamIds('100-10', '100-9')).toBeGreaterThan(0);
    expect(compareStreamIds('100-1', '100-1')).toBe(0);
  });

  it('the oldest not yet in the ledger: pending or first undelivered, whichever is older', () => {
    expect(oldestId(['1000-3', '900-1'])).toBe('900-1');
    expect(oldestId([null, '1000-0'])).toBe('1000-0');
    expect(oldestId([null, undefined, ''])).toBeNull();
    expect(oldestId(['1000-10', '1000-9'])).toBe('1000-9');
  });

  it('age against Redis TIME, never negative, 0 with nothing behind', () => {
    expect(timeMs(['1732435201', '500999'])).toBe(1732435201500);
    expect(ageMs(1732435201500, '1732435200123-7')).toBe(1377);
    expect(ageMs(1732435201500, '1732435201600-0')).toBe(0);
    expect(ageMs(1732435201500, null)).toBe(0);
  });
});

describe('replies', () => {
  it('XINFO GROUPS as a map or flat pairs', () => {
    const map = [{ name: 'other', pending: 1 }, { name: 'ledger', pending: 3, 'last-delivered-id': '5-1', lag: 2 }];
    expect(groupOf(map)?.['last-delivered-id']).toBe('5-1');
    const flat = [['name', 'ledger', 'consumers', 1, 'pending', 3, 'last-delivered-id', '7-0', 'entries-read', 9, 'lag', null]];
    expect(groupOf(flat)).toMatchObject({ name: 'ledger', pending: 3, 'last-delivered-id': '7-0', lag: null });
    expect(groupOf([])).toBeUndefined();
    expect(groupOf(null)).toBeUndefined();
  });

  it('XRANGE first id as pairs or objects', () => {
    expect(firstRangeId([['12-0', ['e', '{}']]])).toBe('12-0');
    expect(firstRangeId([{ id: '13-1', message: { e: '{}' } }])).toBe('13-1');
    expect(firstRangeId([])).toBeNull();
    expect(firstRangeId(null)).toBeNull();
  });
});

describe('summariseLag', () => {
  it('keeps the largest age and backlog over the samples', () => {
    const s = summariseLag([[0, 0.1, 40], [0.25, 1.4, 900], [0.5, 0.3, 1200]], 250, 1);
    expect(s).toMatchObject({ samples: 3, max_behind_s: 1.4, max_entries: 1200, errors: 1, interval_ms: 250 });
    expect(summariseLag([], 250)).toMatchObject({ samples: 0, max_behind_s: 0 });
  });
});

describe('ledgerLag on Redis', () => {
  it('ages the oldest entry pending or not yet delivered, over every shard', async () => {
    const { connectRedis } = await import('../processor/stores.ts');
    const { ledgerLag } = await import('./ledger-lag.ts');
    const redis = await connectRedis(process.env.REDIS_URL!);
    const prefix = `test-lag-${process.pid}-${Date.now()}`;
    const key = (s: number) => `${prefix}:{s${s}}`;
    try {
      // Nothing at all: nothing behind.
      expect(await ledgerLag(redis, 2, key)).toMatchObject({ behind_ms: 0, entries: 0, oldest_id: null });
      // Shard 0 without a group yet: all of it behind, from its first entry.
      const t = Date.now();
      await redis.sendCommand(['XADD', key(0), `${t - 3_000}-0`, 'e', '{}']);
      await redis.sendCommand(['XADD', key(0), `${t - 2_000}-0`, 'e', '{}']);
      let r = await ledgerLag(redis, 2, key);
      expect(r).toMatchObject({ entries: 2, oldest_id: `${t - 3_000}-0` });
      expect(r.behind_ms).toBeGreaterThanOrEqual(2_900);
      // The group reads the first: pending, still behind; the second undelivered.
      await redis.sendCommand(['XGROUP', 'CREATE', key(0), 'ledger', '0']);
      await redis.sendCommand(['XREADGROUP', 'GROUP', 'ledger', 'w', 'COUNT', '1', 'STREAMS', key(0), '>']);
      r = await ledgerLag(redis, 2, key);
      expect(r).toMatchObject({ entries: 2, oldest_id: `${t - 3_000}-0` });
      // Acknowledged (in the ledger): the undelivered second is the oldest behind.
      await redis.sendCommand(['XACK', key(0), 'ledger', `${t - 3_000}-0`]);
      r = await ledgerLag(redis, 2, key);
      expect(r).toMatchObject({ entries: 1, oldest_id: `${t - 2_000}-0` });
      expect(r.behind_ms).toBeGreaterThanOrEqual(1_900);
      expect(r.behind_ms).toBeLessThan(2_900);
      // Another shard with an older pending entry wins.
      await redis.sendCommand(['XADD', key(1), `${t - 5_000}-0`, 'e', '{}']);
      await redis.sendCommand(['XGROUP', 'CREATE', key(1), 'ledger', '0']);
      await redis.sendCommand(['XREADGROUP', 'GROUP', 'ledger', 'w', 'STREAMS', key(1), '>']);
      r = await ledgerLag(redis, 2, key);
      expect(r).toMatchObject({ entries: 2, oldest_id: `${t - 5_000}-0` });
      // Everything read and acknowledged: caught up.
      await redis.sendCommand(['XREADGROUP', 'GROUP', 'ledger', 'w', 'STREAMS', key(0), '>']);
      await redis.sendCommand(['XACK', key(0), 'ledger', `${t - 2_000}-0`]);
      await redis.sendCommand(['XACK', key(1), 'ledger', `${t - 5_000}-0`]);
      expect(await ledgerLag(redis, 2, key)).toMatchObject({ behind_ms: 0, entries: 0, oldest_id: null });
    } finally {
      await redis.del([key(0), key(1)]);
      await redis.close();
    }
  });
});
