// The test client (client.ts) against a plain TCP peer that echoes each request back as its
// reply: a request it refuses is never sent.

import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectIso } from './client.ts';
import { createMessage, decode, encode } from './codec.ts';
import { FrameDecoder, frame } from './framing.ts';

let server: net.Server;
let port: number;
/** Every request the peer received, as its DE11. */
const received: string[] = [];

beforeAll(async () => {
  server = net.createServer((socket) => {
    const frames = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      frames.write(chunk);
      for (let body = frames.read(); body !== null; body = frames.read()) {
        const msg = decode(Buffer.from(body));
        received.push(msg.fields[11] ?? '');
        // Answered later, so that a second send finds the first still in flight.
        const reply = frame(encode(createMessage('0810', { 11: msg.fields[11]!, 41: msg.fields[41]!, 39: '00' })));
        setTimeout(() => socket.write(reply), 50);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server?.close();
});

describe('the ISO 8583 test client', () => {
  // Until 2026-12-04 the copy was refused and sent all the same: the peer's two answers went to
  // the one wait, and a black-box probe read one approval and 94s that were 00s.
  it('a copy of a request in flight (same DE11 and DE41) is refused and not sent', async () => {
    const client = await connectIso(port);
    const msg = createMessage('0800', { 7: '1204120000', 11: '000777', 41: 'TERM0001', 70: '301' });
    const first = client.send(msg);
    await expect(client.send(msg)).rejects.toThrow(/already in flight/);
    expect((await first).fields[39]).toBe('00');
    await new Promise((r) => setTimeout(r, 100)); // a copy sent would have arrived by now
    expect(received.filter((stan) => stan === '000777')).toHaveLength(1);
    // Once answered, the same DE11 and DE41 may be sent again.
    expect((await client.send(msg)).fields[39]).toBe('00');
    expect(received.filter((stan) => stan === '000777')).toHaveLength(2);
    await client.close();
  });
});
