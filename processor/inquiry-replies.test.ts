// inquiryReply on a real Redis (the test services'): a balance inquiry's reply kept under its key.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inquiry_reply_kept_ms, inquiryKey, inquiryReply, type InquiryStores } from './inquiry-replies.ts';
import { connectRedis, default_config, type RedisClient } from './stores.ts';

let redis: RedisClient;
let stores: InquiryStores;
const terminal = `ter_test${randomBytes(4).toString('hex')}`;
let answered = 0;
const answer = (reply: string) => async () => {
  answered++;
  return reply;
};

beforeAll(async () => {
  redis = await connectRedis(process.env.REDIS_URL!);
  stores = { redis, config: { ...default_config, cim_hmac_key: 'inquiry-replies-test' }, clock: { now: () => Date.now() } };
});
afterAll(async () => {
  await redis.quit();
});

describe('inquiryReply', () => {
  it('keeps the first reply an hour: the same content gets it again unasked, other content a conflict', async () => {
    expect(await inquiryReply(stores, terminal, 'iso:1', 'content-a', answer('balances-1'))).toEqual({ kind: 'reply', reply: 'balances-1' });
    const before = answered;
    expect(await inquiryReply(stores, terminal, 'iso:1', 'content-a', answer('balances-2'))).toEqual({ kind: 'reply', reply: 'balances-1' });
    expect(answered).toBe(before);
    expect(await inquiryReply(stores, terminal, 'iso:1', 'content-b', answer('balances-3'))).toEqual({ kind: 'conflict' });
    const ttl_ms = await redis.pTTL(inquiryKey(stores, terminal, 'iso:1'));
    expect(ttl_ms).toBeGreaterThan(inquiry_reply_kept_ms - 60_000);
    expect(ttl_ms).toBeLessThanOrEqual(inquiry_reply_kept_ms);
  });

  it('another terminal, or another key, is another inquiry', async () => {
    expect(await inquiryReply(stores, `${terminal}x`, 'iso:1', 'content-b', answer('other'))).toEqual({ kind: 'reply', reply: 'other' });
    expect(await inquiryReply(stores, terminal, 'iso:2', 'content-b', answer('other 2'))).toEqual({ kind: 'reply', reply: 'other 2' });
  });

  it('concurrent copies each answer; one reply is kept and every copy gets it', async () => {
    const copies = await Promise.all(Array.from({ length: 20 }, (_, i) => inquiryReply(stores, terminal, 'iso:3', 'content-c', answer(`balances of copy ${i}`))));
    const replies = new Set(copies.map((c) => (c.kind === 'reply' ? c.reply : 'conflict')));
    expect(replies.size).toBe(1);
    expect([...replies][0]).toMatch(/^balances of copy \d+$/);
  });

  it('refuses to keep a reply of more than one line', async () => {
    await expect(inquiryReply(stores, terminal, 'iso:4', 'content-d', answer('a\nb'))).rejects.toThrow(/one line/);
  });
});
