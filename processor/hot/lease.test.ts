// lease.lua against the test Redis (database 15), called through its definition (lease.ts).

import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import type { RedisClient } from '../stores.ts';
import { specRedisForFile } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(15, (r) => (redis = r));

function keysOf(): [string, string] {
  const tag = newId('bus');
  return [`ce:{${tag}}:p:t:1`, `ce:{${tag}}:p:e:1`];
}

describe('lease.lua', () => {
  it('takes both keys or neither: one held key keeps the other free', async () => {
    const [t, e] = keysOf();
    expect(await redis.leaseScript({ keys: [e, e], holder: 'a', op: 'take', lease_ms: 10_000 })).toBe(1);
    expect(await redis.leaseScript({ keys: [t, e], holder: 'b', op: 'take', lease_ms: 10_000 })).toBe(0);
    expect(await redis.exists(t)).toBe(0);
    expect(await redis.leaseScript({ keys: [e, e], holder: 'a', op: 'release', lease_ms: 10_000 })).toBe(1);
    expect(await redis.leaseScript({ keys: [t, e], holder: 'b', op: 'take', lease_ms: 10_000 })).toBe(1);
    expect(await redis.get(t)).toBe('b');
    expect(await redis.get(e)).toBe('b');
  });

  it('renews and releases only what the holder still holds', async () => {
    const [t, e] = keysOf();
    expect(await redis.leaseScript({ keys: [t, e], holder: 'a', op: 'take', lease_ms: 1_000 })).toBe(1);
    // The lease of `e` ran out and another holder took it.
    await redis.set(e, 'b', { PX: 10_000 });
    expect(await redis.leaseScript({ keys: [t, e], holder: 'a', op: 'renew', lease_ms: 20_000 })).toBe(1);
    expect(await redis.pTTL(t)).toBeGreaterThan(10_000);
    expect(await redis.pTTL(e)).toBeLessThanOrEqual(10_000);
    expect(await redis.leaseScript({ keys: [t, e], holder: 'a', op: 'release', lease_ms: 20_000 })).toBe(1);
    expect(await redis.exists(t)).toBe(0);
    expect(await redis.get(e)).toBe('b');
  });

  it('lets exactly one of many takers at once hold the keys; the lease runs out by itself', async () => {
    const [t, e] = keysOf();
    const taken = await Promise.all(Array.from({ length: 20 }, (_, i) => redis.leaseScript({ keys: [t, e], holder: `h${i}`, op: 'take', lease_ms: 50 })));
    expect(taken.filter((n) => n === 1)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 80));
    expect(await redis.leaseScript({ keys: [t, e], holder: 'late', op: 'take', lease_ms: 50 })).toBe(1);
  });
});
