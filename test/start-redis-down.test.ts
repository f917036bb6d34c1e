// A gateway started while Redis does not answer: it says so in its log, opens its ports after 1 s
// and answers every call 503 `unavailable` (ISO 8583 DE39 91, /readyz 503) until Redis answers and
// the start has read it (the network copy, the offers), then serves without a restart.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectIso } from '../adapters/iso8583/client.ts';
import { createMessage } from '../adapters/iso8583/codec.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { call, eventually, startTestGateway, testCard, type BusinessFixture } from './helpers.ts';
import { acquiredBusiness, randomAcquirerId } from './acquirer.ts';
import { connects, freePort } from './ports.ts';

let stores: OwnStores;

beforeAll(async () => {
  stores = await startOwnStores('start_redis_down');
});
afterAll(async () => {
  await stores.stop();
});

/** `gateway/main.ts` as `npm start` runs it, on the test's stores, its output kept. */
function spawnGateway(extra: Record<string, string> = {}): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
    cwd: join(import.meta.dirname, '..'),
    env: { ...process.env, REDIS_URL: stores.redis.url, DATABASE_URL: stores.database_url, PORT: '0', ISO8583_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', LEDGER_WRITER: 'off', ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += String(d)));
  child.stderr!.on('data', (d: Buffer) => (output += String(d)));
  return { child, output: () => output };
}

/** redis-cli's answer (a test's own client would reconnect on its own). */
function redisCli(port: string, ...args: string[]): Promise<string> {
  return new Promise((resolve) => execFile('redis-cli', ['-p', port, ...args], (_err, stdout) => resolve(stdout.trim())));
}

