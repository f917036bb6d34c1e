// node-redis 6.3.1 gave commands each other's replies after the readiness probe dropped a hung
// connection (redis-health.ts: destroy(), then connect() at once): the client's earlier connect
// loop, still waiting on its handshake or its retry, went on beside the new one, and two sockets
// fed one reply queue (upstream node-redis #2186, #2320: two #connect loops on one RedisSocket;
// patches/@redis+client+6.3.1.patch). Found by the black-box audit of OPERATIONS.md: a gateway
// read its settings as 'OK' (a handshake's reply) and stopped.
//
// Here a Redis of the test's own is kept busy by Lua scripts of 0.8–2.3 s (no reply at all to
// anyone meanwhile, under the default 5 s busy threshold), so that the probe, at a 300 ms
// deadline, drops the connection again and again, while four loops read values whose answer is
// known. Unpatched, 15 s of this gave 5–16 replies of another command in each run.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisHealth } from '../processor/redis-health.ts';
import { createRedis, type RedisClient } from '../processor/stores.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
beforeAll(async () => {
  own = await startOwnRedis();
});
afterAll(async () => {
  await own?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const busy_script = `local t = redis.call('TIME') local s = t[1] * 1000 + t[2] / 1000
while true do local n = redis.call('TIME') if n[1] * 1000 + n[2] / 1000 - s > tonumber(ARGV[1]) then break end end return 1`;

describe('a connection dropped by the probe, again and again', () => {
  it('never gives a command another command\'s reply', async () => {
    await own.client.hSet('known', { a: '16', b: '7' });
    await own.client.set('known-string', 'x');
    const client: RedisClient = createRedis(own.url);
    await client.connect();
    const health = new RedisHealth(client, { interval_ms: 50, timeout_ms: 300 });
    health.start();
    const busy = createRedis(own.url);
    await busy.connect();
    const until = Date.now() + 15_000;
    const wrong: string[] = [];
    let right = 0;
    const keepBusy = async () => {
      while (Date.now() < until) {
        await busy.sendCommand(['EVAL', busy_script, '0', String(800 + Math.floor(Math.random() * 1_500))]).catch(() => {});
        await sleep(Math.random() * 300);
      }
    };
    const read = async (with_multi: boolean) => {
      while (Date.now() < until) {
        try {
          // A MULTI is queued while the connection is being made again, where single commands fail fast.
          if (with_multi) await client.multi().hSetNX('known', 'a', '16').hSetNX('known', 'b', '7').exec().catch(() => {});
          const hash: unknown = await client.hmGet('known', ['a', 'b']);
          if (JSON.stringify(hash) === '["16","7"]') right++;
          else wrong.push(`HMGET ${JSON.stringify(hash)}`);
          const text: unknown = await client.get('known-string');
          if (text === 'x') right++;
          else wrong.push(`GET ${JSON.stringify(text)}`);
        } catch {
          // Refused while the connection is down: what the POS answers 503 for.
        }
        await sleep(Math.random() * 5);
      }
    };
    try {
      await Promise.all([keepBusy(), read(true), read(true), read(false), read(false)]);
    } finally {
      health.stop();
      await busy.close().catch(() => busy.destroy());
    }
    await eventuallyReady(client);
    expect(await client.hmGet('known', ['a', 'b'])).toEqual(['16', '7']);
    client.destroy();
    expect(health.stalls, 'the probe dropped the connection often').toBeGreaterThanOrEqual(10);
    expect(right, 'reads answered between the stalls').toBeGreaterThan(100);
    expect(wrong).toEqual([]);
  }, 60_000);
});

async function eventuallyReady(client: RedisClient): Promise<void> {
  for (let i = 0; i < 100 && !client.isReady; i++) await sleep(50);
}
