// birth-date.lua against the test Redis (database 13, shard 209), called through its definition
// (birth-date.ts).

import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import type { RedisClient } from '../stores.ts';
import { birthday_purchases_max } from './birth-date.ts';
import { contactKey, purchaseTimesKey } from './keys.ts';
import { specRedisForFile } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(13, (r) => (redis = r));

const shard = 209;
const day_ms = 86_400_000;

async function contact(fields: Record<string, string>, times: { id: string; at_ms: number }[] = []): Promise<string> {
  const id = newId('con');
  await redis.hSet(contactKey(shard, id), { b: 'bus_spec', o: '0', ...fields });
  if (times.length > 0) await redis.zAdd(purchaseTimesKey(shard, id), times.map((t) => ({ score: t.at_ms, value: t.id })));
  return id;
}

const timesOf = async (id: string) => (await redis.zRangeWithScores(purchaseTimesKey(shard, id), 0, -1)).map((e) => ({ id: e.value, at_ms: e.score }));

describe('birth-date.lua', () => {
  it('sets the birth date and replaces the birthday purchases with those given, kept for the time given', async () => {
    const id = await contact({ fp: '3', d: '1990-03-01' }, [{ id: 'txn_old', at_ms: 1_000 }]);
    const times = [{ id: 'txn_a', at_ms: 5_000 }, { id: 'txn_b', at_ms: 6_000 }];
    expect(await redis.birthDateScript({ shard, contact_id: id, birth_date: '1990-06-15', purchases: '3', reversals: '', times, times_kept_ms: 37 * day_ms })).toBe('ok');
    expect(await redis.hGet(contactKey(shard, id), 'd')).toBe('1990-06-15');
    expect(await timesOf(id)).toEqual(times);
    expect(await redis.pTTL(purchaseTimesKey(shard, id))).toBeGreaterThan(36 * day_ms);
  });

  it('with no purchase on the birthday, keeps none; a null birth date is taken off', async () => {
    const id = await contact({ fp: '1', d: '1990-03-01' }, [{ id: 'txn_old', at_ms: 1_000 }]);
    expect(await redis.birthDateScript({ shard, contact_id: id, birth_date: null, purchases: '1', reversals: '', times: [], times_kept_ms: 1 })).toBe('ok');
    expect(await redis.hGet(contactKey(shard, id), 'd')).toBeNull();
    expect(await redis.exists(purchaseTimesKey(shard, id))).toBe(0);
  });

  it('changes nothing when a purchase or reversal came since the purchase count was read: stale', async () => {
    const id = await contact({ fp: '2', d: '1990-03-01' }, [{ id: 'txn_old', at_ms: 1_000 }]);
    const call = { shard, contact_id: id, birth_date: '1990-06-15', reversals: '', times: [{ id: 'txn_a', at_ms: 5_000 }], times_kept_ms: day_ms };
    expect(await redis.birthDateScript({ ...call, purchases: '1' })).toBe('stale');
    expect(await redis.birthDateScript({ ...call, purchases: '' })).toBe('stale');
    expect(await redis.hGet(contactKey(shard, id), 'd')).toBe('1990-03-01');
    expect(await timesOf(id)).toEqual([{ id: 'txn_old', at_ms: 1_000 }]);
    // A purchase and a reversal since (fp as it was, rv one up): stale too (a review, 2026-12-04).
    const aba = await contact({ fp: '2', rv: '4', d: '1990-03-01' });
    expect(await redis.birthDateScript({ ...call, contact_id: aba, purchases: '2', reversals: '3' })).toBe('stale');
    expect(await redis.birthDateScript({ ...call, contact_id: aba, purchases: '2', reversals: '' })).toBe('stale');
    expect(await redis.hGet(contactKey(shard, aba), 'd')).toBe('1990-03-01');
    expect(await redis.birthDateScript({ ...call, contact_id: aba, purchases: '2', reversals: '4' })).toBe('ok');
    // A contact with no purchase left (none, or every one reversed): '' as read.
    const none = await contact({});
    expect(await redis.birthDateScript({ ...call, contact_id: none, times: [], purchases: '' })).toBe('ok');
    expect(await redis.hGet(contactKey(shard, none), 'd')).toBe('1990-06-15');
  });

  it('refuses more purchases than its bound before anything is sent', async () => {
    const id = await contact({ fp: '1' });
    const times = Array.from({ length: birthday_purchases_max + 1 }, (_, i) => ({ id: `txn_${i}`, at_ms: i }));
    await expect(redis.birthDateScript({ shard, contact_id: id, birth_date: '1990-06-15', purchases: '1', reversals: '', times, times_kept_ms: day_ms })).rejects.toThrow(/at most/);
    expect(await redis.hGet(contactKey(shard, id), 'd')).toBeNull();
  });
});
