// The settings kept with the data (processor/settings.ts), through the starts test/data-settings
// does not take: a gateway started during a PostgreSQL outage that finds, once PostgreSQL is back,
// that the ledger's CIM tokens were made with another key; and `npm run rebuild` on a Redis a
// gateway already started on (README: "A gateway, a ledger writer, reconcile or rebuild started
// with another value says which in one line and refuses to run (a gateway exits 1, reconcile and
// rebuild 2)").

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayProcess } from './gateway-process.ts';
import { runCommand, startOwnStores, type OwnStores } from './own-stores.ts';
import { startPgProxy } from './pg-proxy.ts';

let stores: OwnStores;

beforeAll(async () => {
  stores = await startOwnStores('settings_starts');
});
afterAll(async () => {
  await stores?.stop();
});

function env(over: Record<string, string> = {}): Record<string, string> {
  return { REDIS_URL: stores.redis.url, DATABASE_URL: stores.database_url, CIM_HMAC_KEY: 'starts-key', SHARDS: '8', PLATFORM_API_KEY: 'pk_starts', ...over };
}

async function startsAndStops(over: Record<string, string> = {}): Promise<void> {
  const gateway = await startGatewayProcess(env(over));
  try {
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited, gateway.output()).toBe(0);
  } finally {
    gateway.kill();
  }
}

describe('the settings the data was made with, at every start', () => {
  it('a gateway started during a PostgreSQL outage on a new Redis with another CIM_HMAC_KEY exits 1 once PostgreSQL is back and refuses it', async () => {
    await startsAndStops(); // PostgreSQL's tokens are made with starts-key
    await stores.redis.client.flushAll(); // a new Redis: nothing in it tells the key
    const proxy = await startPgProxy('refuse');
    const url = new URL(proxy.url);
    url.pathname = new URL(stores.database_url).pathname;
    const gateway = await startGatewayProcess(env({ DATABASE_URL: url.toString(), CIM_HMAC_KEY: 'another-key', LEDGER_WRITER: 'off' }), 30_000);
    try {
      await proxy.set('forward');
      const exited = await Promise.race([gateway.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 12_000))]);
      expect(exited, gateway.output()).toBe(1);
      expect(gateway.output()).toMatch(/CIM_HMAC_KEY is not the key PostgreSQL's CIM tokens were made with/);
      expect(gateway.output()).not.toContain('another-key');
    } finally {
      gateway.kill();
      await proxy.close();
    }
  });

  it('rebuild on an empty Redis a gateway already started on with SHARDS=8 refuses SHARDS=16 (exit 2), and lays out none of its own', async () => {
    await stores.redis.client.flushAll();
    const gateway = await startGatewayProcess(env({ LEDGER_WRITER: 'off' }));
    try {
      const rebuilt = await runCommand('rebuild-main.ts', [], env({ SHARDS: '16' }));
      expect(rebuilt.code, rebuilt.stdout + rebuilt.stderr).toBe(2);
      expect(rebuilt.stderr).toMatch(/SHARDS=16, but Redis holds data laid out for SHARDS=8/);
      expect(await stores.redis.client.hGet('settings', 'shards')).toBe('8');
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
      gateway.kill();
    }
    // The same SHARDS as the gateway's rebuilds.
    const same = await runCommand('rebuild-main.ts', [], env());
    expect(same.code, same.stdout + same.stderr).toBe(0);
  });
});