function startRedisOn(port: string, args: readonly string[] = []): ChildProcess {
  return spawn('redis-server', ['--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: 'ignore' });
}

/**
 * A Redis on `port` that answers PING, started again while one exits at once: the port of a
 * Redis just stopped may not be free yet (a fresh CI's loaded run waited 10 s for a Redis that
 * had exited, its bind refused).
 */
async function startRedisUp(port: string, args: readonly string[] = []): Promise<ChildProcess> {
  return eventually('Redis up', async () => {
    const redis = startRedisOn(port, args);
    for (let waited_ms = 0; waited_ms < 2_000 && redis.exitCode === null; waited_ms += 25) {
      if ((await redisCli(port, 'PING')) === 'PONG') return redis;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    redis.kill('SIGKILL');
    return undefined;
  }, 30_000);
}



describe('a gateway started with Redis answering', () => {
  it('opens its port only once it serves: the first call on the open port is answered, not 503', async () => {
    // A harness or an orchestrator's TCP probe takes an open port for ready; the start migrates
    // a fresh database and reads Redis first.
    const port = await freePort();
    const { child, output } = spawnGateway({ PORT: String(port), PLATFORM_API_KEY: process.env.PLATFORM_API_KEY!, CIM_HMAC_KEY: process.env.CIM_HMAC_KEY! });
    try {
      await eventually('the port open', () => connects(port), 30_000);
      const [ready, made] = await Promise.all([
        fetch(`http://127.0.0.1:${port}/readyz`),
        fetch(`http://127.0.0.1:${port}/v1/businesses`, { method: 'POST', headers: { authorization: `Bearer ${process.env.PLATFORM_API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'First on the port', currency: 'EUR' }) }),
      ]);
      expect(ready.status, output().slice(-2_000)).toBe(200);
      expect(made.status, await made.text()).toBe(201);
      expect(output()).not.toContain('ports open: calls answer 503');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('a gateway started while Redis does not answer', () => {
  it('answers 503 at once while Redis is down (ISO 8583 91, /readyz 503), then serves once Redis answers, without a restart', async () => {
    // The business and its contact are made beforehand on a Redis with a dump of its own; it is
    // stopped, and comes back later from its dump, as a restarted Redis does.
    const redis_port = new URL(stores.redis.url).port;
    const dump_dir = mkdtempSync(join(tmpdir(), 'pocketgate-start-down-'));
    await stores.redis.stop();
    let redis = await startRedisUp(redis_port, ['--dir', dump_dir]);
    const made = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url, ledger_writer: false });
    const acquirer = randomAcquirerId();
    let biz: BusinessFixture;
    try {
      biz = await acquiredBusiness(made, acquirer);
      expect((await call(made, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(31_000_001) }] })).status).toBe(201);
      expect((await call(made, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'before', cim: { type: 'card', value: testCard(31_000_001) }, amount: 1000, currency: 'EUR' })).status).toBe(201);
    } finally {
      await made.close();
    }
    await redisCli(redis_port, 'SHUTDOWN', 'SAVE');
    await new Promise((resolve) => (redis.exitCode === null ? redis.once('exit', resolve) : resolve(undefined)));
    const { child, output } = spawnGateway({ PLATFORM_API_KEY: process.env.PLATFORM_API_KEY!, CIM_HMAC_KEY: process.env.CIM_HMAC_KEY! });
    try {
      const open = await eventually('the ports open', async () => /"port":(\d+),"iso8583_port":(\d+)[^\n]*ports open/.exec(output()) ?? undefined, 20_000);
      const base = `http://127.0.0.1:${open[1]}`;
      const purchase = () => fetch(`${base}/v1/purchases`, {
        method: 'POST',
        headers: { authorization: `Bearer ${biz.terminal_key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reference: 'after', cim: { type: 'card', value: testCard(31_000_001) }, amount: 2000, currency: 'EUR' }),
        signal: AbortSignal.timeout(5_000),
      });

      const began = Date.now();
      const refused = await purchase();
      expect(Date.now() - began).toBeLessThan(2_000);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect(((await refused.json()) as { code: string }).code).toBe('unavailable');

      const ready = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000) });
      expect(ready.status).toBe(503);
      // The body OPERATIONS.md gives, ledger_lag a number: none counted yet (it was null, a black-box probe, 2026-12-05).
      expect(await ready.json()).toEqual({ redis: 'down', postgres: 'ok', ledger_lag: 0 });

      const iso = await connectIso(Number(open[2]));
      try {
        const reply = await iso.send(createMessage('0200', { 2: testCard(31_000_001), 3: '000000', 4: '000000001000', 7: '1124101500', 11: '000001', 32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' '), 49: '978' }));
        expect(reply.fields[39]).toBe('91');
      } finally {
        await iso.close();
      }
      expect(output()).not.toContain('gateway listening');

      redis = startRedisOn(redis_port, ['--dir', dump_dir]);
      // Every answer meanwhile is 503 or the approval: never a 401 or 404 of a network not copied yet.
      const statuses = new Set<number>();
      await eventually('the purchase approved once Redis answers', async () => {
        const res = await purchase();
        statuses.add(res.status);
        return res.status === 201;
      }, 30_000);
      expect([...statuses].filter((s) => s !== 503 && s !== 201), output().slice(-2_000)).toEqual([]);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGKILL');
      redis.kill('SIGKILL');
      rmSync(dump_dir, { recursive: true, force: true });
    }
  });

  it('started beside a frozen Redis (SIGSTOP): 503 meanwhile, never exits, serves once Redis thaws', async () => {
    // The probe drops a connection whose handshake is not answered within its deadline, which
    // rejected the start's first connect: the gateway exited 1 ('Disconnects client').
    const redis_port = String(await freePort());
    const redis = startRedisOn(redis_port);
    try {
      await eventually('Redis up', async () => (await redisCli(redis_port, 'PING')) === 'PONG');
      redis.kill('SIGSTOP');
      const { child, output } = spawnGateway({ REDIS_URL: `redis://127.0.0.1:${redis_port}`, PLATFORM_API_KEY: process.env.PLATFORM_API_KEY!, CIM_HMAC_KEY: process.env.CIM_HMAC_KEY! });
      try {
        const open = await eventually('the ports open', async () => /"port":(\d+),"iso8583_port":(\d+)[^\n]*ports open/.exec(output()) ?? undefined, 20_000);
        const base = `http://127.0.0.1:${open[1]}`;
        await eventually('the probe dropped the hung handshake', async () => output().includes('Redis did not answer in time'), 20_000);
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        expect(child.exitCode, output().slice(-2_000)).toBeNull();
        expect((await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000) })).status).toBe(503);
        redis.kill('SIGCONT');
        await eventually('/readyz 200 once Redis thaws', async () => (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000) })).status === 200, 30_000);
        expect(child.exitCode).toBeNull();
      } finally {
        child.kill('SIGKILL');
      }
    } finally {
      redis.kill('SIGCONT');
      redis.kill('SIGKILL');
    }
  });

  it('exits 0 on SIGTERM while it waits for Redis', async () => {
    const { child, output } = spawnGateway({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      await eventually('the wait for Redis said', async () => output().includes('Redis does not answer'), 10_000);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited, output().slice(-2_000)).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('says in its log that it waits for Redis, and listens once Redis answers', async () => {
    const port = new URL(stores.redis.url).port;
    await stores.redis.stop();
    const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, REDIS_URL: stores.redis.url, DATABASE_URL: stores.database_url, PORT: '0', ISO8583_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', LEDGER_WRITER: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += String(d)));
    child.stderr.on('data', (d: Buffer) => (output += String(d)));
    const redis = { server: undefined as ReturnType<typeof spawn> | undefined };
    try {
      await eventually('the wait for Redis said', async () => output.includes('Redis does not answer'), 10_000);
      expect(output).not.toContain('gateway listening');
      redis.server = spawn('redis-server', ['--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      await eventually('listening once Redis answers', async () => output.includes('gateway listening'), 20_000);
      expect(child.exitCode, output.slice(-2_000)).toBeNull();
    } finally {
      child.kill('SIGKILL');
      redis.server?.kill('SIGKILL');
    }
  });
});
