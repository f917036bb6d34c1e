// The HTTP server holds at most http_connections_max connections (HTTP_CONNECTIONS_MAX): one more
// is closed as it opens, as the ISO 8583 server's connections_max does, so whoever opens
// connections cannot make the gateway hold sockets and parsers without bound.

import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
const sockets: Socket[] = [];

beforeAll(async () => {
  gw = await startTestGateway({ http_connections_max: 3 }, true, false);
});
afterAll(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await gw?.close();
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A keep-alive connection: what it has read, whether the server closed it, and a GET /healthz on it. */
async function open() {
  const socket = connect(gw.port, '127.0.0.1');
  sockets.push(socket);
  const state = { closed: false, answers: 0 };
  socket.on('data', (d: Buffer) => (state.answers += d.toString('latin1').split('HTTP/1.1 200').length - 1));
  socket.on('error', () => {});
  socket.on('close', () => (state.closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const healthz = () => socket.write('GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n');
  return { socket, state, healthz };
}

describe('HTTP connections are bounded (http_connections_max)', () => {
  it('closes a connection past the bound as it opens; the others are served, and a freed place is taken again', async () => {
    const kept = [await open(), await open(), await open()];
    kept.forEach((c) => c.healthz());
    await until('the kept connections served', () => kept.every((c) => c.state.answers === 1));
    const extra = await open();
    extra.healthz();
    await until('the extra connection closed', () => extra.state.closed);
    expect(extra.state.answers).toBe(0);
    expect(gw.logs.filter((l) => l.includes('http_connections_max reached'))).toHaveLength(1);
    kept.forEach((c) => c.healthz());
    await until('the kept connections served again', () => kept.every((c) => c.state.answers === 2));
    expect(kept.every((c) => !c.state.closed)).toBe(true);
    kept[0]!.socket.destroy();
    await sleep(100);
    const again = await open();
    again.healthz();
    await until('the new connection served', () => again.state.answers === 1);
    expect(again.state.closed).toBe(false);
  });
});
