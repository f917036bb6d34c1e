// The registry of scripts (scripts.ts): names that shadow no command, sources Redis compiles.

import { randomUUID } from 'node:crypto';
import { createClient, defineScript, type CommandParser } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl } from '../../test/ledger-helpers.ts';
import type { RedisClient } from '../stores.ts';
import { hot_scripts } from './scripts.ts';
import { specRedis } from './script-spec.ts';

let redis: RedisClient;

beforeAll(async () => {
  redis = await specRedis(15);
});
afterAll(async () => {
  await redis.quit();
});

describe('hot scripts', () => {
  it('take no name of a command of the client', () => {
    const plain = createClient() as unknown as Record<string, unknown>;
    for (const name of Object.keys(hot_scripts)) expect(plain[name], name).toBeUndefined();
  });

  it('compile in Redis, each under the SHA1 node-redis sends with EVALSHA', async () => {
    for (const script of Object.values(hot_scripts)) expect(await redis.scriptLoad(script.SCRIPT)).toBe(script.SHA1);
  });

  it('run on a Redis that has not cached them (a restart, a failover): NOSCRIPT, then EVAL', async () => {
    // A script no Redis has seen (SCRIPT FLUSH would also drop other files' scripts mid-test).
    const probe = defineScript({
      SCRIPT: `return ARGV[1] -- ${randomUUID()}`,
      NUMBER_OF_KEYS: 0,
      parseCommand: (parser: CommandParser, value: string) => parser.push(value),
      transformReply: (raw: unknown) => raw as string,
    });
    const client = createClient({ url: redisUrl(15), scripts: { probe } });
    await client.connect();
    try {
      expect(await client.scriptExists(probe.SHA1)).toEqual([0]);
      expect(await client.probe('ran')).toBe('ran');
      expect(await client.scriptExists(probe.SHA1)).toEqual([1]);
    } finally {
      await client.quit();
    }
  });
});
