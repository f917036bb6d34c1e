// `gateway/main.ts` (what `npm start` runs) given a setting it cannot start with: one clear line
// naming what is wrong, and an exit code that is not 0, at once; never a stack trace, never a
// loop of processes starting and dying (GATEWAY_PROCESSES > 1). And a signal during the start
// stops the process as one after it does: exit 0.

import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startGatewayProcess } from './gateway-process.ts';

const root = join(import.meta.dirname, '..');
const held: net.Server[] = [];
afterAll(async () => {
  await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
});

/** main.ts with `env` over the test's own; its exit code and what it wrote, killed after `timeout_ms`. */
function run(env: Record<string, string>, timeout_ms = 20_000, signal_after_ms?: number): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0', ISO8583_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += String(d)));
  child.stderr.on('data', (d: Buffer) => (output += String(d)));
  const watchdog = setTimeout(() => child.kill('SIGKILL'), timeout_ms);
  const signal = signal_after_ms === undefined ? undefined : setTimeout(() => child.kill('SIGTERM'), signal_after_ms);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(watchdog);
      clearTimeout(signal);
      resolve({ code, output });
    });
  });
}

async function taken(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  held.push(s);
  return (s.address() as net.AddressInfo).port;
}

const lines = (output: string) => output.trim().split('\n');

describe('a gateway that cannot start says why in one line and exits non-zero', () => {
  it.each([
    ['PORT=abc', { PORT: 'abc' }, /PORT/],
    ['LOG_LEVEL=verbose', { LOG_LEVEL: 'verbose' }, /LOG_LEVEL/],
    ['REDIS_URL malformed', { REDIS_URL: 'not a url' }, /REDIS_URL/],
    ['REDIS_URL of another scheme', { REDIS_URL: 'http://127.0.0.1:6379' }, /REDIS_URL/],
    ['DATABASE_URL malformed', { DATABASE_URL: 'not a url' }, /DATABASE_URL/],
  ])('%s', async (_, env, names) => {
    const { code, output } = await run(env);
    expect(code, output).toBe(1);
    expect(lines(output), output).toHaveLength(1);
    expect(output).toMatch(names);
  });

  it('the HTTP port taken', async () => {
    const port = await taken();
    const { code, output } = await run({ PORT: String(port) });
    expect(code, output).toBe(1);
    expect(lines(output).filter((l) => !l.startsWith('{')), output).toHaveLength(1);
    expect(output).toMatch(/EADDRINUSE/);
    expect(output).not.toMatch(/\n\s+at /);
  });

  it('the ISO 8583 port taken: the one line, no stack (an operator probe found the server error logged whole)', async () => {
    const port = await taken();
    const { code, output } = await run({ ISO8583_PORT: String(port) });
    expect(code, output).toBe(1);
    expect(output).toMatch(/EADDRINUSE/);
    expect(output).not.toMatch(/\n\s+at |\\n\s+at /);
    expect(output).not.toContain('iso8583: server error');
  });

  it('a malformed URL is not echoed (it may hold a password)', async () => {
    const { output } = await run({ DATABASE_URL: 'postgres://user:s3cret-pw@[bad/x' });
    expect(output).toMatch(/DATABASE_URL/);
    expect(output).not.toMatch(/s3cret-pw/);
  });

  it('GATEWAY_PROCESSES=2 with a bad setting: exits 1, no process started again and again', async () => {
    const { code, output } = await run({ GATEWAY_PROCESSES: '2', PORT: 'abc' }, 15_000);
    expect(code, output).toBe(1);
    expect(output).not.toMatch(/starting another/);
  });

  it('GATEWAY_PROCESSES=2 with the port taken: exits 1, no process started again and again', async () => {
    const port = await taken();
    const { code, output } = await run({ GATEWAY_PROCESSES: '2', PORT: String(port) }, 15_000);
    expect(code, output).toBe(1);
    expect(output).not.toMatch(/starting another/);
    // Said once: the first process starts alone, the others once it serves.
    expect(output.match(/gateway not started/g), output).toHaveLength(1);
    expect(output).not.toMatch(/failed to start/);
  });
});

describe('a signal during the start', () => {
  it('SIGTERM while it waits for Redis: exit 0', async () => {
    const { code, output } = await run({ REDIS_URL: 'redis://127.0.0.1:1' }, 20_000, 6_000);
    expect(output).toMatch(/Redis does not answer/);
    expect(code, output).toBe(0);
  });
});

describe('a start that works', () => {
  it('LOG_LEVEL empty is the default, as an empty number is', async () => {
    const gateway = await startGatewayProcess({ LOG_LEVEL: '' });
    try {
      gateway.child.kill('SIGTERM');
      expect(await gateway.exited).toBe(0);
    } finally {
      gateway.kill();
    }
  });
});
