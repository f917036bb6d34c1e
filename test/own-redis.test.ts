// A test's own Redis is the process it started, never another test file's server that took the
// port first (the fresh clone's run at 03:34 on 2 December compared a quote's Redis with another
// file's businesses in it).

import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectTo, PortTaken, startOwnRedis, type OwnRedis } from './own-redis.ts';

let first: OwnRedis;

beforeAll(async () => {
  first = await startOwnRedis();
});
afterAll(async () => {
  await first?.stop();
});

it('answers with the process it started', async () => {
  const info = String(await first.client.sendCommand(['INFO', 'server']));
  expect(info).toMatch(new RegExp(`^process_id:${first.pid}\\r?$`, 'm'));
});

it('refuses a port another server holds, rather than handing back that server', async () => {
  const port = Number(new URL(first.url).port);
  const second = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await first.client.set('whose', 'first');
  await expect(connectTo(second, port)).rejects.toBeInstanceOf(PortTaken);
  expect(await first.client.get('whose')).toBe('first');
});

it('says so when its server exits with nothing on the port (it waited for ever before)', async () => {
  const server = spawn('redis-server', ['--port', 'not-a-port'], { stdio: 'ignore' });
  await expect(connectTo(server, 1)).rejects.toBeInstanceOf(PortTaken);
});
