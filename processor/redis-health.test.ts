import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnRedis, type OwnRedis } from '../test/own-redis.ts';
import { RedisHealth, redis_health_defaults } from './redis-health.ts';

// A Redis of its own: this file deletes the key every gateway's probe reads.
const held_key = 'n:loaded';
let own: OwnRedis;
let health: RedisHealth;

beforeAll(async () => {
  own = await startOwnRedis();
  health = new RedisHealth(own.client, { ...redis_health_defaults, held_key });
});
afterAll(async () => {
  health?.stop();
  await own?.stop();
});

describe('RedisHealth (on a real Redis)', () => {
  it('ok while the held key is there, loading once it is gone, ok again once it is back', async () => {
    await own.client.set(held_key, '1');
    expect(await health.probe()).toBe('ok');
    expect(health.writable).toBe(true);
    await own.client.del(held_key);
    expect(await health.probe()).toBe('loading');
    expect(health.writable).toBe(false);
    await own.client.set(held_key, '1');
    expect(await health.check()).toBe('ok');
    expect(health.writable).toBe(true);
  });

  it('a probe begun earlier never undoes what a later one found, whichever is told first', async () => {
    await own.client.set(held_key, '1');
    // All sent in this order on the one connection, so answered in it: the earlier probe finds
    // the key, the later check finds it gone. The probe's answer passes through its deadline's
    // wrapper and reached the state after the check's: until 2026-12-05 its 'ok' won.
    const earlier = health.probe();
    const deleted = own.client.del(held_key);
    const later = health.check();
    expect(await Promise.all([earlier, deleted, later])).toEqual(['ok', 1, 'loading']);
    expect(health.state).toBe('loading');
    // And the other way round: a check begun first, a probe after it.
    await own.client.set(held_key, '1');
    const first = health.check();
    const removed = own.client.del(held_key);
    const second = health.probe();
    expect(await Promise.all([first, removed, second])).toEqual(['ok', 1, 'loading']);
    expect(health.state).toBe('loading');
  });

  it('a refusal heard from a POS write is newer than any probe in flight', async () => {
    await own.client.set(held_key, '1');
    const in_flight = health.probe();
    health.heard('refusing_writes');
    expect(await in_flight).toBe('ok');
    expect(health.state).toBe('refusing_writes');
    expect(await health.probe()).toBe('ok');
    expect(health.state).toBe('ok');
  });
});
