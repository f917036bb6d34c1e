// guess.lua against the test Redis (database 15), called through its definition (guess.ts).

import { describe, expect, it } from 'vitest';
import { guess_limits } from '../../core/guesses.ts';
import { newId } from '../../core/ids.ts';
import type { RedisClient } from '../stores.ts';
import { guessCountersOf } from './guess.ts';
import { specRedisForFile } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(15, (r) => (redis = r));

const now_ms = Date.UTC(2026, 10, 24, 10, 15);

describe('guess.lua', () => {
  it('reserves a guess beside each counter, counting nothing; right releases it, leaving no key', async () => {
    const counters = guessCountersOf(newId('bus'), 'code', { terminal_id: newId('ter'), source: '198.51.100.1' }, now_ms);
    expect(await redis.guessScript({ mode: 'reserve', counters })).toEqual({ outcome: 'reserved', soft: false });
    expect(await redis.mGet([...counters.keys])).toEqual([null, null, null, null]);
    expect(await redis.mGet([...counters.pending_keys])).toEqual(['1', '1', '1', '1']);
    expect(await redis.guessScript({ mode: 'right', counters })).toEqual({ outcome: 'released' });
    expect(await redis.guessScript({ mode: 'right', counters })).toEqual({ outcome: 'released' });
    expect(await redis.exists([...counters.keys, ...counters.pending_keys])).toBe(0); // never below zero, no key at zero
  });

  it('wrong counts the guess in every counter and releases its reservation; give_back takes a wrong one back', async () => {
    const counters = guessCountersOf(newId('bus'), 'code', { terminal_id: newId('ter'), source: '198.51.100.4' }, now_ms);
    await redis.guessScript({ mode: 'reserve', counters });
    expect(await redis.guessScript({ mode: 'wrong', counters })).toEqual({ outcome: 'counted' });
    expect(await redis.mGet([...counters.keys])).toEqual(['1', '1', '1', '1']);
    expect(await redis.exists([...counters.pending_keys])).toBe(0);
    expect(await redis.ttl(counters.keys[1]!)).toBeGreaterThan(86_400);
    expect(await redis.guessScript({ mode: 'give_back', counters })).toEqual({ outcome: 'given_back' });
    expect(await redis.exists([...counters.keys])).toBe(0);
    await redis.set(counters.keys[2]!, '5');
    await redis.guessScript({ mode: 'give_back', counters });
    expect(await redis.get(counters.keys[2]!)).toBe('4');
  });

  it('says when the soft limit is reached, by wrong guesses or guesses being looked up; past a hard one every guess is refused without a reservation', async () => {
    const soft_max = guess_limits.code.soft_per_minute;
    const counters = guessCountersOf(newId('bus'), 'code', { terminal_id: newId('ter'), source: '198.51.100.2' }, now_ms);
    const reserved = await Promise.all(Array.from({ length: soft_max + 1 }, () => redis.guessScript({ mode: 'reserve', counters })));
    expect(reserved.filter((r) => r.outcome === 'reserved' && !r.soft)).toHaveLength(soft_max);
    expect(reserved.at(-1)).toEqual({ outcome: 'reserved', soft: true });
    await Promise.all(reserved.map(() => redis.guessScript({ mode: 'right', counters })));
    await redis.set(counters.keys[0]!, String(soft_max));
    expect(await redis.guessScript({ mode: 'reserve', counters })).toEqual({ outcome: 'reserved', soft: true });
    await redis.guessScript({ mode: 'right', counters });
    await redis.set(counters.keys[3]!, String(guess_limits.code.source_per_day));
    expect(await redis.guessScript({ mode: 'reserve', counters })).toEqual({ outcome: 'rate_limited' });
    expect(await redis.exists([...counters.pending_keys])).toBe(0);
  });

  it('holds the limit exactly under concurrency: of 300 guesses at once the pair’s day limit are reserved, the others busy; once those are counted wrong, refused; once released, reserved', async () => {
    const counters = guessCountersOf(newId('bus'), 'code', { terminal_id: newId('ter'), source: '198.51.100.3' }, now_ms);
    const limit = guess_limits.code.pair_per_day;
    const outcomes = await Promise.all(Array.from({ length: 300 }, () => redis.guessScript({ mode: 'reserve', counters })));
    expect(outcomes.filter((o) => o.outcome === 'reserved')).toHaveLength(limit);
    expect(outcomes.filter((o) => o.outcome === 'busy')).toHaveLength(300 - limit);
    // Released (right codes): room again.
    await Promise.all(Array.from({ length: limit }, () => redis.guessScript({ mode: 'right', counters })));
    expect((await redis.guessScript({ mode: 'reserve', counters })).outcome).toBe('reserved');
    // Counted (wrong codes): the limit is reached, every guess refused.
    await Promise.all(Array.from({ length: limit - 1 }, () => redis.guessScript({ mode: 'reserve', counters })));
    await Promise.all(Array.from({ length: limit }, () => redis.guessScript({ mode: 'wrong', counters })));
    expect(await redis.get(counters.keys[1]!)).toBe(String(limit));
    expect(await redis.guessScript({ mode: 'reserve', counters })).toEqual({ outcome: 'rate_limited' });
  });
});
