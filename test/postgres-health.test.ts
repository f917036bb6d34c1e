// The PostgreSQL probe admin calls rely on (processor/postgres-health.ts), against the real test
// PostgreSQL behind a proxy that forwards, refuses or hangs.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresHealth } from '../processor/postgres-health.ts';
import { startPgProxy, type PgProxy } from './pg-proxy.ts';

let proxy: PgProxy;
let health: PostgresHealth;

beforeAll(async () => {
  proxy = await startPgProxy('forward');
  health = new PostgresHealth(proxy.url, { interval_ms: 100, timeout_ms: 500 });
});
afterAll(async () => {
  await health?.stop();
  await proxy?.close();
});

async function timed<T>(work: Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const value = await work;
  return [value, Date.now() - started];
}

describe('PostgresHealth', () => {
  it('is up when PostgreSQL answers, down within its deadline when it hangs or refuses, and up again after', async () => {
    expect(await health.check()).toBe(true);
    expect(health.up).toBe(true);

    let told = 0;
    health.onceDown(() => told++);
    await proxy.set('hang');
    const [hung, hung_ms] = await timed(health.check());
    expect(hung).toBe(false);
    expect(hung_ms).toBeLessThan(1_000);
    expect(health.up).toBe(false);
    expect(told).toBe(1);

    await proxy.set('refuse');
    const [refused, refused_ms] = await timed(health.check());
    expect(refused).toBe(false);
    expect(refused_ms).toBeLessThan(1_000);
    expect(told).toBe(1); // a listener is told once

    await proxy.set('forward');
    // The hung connection was dropped: a new one answers.
    expect(await health.check()).toBe(true);
    expect(health.up).toBe(true);
  });

  it('probes on its own once started, and a cancelled listener is not told', async () => {
    let told = 0;
    const cancel = health.onceDown(() => told++);
    cancel();
    let told_after = 0;
    health.onceDown(() => told_after++);
    health.start();
    await proxy.set('hang');
    const started = Date.now();
    while (told_after === 0 && Date.now() - started < 3_000) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(told_after).toBe(1);
    expect(told).toBe(0);
    expect(Date.now() - started).toBeLessThan(1_500);
    await proxy.set('forward');
  });
});
