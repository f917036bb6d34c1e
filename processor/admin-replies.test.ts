// AdminReplies on a real Redis (the test services'): the marks and answers an Idempotency-Key
// keeps, under a scope of this file's own.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PocketgateError } from '../core/errors.ts';
import { AdminReplies, kept_ms, writeHash } from './admin-replies.ts';
import { connectRedis, type RedisClient } from './stores.ts';

let redis: RedisClient;
let replies: AdminReplies;
const failures: unknown[] = [];
const scope = `bus_test${randomBytes(4).toString('hex')}`;
const hash = (body: string) => writeHash('POST', '/v1/merchants', Buffer.from(body));

beforeAll(async () => {
  redis = await connectRedis(process.env.REDIS_URL!);
  replies = new AdminReplies(redis, (err) => failures.push(err));
});
afterAll(async () => {
  for (const key of await redis.keys(`ik:${scope}:*`)) await redis.del(key);
  await redis.quit();
});

async function refusal(p: Promise<unknown>): Promise<PocketgateError> {
  try {
    await p;
  } catch (err) {
    return err as PocketgateError;
  }
  throw new Error('not refused');
}

describe('AdminReplies', () => {
  it('runs the first; a copy meanwhile is 409; then the answer, for 24 hours; another request under the key 409', async () => {
    const h = hash('{"name":"a"}');
    expect(await replies.begin(scope, 'k1', h)).toEqual({ run: true });
    expect((await refusal(replies.begin(scope, 'k1', h))).code).toBe('idempotency_conflict');
    await replies.end(scope, 'k1', h, 201, '{"id":"mer_1"}');
    expect(await replies.begin(scope, 'k1', h)).toEqual({ run: false, status: 201, body: '{"id":"mer_1"}' });
    const other = await refusal(replies.begin(scope, 'k1', hash('{"name":"b"}')));
    expect([other.code, other.message]).toEqual(['idempotency_conflict', expect.stringContaining('another request')]);
    const keys = await redis.keys(`ik:${scope}:*`);
    expect(keys).toHaveLength(1);
    // The client's key is hashed into the Redis key: a 255-character one costs no more.
    expect(keys[0]).not.toContain('k1');
    expect(await redis.pTTL(keys[0]!)).toBeGreaterThan(kept_ms - 60_000);
  });

  it('keeps nothing of a refusal: the key is free again', async () => {
    const h = hash('{"name":""}');
    expect(await replies.begin(scope, 'k2', h)).toEqual({ run: true });
    await replies.end(scope, 'k2', h, 400, '');
    expect(await replies.begin(scope, 'k2', hash('{"name":"fixed"}'))).toEqual({ run: true });
  });

  it('never keeps an answer with a key, secret, join codes or OTP, nor one over 64 KiB: its copy is 409 naming what was made', async () => {
    const answers = [
      ['k3', '{"id":"bus_1","admin_key":"sk_x"}', 'bus_1'],
      ['k4', '{"id":"ter_1","api_key":"tk_x"}', 'ter_1'],
      ['k5', '{"codes":["A1"]}', 'it succeeded'],
      ['k6', '{"otp":"123456","amount":100}', 'it succeeded'],
      ['k7', JSON.stringify({ id: 'off_1', note: 'x'.repeat(70_000) }), 'off_1'],
    ] as const;
    for (const [key, body, made] of answers) {
      const h = hash(key);
      await replies.begin(scope, key, h);
      await replies.end(scope, key, h, 201, body);
      const copy = await refusal(replies.begin(scope, key, h));
      expect([copy.code, copy.message], key).toEqual(['idempotency_conflict', expect.stringContaining(made)]);
    }
    for (const key of await redis.keys(`ik:${scope}:*`)) {
      const text = (await redis.get(key)) ?? '';
      for (const secret of ['sk_x', 'tk_x', 'A1', '123456']) expect(text).not.toContain(secret);
    }
  });

  it('a Redis that fails the keeping is heard, not thrown: the answer goes out', async () => {
    // A real client, closed: its commands fail as a lost connection's do.
    const closed = await connectRedis(process.env.REDIS_URL!);
    await closed.quit();
    const broken = new AdminReplies(closed, (err) => failures.push(err));
    const before = failures.length;
    await broken.end(scope, 'k8', hash('x'), 201, '{}');
    await broken.end(scope, 'k8', hash('x'), 500, '');
    expect(failures.length - before).toBe(2);
  });
});
