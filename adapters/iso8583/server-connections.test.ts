// The ISO 8583 server holds at most connections_max connections: one more is closed at once,
// so whoever opens connections cannot make the gateway hold sockets, decoders and write buffers
// without bound (the terminal channel's connections_max, for ISO 8583).

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createMessage, decode, encode } from './codec.ts';
import { FrameDecoder, frame } from './framing.ts';
import { createIsoServer, iso_connections_max_default, replyTo, type IsoServer } from './server.ts';

const servers: IsoServer[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close(500)));
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(5);
  }
}

/** A connected socket, its decoded replies and whether the server closed it. */
async function open(port: number) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  sockets.push(socket);
  const state = { closed: false, replies: [] as string[] };
  const decoder = new FrameDecoder({ mode: 'binary2' });
  socket.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) state.replies.push(decode(Buffer.from(f)).fields[39] ?? '');
  });
  socket.on('error', () => {});
  socket.on('close', () => (state.closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const echo = (stan: number) => socket.write(frame(encode(createMessage('0800', { 7: '0101120000', 11: String(stan).padStart(6, '0'), 41: 'TERM0001', 70: '301' })), 'binary2'));
  return { socket, state, echo };
}

describe('ISO 8583 connections_max', () => {
  it('closes a connection past connections_max at once; the others are served, and a freed place is taken again', async () => {
    const server = createIsoServer({ handler: async (msg) => replyTo(msg, '00'), connections_max: 3 });
    servers.push(server);
    const port = await server.listen(0, '127.0.0.1');
    const kept = [await open(port), await open(port), await open(port)];
    await until(() => server.connections === 3);
    const extra = await open(port);
    await until(() => extra.state.closed);
    expect(server.connections).toBe(3);
    kept.forEach((c, i) => c.echo(i + 1));
    await until(() => kept.every((c) => c.state.replies.length === 1));
    expect(kept.map((c) => c.state.replies[0])).toEqual(['00', '00', '00']);
    kept[0]!.socket.destroy();
    await until(() => server.connections === 2);
    const again = await open(port);
    again.echo(9);
    await until(() => again.state.replies.length === 1);
    expect(again.state.closed).toBe(false);
  });

  it('is bounded by default', () => {
    expect(Number.isInteger(iso_connections_max_default)).toBe(true);
    expect(() => createIsoServer({ handler: async () => null, connections_max: 0 })).toThrow(RangeError);
  });
});
