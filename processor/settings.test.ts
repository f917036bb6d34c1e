// The settings watch against the test Redis (database 14): it stops a process on a mismatch it
// reads twice, never on a reply that is not HMGET's answer.

import { describe, expect, it } from 'vitest';
import type { RedisClient } from './stores.ts';
import { specRedisForFile } from './hot/script-spec.ts';
import { checkRedisSettings, SettingsMismatch, settings_key, watchRedisSettings } from './settings.ts';

let redis: RedisClient;
specRedisForFile(14, (r) => (redis = r));

/** The client, but its next `garbled` HMGETs answer what another command would have ('OK'). */
function garbling(client: RedisClient, garbled: number): RedisClient {
  return new Proxy(client, {
    get(target, name, receiver) {
      if (name === 'hmGet' && garbled > 0) return async () => (garbled--, 'OK');
      const value = Reflect.get(target, name, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('settings', () => {
  it('a reply that is not HMGET\'s answer is no reading: an error, not a mismatch', async () => {
    await redis.del(settings_key);
    await redis.hSet(settings_key, 'shards', '16');
    const err = await checkRedisSettings(garbling(redis, 1), { shard_count: 16 }, 'check').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(SettingsMismatch);
    await expect(checkRedisSettings(redis, { shard_count: 16 }, 'check')).resolves.toBeUndefined();
  });

  it('the watch goes on through garbled readings, and stops on a mismatch read twice, once', async () => {
    await redis.del(settings_key);
    await redis.hSet(settings_key, 'shards', '16');
    const heard: string[] = [];
    const stop = watchRedisSettings(garbling(redis, 3), { shard_count: 16 }, { interval_ms: 20, mode: () => 'check', onMismatch: (e) => heard.push(e.message) });
    try {
      await sleep(200);
      expect(heard).toEqual([]);
      await redis.hSet(settings_key, 'shards', '8');
      await sleep(200);
      expect(heard).toHaveLength(1);
      expect(heard[0]).toMatch(/SHARDS=16, but Redis holds data laid out for SHARDS=8/);
    } finally {
      stop();
    }
  });
});
