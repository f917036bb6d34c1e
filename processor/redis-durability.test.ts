// On real Redis servers: one as `npm start` runs it, one with AOF off, one fsyncing every second.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { durabilityWarning, readRedisDurability } from './redis-durability.ts';
import { startOwnRedis, startPersistentRedis, type OwnRedis } from '../test/own-redis.ts';

let volatile: OwnRedis;
let persistent: OwnRedis;

beforeAll(async () => {
  [volatile, persistent] = await Promise.all([startOwnRedis(), startPersistentRedis()]);
});
afterAll(async () => {
  await volatile?.stop();
  await persistent?.stop();
});

const read = (redis: OwnRedis) => readRedisDurability(redis.client);

describe('readRedisDurability and durabilityWarning', () => {
  it('AOF with appendfsync always: nothing to say', async () => {
    const d = await read(persistent);
    expect(d).toEqual({ aof_enabled: true, appendfsync: 'always' });
    expect(durabilityWarning(d)).toBeUndefined();
  });

  it('AOF off: a warning that names the settings to run with', async () => {
    const d = await read(volatile);
    expect(d.aof_enabled).toBe(false);
    expect(durabilityWarning(d)).toMatch(/appendonly yes --appendfsync always/);
  });

  it('AOF fsynced every second: a warning', async () => {
    await persistent.client.configSet('appendfsync', 'everysec');
    try {
      const d = await read(persistent);
      expect(d).toEqual({ aof_enabled: true, appendfsync: 'everysec' });
      expect(durabilityWarning(d)).toMatch(/"everysec", not "always"/);
    } finally {
      await persistent.client.configSet('appendfsync', 'always');
    }
  });

  it('CONFIG refused (a managed Redis): AOF known from INFO, the fsync policy not', () => {
    expect(durabilityWarning({ aof_enabled: true, appendfsync: null })).toBeUndefined();
    expect(durabilityWarning({ aof_enabled: false, appendfsync: null })).toMatch(/without AOF/);
  });
});
