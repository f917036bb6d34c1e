// A process started with SHARDS, REFERENCE_BUCKETS, CIM_INDEX_BUCKETS or CIM_HMAC_KEY other than what the stored data was made with
// refuses to run and says which (processor/settings.ts), where before it ran and looked for every
// wallet on the wrong shard, or for every CIM under the wrong token: a gateway, the ledger writer,
// reconcile, and rebuild forced over data. SHARDS changes the one way that lays Redis out anew: a
// new Redis filled by rebuild.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTs } from './child-run.ts';
import { eventually } from './helpers.ts';
import { startGatewayProcess } from './gateway-process.ts';
import { runCommand, startOwnStores, type OwnStores } from './own-stores.ts';
import { startPgProxy } from './pg-proxy.ts';

const root = join(import.meta.dirname, '..');
let stores: OwnStores;
let starts: OwnStores;
const key = 'settings-test-key';

beforeAll(async () => {
  [stores, starts] = await Promise.all([startOwnStores('settings'), startOwnStores('settings_starts')]);
});
afterAll(async () => {
  await stores?.stop();
  await starts?.stop();
});

/** A process's environment on `on` (the first describe's stores unless given), SHARDS=8 and `key` unless `over` says otherwise. */
function env(over: Record<string, string> = {}, on = stores): Record<string, string> {
  return { REDIS_URL: on.redis.url, DATABASE_URL: on.database_url, CIM_HMAC_KEY: key, SHARDS: '8', PLATFORM_API_KEY: 'pk_settings', ...over };
}

/** A node entry point of ours with `env`: its exit code and everything it wrote. */
async function run(file: string, over: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const { code, stdout, stderr } = await runTs(file, [], { env: { PORT: '0', ISO8583_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env(over) }, kill_after_ms: 30_000 });
  return { code, output: stdout + stderr };
}

async function startsAndStops(over: Record<string, string> = {}, on = stores): Promise<void> {
  const gateway = await startGatewayProcess(env(over, on));
  try {
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited, gateway.output()).toBe(0);
  } finally {
    gateway.kill();
  }
}

