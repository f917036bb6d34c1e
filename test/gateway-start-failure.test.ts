// A gateway whose start fails midway (a port taken) rejects its start and leaves nothing behind:
// before, an HTTP port taken was an 'error' event nobody listened to (the process died), and an
// ISO 8583 port taken left the HTTP server listening, the ledger writer, sweeps and stores running.

import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestGateway } from './helpers.ts';

const held: net.Server[] = [];
afterAll(async () => {
  await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
});

async function listen(port = 0): Promise<net.Server> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve());
  });
  return s;
}
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

async function freePort(): Promise<number> {
  const s = await listen();
  const port = portOf(s);
  await new Promise((r) => s.close(r));
  return port;
}

describe('a start that fails midway', () => {
  it('HTTP port taken: the start rejects (EADDRINUSE)', async () => {
    const taken = await listen();
    held.push(taken);
    await expect(startTestGateway({ port: portOf(taken), host: '127.0.0.1' }, true, false)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('ISO 8583 port taken: the start rejects, and the HTTP port it had taken is free again', async () => {
    const taken = await listen();
    held.push(taken);
    const http_port = await freePort();
    await expect(startTestGateway({ port: http_port, host: '127.0.0.1', iso8583_port: portOf(taken) }, true, true)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const again = await listen(http_port);
    held.push(again);
    expect(portOf(again)).toBe(http_port);
  });
});
