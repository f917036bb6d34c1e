// A gateway started while Redis does not answer: nothing listens before Redis does (the network
// and offers are read from it first), so it says so in its log, and starts once Redis answers.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { eventually } from './helpers.ts';

let stores: OwnStores;

beforeAll(async () => {
  stores = await startOwnStores('start_redis_down');
});
afterAll(async () => {
  await stores.stop();
});

describe('a gateway started while Redis does not answer', () => {
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
      await eventually('the wait for Redis said', async () => output.includes('Redis does not answer'), 5_000);
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
