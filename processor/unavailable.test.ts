// Which errors mean "a store cannot serve now": the real errors of a real Redis refusing writes
// (a Redis of this test's own, which it makes full, read-only and masterless).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorReply } from 'redis';
import { startOwnRedis, type OwnRedis } from '../test/own-redis.ts';
import { connectRedis, type RedisClient } from './stores.ts';
import { isStoreUnavailable, redisErrorCode } from './unavailable.ts';

let own: OwnRedis;
let redis: RedisClient;

beforeAll(async () => {
  own = await startOwnRedis();
  redis = own.client;
});
afterAll(async () => {
  await own?.stop();
});

async function refusal(command: string[]): Promise<unknown> {
  return redis.sendCommand(command).then(() => undefined, (err: unknown) => err);
}

describe('a store that cannot serve now', () => {
  it('is Redis out of memory, a read-only replica, a replica without its master', async () => {
    await redis.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
    const oom = await refusal(['SET', 'k', 'v']);
    await redis.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
    expect(oom).toBeInstanceOf(ErrorReply);
    expect(redisErrorCode(oom as ErrorReply)).toBe('OOM');
    expect(isStoreUnavailable(oom)).toBe(true);

    // A replica of a master that is not there: read-only, and with stale data refused, MASTERDOWN.
    await redis.sendCommand(['REPLICAOF', '127.0.0.1', '1']);
    const readonly = await refusal(['SET', 'k', 'v']);
    await redis.sendCommand(['CONFIG', 'SET', 'replica-serve-stale-data', 'no']);
    const masterdown = await refusal(['GET', 'k']);
    await redis.sendCommand(['CONFIG', 'SET', 'replica-serve-stale-data', 'yes']);
    await redis.sendCommand(['REPLICAOF', 'NO', 'ONE']);
    expect(redisErrorCode(readonly as ErrorReply)).toBe('READONLY');
    expect(redisErrorCode(masterdown as ErrorReply)).toBe('MASTERDOWN');
    expect(isStoreUnavailable(readonly)).toBe(true);
    expect(isStoreUnavailable(masterdown)).toBe(true);
    expect(await redis.sendCommand(['SET', 'k', 'v'])).toBe('OK');
  });

  it('is a Redis loading its data (the reply Redis gives then)', () => {
    expect(isStoreUnavailable(new ErrorReply('LOADING Redis is loading the dataset in memory'))).toBe(true);
  });

  it('is not a command Redis refuses for what it is, nor a bug of ours', async () => {
    const wrong_type = await refusal(['INCR', 'k']);
    expect(wrong_type).toBeInstanceOf(ErrorReply);
    expect(isStoreUnavailable(wrong_type)).toBe(false);
    expect(isStoreUnavailable(await refusal(['NOSUCHCOMMAND']))).toBe(false);
    expect(isStoreUnavailable(new TypeError("Cannot read properties of null (reading 'write')"))).toBe(false);
    // Not by wording: a message that merely says "closed" is not a closed client.
    expect(isStoreUnavailable(new Error('The client is closed'))).toBe(false);
  });

  it('is a Redis client that was closed', async () => {
    const other = await connectRedis(own.url);
    await other.close();
    const closed = await other.sendCommand(['GET', 'k']).then(() => undefined, (err: unknown) => err);
    expect(isStoreUnavailable(closed)).toBe(true);
  });
});
