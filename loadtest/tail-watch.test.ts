import { describe, expect, it } from 'vitest';
import { specRedisForFile } from '../processor/hot/script-spec.ts';
import type { RedisClient } from '../processor/stores.ts';
import { aofRewrites, briefTailCauses, formatTailCauses, type TailCauses } from './tail-watch.ts';

const quiet: TailCauses = { seconds: 10, redis_stalls: [], aof_rewrites: 0, gateway: { loop_delay_p99_ms: 1.2, loop_delay_max_ms: 4, gc: {} } };
const stalled: TailCauses = {
  seconds: 10,
  redis_stalls: [
    { event: 'command', seconds: 2, median_ms: 6, max_ms: 7 },
    { event: 'aof-fsync-always', seconds: 9, median_ms: 12, max_ms: 96 },
  ],
  aof_rewrites: 1,
  gateway: { loop_delay_p99_ms: 7.1, loop_delay_max_ms: 17.4, gc: { minor: { count: 40, total_ms: 208 } } },
};

describe('tail causes', () => {
  it('names the fsync stalls among Redis’s others, the AOF rewrites and the gateway’s lateness, briefly', () => {
    expect(briefTailCauses(stalled)).toBe('Redis fsync ≥ 5 ms in 9 of 10 s (longest 96 ms), AOF rewrites 1, gateway event loop late ≤ 17.4 ms');
    expect(briefTailCauses(quiet)).toBe('no Redis fsync ≥ 5 ms, AOF rewrites 0, gateway event loop late ≤ 4 ms');
  });

  it('gives every stall, the rewrites and the GC on the console', () => {
    expect(formatTailCauses(stalled)).toBe("Redis stalls ≥ 5 ms (seconds with one, of 10; median and longest of each second's longest): command 2 s, 6/7 ms; aof-fsync-always 9 s, 12/96 ms; AOF rewrites begun: 1; gateway event loop late p99 7.1 ms (max 17.4), GC minor 40 × 5.2 ms");
    expect(formatTailCauses(quiet)).toBe('Redis stalls ≥ 5 ms: none; AOF rewrites begun: 0; gateway event loop late p99 1.2 ms (max 4), GC none');
  });
});

describe('aofRewrites', () => {
  let redis: RedisClient;
  specRedisForFile(15, (r) => (redis = r));

  it('reads the count of this Redis’s INFO persistence (a field this Redis version has)', async () => {
    const n = await aofRewrites(redis);
    expect(Number.isInteger(n) && n >= 0).toBe(true);
  });
});
