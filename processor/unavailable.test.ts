// Which errors mean "a store cannot serve now": the real errors of a real Redis refusing writes
// (a Redis of this test's own, which it makes full, read-only and masterless).

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorReply } from 'redis';
import { connectRedis, type RedisClient } from './stores.ts';
import { isStoreUnavailable, redisErrorCode } from './unavailable.ts';

let server: ChildProcess;
let redis: RedisClient;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

beforeAll(async () => {
  const port = await freePort();
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    try {
      redis = await connectRedis(`redis://127.0.0.1:${port}`);
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});
afterAll(async () => {
  await redis?.close().catch(() => {});
  server?.kill('SIGKILL');
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
    const port = (redis.options?.url ?? '').split(':').pop();
    const other = await connectRedis(`redis://127.0.0.1:${port}`);
    await other.close();
    const closed = await other.sendCommand(['GET', 'k']).then(() => undefined, (err: unknown) => err);
    expect(isStoreUnavailable(closed)).toBe(true);
  });
});