describe('the settings the data was made with', () => {
  it('a gateway starts with them again; with another SHARDS or CIM_HMAC_KEY it says which in one line and exits 1', async () => {
    await startsAndStops();
    await startsAndStops();
    const shards = await run('gateway/main.ts', { SHARDS: '16' });
    expect(shards.code, shards.output).toBe(1);
    expect(shards.output.trim().split('\n'), shards.output).toHaveLength(1);
    expect(shards.output).toMatch(/SHARDS=16, but Redis holds data laid out for SHARDS=8/);
    const processes = await run('gateway/main.ts', { SHARDS: '16', GATEWAY_PROCESSES: '3' });
    expect(processes.code, processes.output).toBe(1);
    expect(processes.output.trim().split('\n'), processes.output).toHaveLength(1);
    const buckets = await run('gateway/main.ts', { REFERENCE_BUCKETS: '7' });
    expect(buckets.code, buckets.output).toBe(1);
    expect(buckets.output).toMatch(/REFERENCE_BUCKETS=7, but Redis holds data laid out for REFERENCE_BUCKETS=\d+/);
    const cim = await run('gateway/main.ts', { CIM_HMAC_KEY: 'another-key' });
    expect(cim.code, cim.output).toBe(1);
    expect(cim.output.trim().split('\n'), cim.output).toHaveLength(1);
    expect(cim.output).toMatch(/CIM_HMAC_KEY is not the key Redis's CIM tokens were made with/);
    expect(cim.output).not.toContain('another-key');
  });

  it('a new, empty Redis with another CIM_HMAC_KEY: PostgreSQL’s tokens refuse it', async () => {
    await stores.redis.client.flushAll();
    const cim = await run('gateway/main.ts', { CIM_HMAC_KEY: 'another-key' });
    expect(cim.code, cim.output).toBe(1);
    expect(cim.output).toMatch(/CIM_HMAC_KEY is not the key PostgreSQL's CIM tokens were made with/);
  });

  it('the ledger writer and reconcile refuse another SHARDS; rebuild into a new Redis lays it out with a new one', async () => {
    await startsAndStops(); // the Redis emptied above holds SHARDS=8 again
    const writer = await run('processor/ledger/writer-main.ts', { SHARDS: '16' });
    expect(writer.code, writer.output).toBe(1);
    expect(writer.output.trim().split('\n'), writer.output).toHaveLength(1);
    expect(writer.output).toMatch(/SHARDS=16, but Redis holds data laid out for SHARDS=8/);
    const reconcile = await runCommand('reconcile-main.ts', ['--wait-seconds', '5'], env({ SHARDS: '16' }));
    expect(reconcile.code, reconcile.stderr).toBe(2);
    expect(reconcile.stderr).toMatch(/SHARDS=16, but Redis holds data laid out for SHARDS=8/);
    // A Redis holding data (a contact's hash; a Redis without any is laid out anew, as below).
    await stores.redis.client.hSet('c:{s0}:con_settings', 'b', 'bus_settings');
    const forced = await runCommand('rebuild-main.ts', ['--force'], env({ SHARDS: '16' }));
    expect(forced.code, forced.stderr).toBe(2);
    expect(forced.stderr).toMatch(/SHARDS=16, but Redis holds data laid out for SHARDS=8/);

    await stores.redis.client.flushAll();
    const rebuilt = await runCommand('rebuild-main.ts', [], env({ SHARDS: '16' }));
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    await startsAndStops({ SHARDS: '16' });
    const old = await run('gateway/main.ts', {});
    expect(old.code, old.output).toBe(1);
    expect(old.output).toMatch(/SHARDS=8, but Redis holds data laid out for SHARDS=16/);
    const clean = await runCommand('reconcile-main.ts', ['--wait-seconds', '5'], env({ SHARDS: '16' }));
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
  });
});

// The starts the tests above do not take: a gateway started during a PostgreSQL outage that finds,
// once PostgreSQL is back, that the ledger's CIM tokens were made with another key; and `npm run
// rebuild` on a Redis a gateway already started on.
describe('the settings the data was made with, at every start', () => {
  it('a gateway started during a PostgreSQL outage on a new Redis with another CIM_HMAC_KEY exits 1 once PostgreSQL is back and refuses it', async () => {
    await startsAndStops({}, starts); // PostgreSQL's tokens are made with the key
    await starts.redis.client.flushAll(); // a new Redis: nothing in it tells the key
    const proxy = await startPgProxy('refuse');
    const url = new URL(proxy.url);
    url.pathname = new URL(starts.database_url).pathname;
    const gateway = await startGatewayProcess(env({ DATABASE_URL: url.toString(), CIM_HMAC_KEY: 'another-key', LEDGER_WRITER: 'off' }, starts), 30_000);
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
    await starts.redis.client.flushAll();
    const gateway = await startGatewayProcess(env({ LEDGER_WRITER: 'off' }, starts));
    try {
      const rebuilt = await runCommand('rebuild-main.ts', [], env({ SHARDS: '16' }, starts));
      expect(rebuilt.code, rebuilt.stdout + rebuilt.stderr).toBe(2);
      expect(rebuilt.stderr).toMatch(/SHARDS=16, but Redis holds data laid out for SHARDS=8/);
      expect(await starts.redis.client.hGet('settings', 'shards')).toBe('8');
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
      gateway.kill();
    }
    // The same SHARDS as the gateway's rebuilds.
    const same = await runCommand('rebuild-main.ts', [], env({}, starts));
    expect(same.code, same.stdout + same.stderr).toBe(0);
  });

  it('Redis restarting empty while a gateway and a writer serve: they write their settings again, rebuild with another SHARDS is refused, and settings another wrote meanwhile stop them (exit 1, one line)', async () => {
    await starts.redis.client.flushAll();
    const gateway = await startGatewayProcess(env({ LEDGER_WRITER: 'off' }, starts));
    const writer = spawn(process.execPath, ['--import', 'tsx', 'processor/ledger/writer-main.ts'], { cwd: root, env: { ...process.env, LOG_LEVEL: 'silent', ...env({}, starts) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let writer_output = '';
    writer.stdout.on('data', (d: Buffer) => (writer_output += String(d)));
    writer.stderr.on('data', (d: Buffer) => (writer_output += String(d)));
    const writer_exited = new Promise<number | null>((resolve) => writer.on('exit', resolve));
    try {
      await eventually('the writer started', async () => writer.exitCode === null && (await starts.redis.client.exists('settings')) === 1);
      await starts.redis.client.flushAll(); // Redis restarted with nothing
      await eventually('the settings written again', async () => (await starts.redis.client.hGet('settings', 'shards')) === '8', 5_000);
      const rebuilt = await runCommand('rebuild-main.ts', [], env({ SHARDS: '16' }, starts));
      expect(rebuilt.code, rebuilt.stdout + rebuilt.stderr).toBe(2);
      expect(rebuilt.stderr).toMatch(/SHARDS=16, but Redis holds data laid out for SHARDS=8/);

      // Another process's settings in the moment before theirs (a rebuild with SHARDS=16 first).
      await starts.redis.client.flushAll();
      await starts.redis.client.hSet('settings', 'shards', '16');
      const gateway_exit = await Promise.race([gateway.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 10_000))]);
      expect(gateway_exit, gateway.output()).toBe(1);
      expect(gateway.output()).toMatch(/gateway stopped: SHARDS=8, but Redis holds data laid out for SHARDS=16/);
      const writer_exit = await Promise.race([writer_exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 10_000))]);
      expect(writer_exit, writer_output).toBe(1);
      expect(writer_output.trim().split('\n'), writer_output).toHaveLength(1); // LOG_LEVEL=silent: its logs aside, what it says to stop
      expect(writer_output).toMatch(/ledger writer stopped: SHARDS=8, but Redis holds data laid out for SHARDS=16/);
    } finally {
      gateway.kill();
      writer.kill('SIGKILL');
    }
  }, 60_000);

  it('GATEWAY_PROCESSES=2 serving when Redis is laid out by another: the workers stop, none is started again, exit 1', async () => {
    await starts.redis.client.flushAll();
    const gateway = await startGatewayProcess(env({ LEDGER_WRITER: 'off', GATEWAY_PROCESSES: '2' }, starts));
    try {
      await eventually('both workers serving', async () => (gateway.output().match(/gateway listening/g) ?? []).length === 2);
      await starts.redis.client.flushAll();
      await starts.redis.client.hSet('settings', 'shards', '16');
      const exit = await Promise.race([gateway.exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 15_000))]);
      expect(exit, gateway.output()).toBe(1);
      expect(gateway.output()).toMatch(/gateway stopped: SHARDS=8, but Redis holds data laid out for SHARDS=16/);
      expect(gateway.output()).not.toMatch(/starting another|not started/);
    } finally {
      gateway.kill();
    }
  }, 60_000);
});
