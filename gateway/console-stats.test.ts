// The dashboard's counts on a real Redis of the test's own: what a failing Redis could not take is
// added once it can, under the seconds it was counted in (a console probe found a Redis outage's
// 503s, the declines most worth seeing, all lost).

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnRedis, type OwnRedis } from '../test/own-redis.ts';
import { ConsoleStats, window_seconds } from './console-stats.ts';

let own: OwnRedis;

beforeAll(async () => {
  own = await startOwnRedis();
});
afterAll(async () => {
  await own?.stop();
});

const quiet = pino({ level: 'silent' });

describe('ConsoleStats', () => {
  it('keeps the counts of seconds Redis refused, adds them once it takes writes again, once each', async () => {
    const stats = new ConsoleStats(own.client, quiet);
    const now_ms = Date.now();
    stats.record('bus_a', true, 0.002);
    stats.record('bus_b', true, 0.002);
    await stats.flush(now_ms - 3_000);
    await own.client.configSet('maxmemory', '1');
    try {
      for (let i = 0; i < 5; i++) stats.record('bus_a', false, 0.001);
      await stats.flush(now_ms - 2_000);
      stats.record('bus_a', false, 0.001);
      await stats.flush(now_ms - 1_000);
    } finally {
      await own.client.configSet('maxmemory', '0');
    }
    const before = await stats.read('bus_a');
    expect(before.per_second.reduce((n, s) => n + s.declined, 0)).toBe(0); // not in Redis yet
    await stats.flush(now_ms);
    await stats.flush(now_ms + 1); // nothing waits now: nothing is added twice
    const after = await stats.read('bus_a');
    const at = (ms: number) => new Date(Math.floor(ms / 1_000) * 1_000).toISOString().replace('.000Z', 'Z');
    const second = (ms: number) => after.per_second.find((s) => s.at === at(ms));
    expect(second(now_ms - 3_000)).toMatchObject({ approved: 1, declined: 0 });
    expect(second(now_ms - 2_000)).toMatchObject({ approved: 0, declined: 5 });
    expect(second(now_ms - 1_000)).toMatchObject({ approved: 0, declined: 1 });
    expect(after.per_second.reduce((n, s) => n + s.declined, 0)).toBe(6);
    expect((await stats.read('bus_b')).per_second.reduce((n, s) => n + s.approved, 0)).toBe(1);
  });

  it('adds counts once though a flush begins while the last still waits for Redis (a review: a slow Redis took them twice)', async () => {
    const stats = new ConsoleStats(own.client, quiet);
    const now_ms = Date.now() - 5_000; // the dashboard reads the seconds before the current one
    stats.record('bus_slow', false, 0.001);
    process.kill(own.pid, 'SIGSTOP');
    let first: Promise<void>;
    try {
      first = stats.flush(now_ms);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await stats.flush(now_ms + 1_000); // finds nothing waiting: the first holds it
    } finally {
      process.kill(own.pid, 'SIGCONT');
    }
    await first;
    await stats.flush(now_ms + 2_000);
    expect((await stats.read('bus_slow')).per_second.reduce((n, s) => n + s.declined, 0)).toBe(1);
  });

  it('drops what waited longer than the dashboard shows', async () => {
    const stats = new ConsoleStats(own.client, quiet);
    const now_ms = Date.now();
    await own.client.configSet('maxmemory', '1');
    try {
      stats.record('bus_old', false, 0.001);
      await stats.flush(now_ms - (window_seconds + 5) * 1_000);
    } finally {
      await own.client.configSet('maxmemory', '0');
    }
    await stats.flush(now_ms);
    expect(await own.client.keys('*bus_old*')).toEqual([]);
  });
});
