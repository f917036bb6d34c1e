// While the key of an auth frame is being checked, the connection is not read: the frames that
// follow are held until the answer, and what is held is at most what was read before reading
// stopped. Before, reading went on and every frame was held: empty frames (0 characters each,
// so held_max never counted them) piled up for as long as the check took.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Processor } from '../../processor/processor.ts';
import { auth_frame_protocol, terminal_path, TerminalChannel } from './channel.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let server: Server | undefined;
let channel: TerminalChannel | undefined;

afterEach(async () => {
  await channel?.close();
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = channel = undefined;
});

/** A channel whose key checks wait until `answer` is called (a slow Redis); every key valid with `valid`. */
async function opened(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${terminal_path}`, auth_frame_protocol);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

/** Until nothing moves: the client sent all it could, the server read all it would. */
async function settled(ws: WebSocket): Promise<void> {
  let before = '';
  for (let now = `${ws.bufferedAmount} ${heldFrames()}`; now !== before; now = `${ws.bufferedAmount} ${heldFrames()}`) {
    before = now;
    await sleep(300);
  }
}

async function slowChannel(valid = false): Promise<{ port: number; answer: () => void }> {
  let answer = (): void => {};
  const principal = valid ? { kind: 'terminal' } : undefined;
  const checked = new Promise<unknown>((resolve) => (answer = () => resolve(principal)));
  const processor = { network: { authenticate: () => checked, onKeyRevoked: () => () => {} } } as unknown as Processor;
  channel = new TerminalChannel(processor, pino({ level: 'silent' }));
  server = createServer();
  channel.attach(server);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, answer };
}

/** Frames read and not yet run, over the channel's connections (held_max counts characters, not these). */
function heldFrames(): number {
  const connections = (channel as unknown as { connections: Set<{ held: string[]; held_next: number }> }).connections;
  let n = 0;
  for (const c of connections) n += c.held.length - c.held_next;
  return n;
}

describe('the auth frame being checked', () => {
  it('stops reading the connection: the frames sent meanwhile are not all held', async () => {
    const { port, answer } = await slowChannel();
    const ws = await opened(port);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(JSON.stringify({ op: 'auth', key: 'tk_whatever' }));
    const frames = 100_000;
    for (let i = 0; i < frames; i++) ws.send('');
    await settled(ws);
    const held = heldFrames();
    const answered_ms = Date.now();
    answer();
    expect(await closed).toBe(4401);
    // Read again to close: the client's close frame is read at once, not waited for 30 s.
    expect(Date.now() - answered_ms).toBeLessThan(5_000);
    // One read's worth (64 KiB of 6-byte frames) at most, not every frame sent.
    expect(held).toBeLessThan(frames / 4);
  });

  it('a key found good: every frame sent meanwhile is run, in order, once reading resumes', async () => {
    const { port, answer } = await slowChannel(true);
    const ws = await opened(port);
    const replies: string[] = [];
    ws.on('message', (data) => replies.push(String(data)));
    ws.send(JSON.stringify({ op: 'auth', key: 'tk_whatever' }));
    const frames = 20_000;
    for (let i = 0; i < frames; i++) ws.send(`{"id":"${i}"}`);
    await settled(ws);
    answer();
    const end = Date.now() + 20_000;
    while (replies.length < frames + 1 && Date.now() < end) await sleep(20);
    expect(replies[0]).toBe('{"id":null,"status":200}');
    expect(replies.slice(1).map((r) => (JSON.parse(r) as { id: string }).id)).toEqual(Array.from({ length: frames }, (_, i) => String(i)));
    ws.close();
  });
});
