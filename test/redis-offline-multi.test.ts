// node-redis 6.3.1 queued a MULTI or a pipeline sent while its connection was down, although our
// clients set disableOfflineQueue (upstream node-redis #2205, whose fix, PR #2328, covers single
// commands only): its caller waited for as long as Redis was gone, and close() waited for its
// replies for ever (#3089). Found when a gateway whose Redis had been stopped 12 s before never
// closed: the settings watch's MULTI (processor/settings.ts) was still queued. (A MULTI queued
// while the client still tries to reconnect fails with that attempt's connection error.)
// patches/@redis+client+6.3.1.patch refuses them at once with ClientOfflineError, as a command.

import { ClientOfflineError } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type RedisClient } from '../processor/stores.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

const settles_within_ms = 2_000;

/** 'pending' if the promise has not settled within settles_within_ms, else how it settled. */
async function settled(promise: Promise<unknown>): Promise<unknown> {
  const pending = new Promise((resolve) => setTimeout(() => resolve('pending'), settles_within_ms));
  return Promise.race([promise.then(() => 'resolved', (err: unknown) => err), pending]);
}

let own: OwnRedis;
let client: RedisClient;
beforeAll(async () => {
  own = await startOwnRedis();
  client = createRedis(own.url);
  await client.connect();
  expect(await client.multi().set('k', 'v').get('k').exec()).toEqual(['OK', 'v']);
  await own.stop();
  // The client has seen its connection go: it is reconnecting, not ready.
  for (let i = 0; i < 100 && client.isReady; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(client.isReady).toBe(false);
});
afterAll(async () => {
  if (client?.isOpen) client.destroy();
});

describe('with its Redis gone, a client with disableOfflineQueue', () => {
  it('refuses a command at once (as node-redis always did)', async () => {
    expect(await settled(client.get('k'))).toBeInstanceOf(ClientOfflineError);
  });

  it('refuses a MULTI at once', async () => {
    expect(await settled(client.multi().hSetNX('settings', 'shards', '16').exec())).toBeInstanceOf(ClientOfflineError);
  });

  it('refuses a pipeline at once', async () => {
    expect(await settled(client.multi().set('a', '1').get('a').execAsPipeline())).toBeInstanceOf(ClientOfflineError);
  });

  // Unpatched, the queued MULTI waited for the next reconnect attempt to fail (up to the backoff's
  // 2 s), and close() stops those attempts: nothing answered it, nor the close, ever again.
  it('closes at once right after a MULTI, without being destroyed', async () => {
    const multi = client.multi().hSetNX('settings', 'shards', '16').exec();
    const closing = client.close();
    expect(await settled(closing)).toBe('resolved');
    expect(await settled(multi)).toBeInstanceOf(ClientOfflineError);
  });
});
