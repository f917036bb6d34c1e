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
  it('reserves a guess in every counter and gives it back, never below zero, leaving no key at zero', async () => {
    const counters = guessCountersOf(newId('bus'), 'code', { terminal_id: newId('ter'), source: '198.51.100.1' }, now_ms);
    expect(await redis.guessScript({ mode: 'reserve', counters })).toEqual({ outcome: 'reserved', soft: false });
    expect(await redis.mGet([...counters.keys])).toEqual(['1', '1', '1', '1']);
    expect(await redis.guessScript({ mode: 'give_back', counters })).toEqual({ outcome: 'given_back' });
    expect(await redis.guessScript({ mode: 'give_back', counters })).toEqual({ outcome: 'given_back' });
    expect(await redis.exists([...counters.keys])).toBe(0); // back at zero: no key left behind
    await redis.set(counters.keys[2]!, '5');
    await redis.guessScript({ mode: 'give_back', counters });
    expect(await redis.get(counters.keys[2]!)).toBe('4');
  });

  it('says when the soft limit is reached, and refuses past a hard one without counting', async () => {
    const counters = guessCountersOf(newId('bus'), 'code', { terminal_id: newId('ter'), source: '198.51.100.2' }, now_ms);
    await redis.set(counters.keys[0]!, String(guess_limits.code.soft_per_minute));
    expect(await redis.guessScript({ mode: 'reserve', counters })).toEqual({ outcome: 'reserved', soft: true });
    await redis.set(counters.keys[3]!, String(guess_limits.code.source_per_day));
    expect(await redis.guessScript({ mode: 'reserve', counters })).toEqual({ outcome: 'rate_limited' });
    expect(await redis.get(counters.keys[1]!)).toBe('1');
  });

  it('holds the limit exactly under concurrency: of 300 guesses at once, the pair’s day limit are reserved', async () => {
    const counters = guessCountersOf(newId('bus'), 'code', { terminal_id: newId('ter'), source: '198.51.100.3' }, now_ms);
    const outcomes = await Promise.all(Array.from({ length: 300 }, () => redis.guessScript({ mode: 'reserve', counters })));
    expect(outcomes.filter((o) => o.outcome === 'reserved')).toHaveLength(guess_limits.code.pair_per_day);
  });
});
