import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import pino from 'pino';
import { createMessage, decode, encode, type IsoMessage } from './codec.ts';
import { FrameDecoder, frame, MAX_FRAME, type FramingMode } from './framing.ts';
import {
  createIsoServer,
  maskPan,
  replyTo,
  responseMti,
  scrubPans,
  summarize,
  type IsoHandler,
  type IsoLogger,
  type IsoServer,
  type IsoServerOptions,
} from './server.ts';
import { connectIso, type IsoClient } from './client.ts';
import { spec87, withFields } from './spec87.ts';
import { loadManifest } from './testdata/vectors.ts';

const PAN = '4111111111111111';
const TERMINAL = 'TERM0001';

/** The trivial handler of the brief: 0800 → 0810 DE39 00; anything else → DE39 00, echo fields copied. */
const echo: IsoHandler = async (msg) => replyTo(msg, '00');

function purchase(stan: number, amount = stan, terminal = TERMINAL): IsoMessage {
  return createMessage('0200', {
    2: PAN,
    3: '000000',
    4: String(amount).padStart(12, '0'),
    7: '0101120000',
    11: String(stan).padStart(6, '0'),
    41: terminal,
    42: 'MERCHANT0000001',
    49: '840',
  });
}

function echoTest(stan: number, terminal = TERMINAL): IsoMessage {
  return createMessage('0800', { 7: '0101120000', 11: String(stan).padStart(6, '0'), 41: terminal, 70: '301' });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const servers: IsoServer[] = [];
const clients: IsoClient[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of clients.splice(0)) c.socket.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close(500)));
});

async function start(options: Partial<IsoServerOptions> = {}): Promise<{ server: IsoServer; port: number }> {
  const server = createIsoServer({ handler: echo, framing: 'binary2', bitmap: 'hex', idle_seconds: 30, ...options });
  servers.push(server);
  const port = await server.listen(0, '127.0.0.1');
  return { server, port };
}

async function client(port: number, options: Parameters<typeof connectIso>[2] = {}): Promise<IsoClient> {
  const c = await connectIso(port, '127.0.0.1', { framing: 'binary2', bitmap: 'hex', ...options });
  clients.push(c);
  return c;
}

/**
 * Until the server's first connection has paused its reading and reading has stopped: a read
 * libuv had already started when the server paused may still land (one 64 KiB chunk).
 */
async function untilReadingStops(server: IsoServer, pause_ms: number, settle_ms: number): Promise<void> {
  await until(() => server.stats()[0]?.paused === true, pause_ms, 'the server to pause');
  let last = -1;
  for (let waited = 0; ; waited += 100) {
    const read = server.stats()[0]!.bytesRead;
    if (read > 0 && read === last) return;
    if (waited > settle_ms) throw new Error('the server kept reading');
    last = read;
    await sleep(100);
  }
}

/** A bare socket that collects whole frames; for what IsoClient will not send. */
async function raw(port: number, mode: FramingMode = 'binary2') {
  const socket = net.connect({ port, host: '127.0.0.1' });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.setNoDelay(true);
  const decoder = new FrameDecoder({ mode });
  const frames: Buffer[] = [];
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) frames.push(Buffer.from(f));
  });
  socket.on('error', () => {});
  const closedP = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      resolve();
    }),
  );
  return {
    socket,
    frames,
    isClosed: () => closed,
    closed: closedP,
    async waitClosed(ms = 3_000) {
      await until(() => closed, ms, 'the server to close the connection');
    },
    async waitFrames(n: number, ms = 3_000) {
      await until(() => frames.length >= n, ms, `${n} frames`);
      return frames.map((f) => decode(f));
    },
  };
}

// ------------------------------------------------------------------------------------------

describe('response helpers', () => {
  it('responseMti: third digit + 1, repeats answered as the original', () => {
    expect(responseMti('0200')).toBe('0210');
    expect(responseMti('0800')).toBe('0810');
    expect(responseMti('0100')).toBe('0110');
    expect(responseMti('0400')).toBe('0410');
    expect(responseMti('0401')).toBe('0410');
    expect(responseMti('0420')).toBe('0430');
    expect(responseMti('0421')).toBe('0430');
    expect(responseMti('0220')).toBe('0230');
    expect(responseMti('0210')).toBe('0210');
    expect(() => responseMti('02x0')).toThrow(RangeError);
  });

  it('replyTo copies the echo fields, never DE2, and sets DE39', () => {
    const req = purchase(42, 5000);
    req.fields[12] = '120000';
    req.fields[13] = '0101';
    req.fields[32] = '123456';
    req.fields[37] = 'RRN000000001';
    req.fields[48] = 'OTP=123456;';
    req.fields[35] = `${PAN}=2512`;
    const reply = replyTo(req, '51', { 54: '0001840C000000001000', 38: 'ABC123' });
    expect(reply.mti).toBe('0210');
    expect(reply.fields[2]).toBeUndefined();
    expect(reply.fields[35]).toBeUndefined();
    expect(reply.fields[48]).toBeUndefined();
    for (const f of [3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49]) expect(reply.fields[f]).toBe(req.fields[f]);
    expect(reply.fields[39]).toBe('51');
    expect(reply.fields[54]).toBe('0001840C000000001000');
    expect(reply.fields[38]).toBe('ABC123');
    expect(() => encode(reply)).not.toThrow();
  });

  it('masks PANs for logs', () => {
    expect(maskPan(PAN)).toBe('411111******1111');
    expect(maskPan('1234567890123456789')).toBe('123456*********6789');
    expect(maskPan('12345')).toBe('*****');
    expect(summarize(purchase(1)).de2).toBe('411111******1111');
    expect(scrubPans(`card ${PAN} declined, stan 000001, de90 ${'0'.repeat(42)}`)).toBe(
      `card 411111******1111 declined, stan 000001, de90 ${'0'.repeat(42)}`,
    );
  });

  it('a pino logger fits IsoLogger', () => {
    const logger: IsoLogger = pino({ level: 'silent' });
    expect(typeof logger.warn).toBe('function');
  });
});

describe('createIsoServer', () => {
  it('answers 0800 with 0810 DE39 00 and a purchase with DE11/DE41 copied, DE2 omitted', async () => {
    const { port } = await start();
    const c = await client(port);
    const r = await c.send(echoTest(1));
    expect(r.mti).toBe('0810');
    expect(r.fields[39]).toBe('00');
    expect(r.fields[11]).toBe('000001');
    const p = await c.send(purchase(2, 777));
    expect(p.mti).toBe('0210');
    expect(p.fields[39]).toBe('00');
    expect(p.fields[41]).toBe(TERMINAL);
    expect(p.fields[4]).toBe('000000000777');
    expect(p.fields[2]).toBeUndefined();
  });

  it('defaults to binary2 framing and hex bitmaps (the gateway passes ISO8583_*: gateway/config.test.ts)', () => {
    const d = createIsoServer({ handler: echo });
    expect([d.framing, d.bitmap]).toEqual(['binary2', 'hex']);
    expect(() => createIsoServer({ handler: echo, framing: 'nac' as never })).toThrow(/framing/);
  });

  it('speaks ascii4 framing with binary bitmaps', async () => {
    const { port } = await start({ framing: 'ascii4', bitmap: 'binary' });
    const c = await client(port, { framing: 'ascii4', bitmap: 'binary' });
    const r = await c.send(purchase(7));
    expect(r.mti).toBe('0210');
    expect(r.fields[11]).toBe('000007');
    // the wire really is 4 digits + binary bitmap
    const s = await raw(port, 'ascii4');
    const body = encode(echoTest(8), { bitmap: 'binary' });
    s.socket.write(Buffer.concat([Buffer.from(String(body.length).padStart(4, '0')), body]));
    await until(() => s.frames.length === 1);
    const reply = s.frames[0]!;
    expect(reply.subarray(0, 4).toString()).toBe('0810');
    expect(reply.subarray(4, 12).toString('hex')).toBe('0220000002800000'); // raw primary bitmap: 7, 11, 39, 41
    expect(decode(reply, { bitmap: 'binary' }).fields[39]).toBe('00');
  });

  it('reassembles requests sent byte by byte, prefix and body split', async () => {
    const { port } = await start();
    const s = await raw(port);
    const wire = Buffer.concat([frame(encode(echoTest(1))), frame(encode(purchase(2))), frame(encode(echoTest(3)))]);
    for (let i = 0; i < wire.length; i++) {
      s.socket.write(wire.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
    const replies = await s.waitFrames(3);
    expect(replies.map((m) => m.fields[11]).sort()).toEqual(['000001', '000002', '000003']);
  });

  it('answers many requests arriving in one packet', async () => {
    const { port } = await start();
    const s = await raw(port);
    s.socket.write(Buffer.concat(Array.from({ length: 200 }, (_, i) => frame(encode(purchase(i + 1))))));
    const replies = await s.waitFrames(200);
    expect(new Set(replies.map((m) => m.fields[11])).size).toBe(200);
    expect(replies.every((m) => m.mti === '0210' && m.fields[39] === '00')).toBe(true);
  });

  describe('framing errors close the connection', () => {
    const cases: [string, FramingMode, Buffer][] = [
      ['binary2 8193', 'binary2', Buffer.concat([Buffer.from([0x20, 0x01]), Buffer.alloc(8193, 0x30)])],
      ['binary2 65535 (prefix only)', 'binary2', Buffer.from([0xff, 0xff])],
      ['binary2 zero length', 'binary2', Buffer.from([0, 0, 0x30, 0x38])],
      ['ascii4 8193', 'ascii4', Buffer.from('8193')],
      ['ascii4 zero length', 'ascii4', Buffer.from('0000')],
      ['ascii4 non-digit prefix', 'ascii4', Buffer.from('08X0hello')],
    ];
    for (const [name, mode, bytes] of cases) {
      it(name, async () => {
        const { server, port } = await start({ framing: mode });
        const s = await raw(port, mode);
        // a valid request first: it is still answered
        const ok = encode(echoTest(1));
        s.socket.write(frame(ok, mode));
        await s.waitFrames(1);
        s.socket.write(bytes);
        await s.waitClosed();
        await until(() => server.connections === 0, 2_000, 'the server to drop the connection');
      });
    }

    it('a DE2 longer than its 19 digits: answered 30, the connection kept (ISO8583.md: MTI, DE11 and DE41 can be read)', async () => {
      const { server, port } = await start();
      const c = await client(port);
      const m = purchase(6);
      const wire = encode(m).toString('latin1');
      const pan = m.fields[2]!;
      const body = Buffer.from(wire.replace(`${String(pan.length).padStart(2, '0')}${pan}`, '25' + '4'.repeat(25)), 'latin1');
      const reply = c.expect('000006', TERMINAL);
      c.sendFrame(body);
      expect((await reply).fields[39]).toBe('30');
      expect(server.connections).toBe(1);
    });

    it("DE35 in EBCDIC is read, decided per message: moov-io's network_management_message_with_track.dat is answered as read, an ASCII DE35 still read as ASCII", async () => {
      // The vectors' README: "valid, must round-trip byte-identically". Its DE35 (track 2) is
      // EBCDIC (c6c6c6, "FFF"), which the default ASCII table refuses: it was answered 30 by its
      // DE11, unread (a black-box probe of ISO8583.md). ASCII track 2 lies below 0x80; EBCDIC's
      // digits and hex letters lie above it.
      const vector = loadManifest().find((v) => v.name === 'network_management_message_with_track')!;
      const want = vector.decoded_by_pyiso8583_default_ascii!;
      const seen: (string | undefined)[] = [];
      const { server, port } = await start({
        handler: async (msg) => {
          seen.push(msg.fields[35]);
          return replyTo(msg, '00', { 70: msg.fields[70]! });
        },
      });
      const c = await client(port);
      const reply = c.expect(want['11']!, undefined);
      c.sendFrame(vector.data);
      const r = await reply;
      expect(r.mti).toBe('0810');
      expect(r.fields).toMatchObject({ 7: want['7'], 11: want['11'], 12: want['12'], 13: want['13'], 39: '00', 70: '001' });
      expect(r.fields[35]).toBeUndefined();
      const ascii = purchase(9);
      ascii.fields[35] = '4111111111111111=2512';
      expect((await c.send(ascii)).fields[39]).toBe('00');
      expect(seen).toEqual([want['35'], '4111111111111111=2512']);
      expect(server.connections).toBe(1);
    });

    it('a network management message with a DE35 neither ASCII nor EBCDIC reads as track 2 (no DE41): answered 30 by its DE11, the connection kept', async () => {
      // moov-io's network_management_message_with_error_track.dat: "III" in EBCDIC.
      const vector = loadManifest().find((v) => v.name === 'network_management_message_with_error_track')!;
      const de11 = vector.decoded_by_pyiso8583_default_ascii!['11']!;
      const { server, port } = await start();
      const c = await client(port);
      const reply = c.expect(de11, undefined);
      c.sendFrame(vector.data);
      expect((await reply).mti).toBe('0810');
      expect((await reply).fields).toMatchObject({ 11: de11, 39: '30' });
      expect((await reply).fields[41]).toBeUndefined();
      const echoed = c.expect('000009', TERMINAL);
      c.sendFrame(encode(echoTest(9)));
      expect((await echoed).fields[39]).toBe('00');
      expect(server.connections).toBe(1);
    });

    it('a field table its 30 reply does not encode under (no DE39): the connection closed, the process alive', async () => {
      // The reply to a message that does not decode was encoded in the socket's data handler,
      // outside any try: a throw there ended the process.
      const { server, port } = await start({ spec: withFields(spec87, [39]) });
      const r = await raw(port);
      const m = purchase(7);
      const wire = encode(m).toString('latin1');
      const pan = m.fields[2]!;
      r.socket.write(frame(Buffer.from(wire.replace(`${String(pan.length).padStart(2, '0')}${pan}`, '25' + '4'.repeat(25)), 'latin1'), 'binary2'));
      await r.waitClosed();
      expect(r.frames).toEqual([]);
      await until(() => server.connections === 0, 2_000, 'the server to drop the connection');
    });

    it('a frame of exactly 8192 bytes is read (and answered 30 or closed, not a framing error)', async () => {
      const { port } = await start();
      const c = await client(port);
      const big = purchase(5);
      big.fields[48] = 'X'.repeat(999);
      // 8192 bytes of message: a valid header, then padding that fails decode as trailing bytes
      const head = encode(big);
      const body = Buffer.concat([head, Buffer.alloc(MAX_FRAME - head.length, 0x20)]);
      expect(body.length).toBe(MAX_FRAME);
      const reply = c.expect('000005', TERMINAL);
      c.sendFrame(body);
      expect((await reply).fields[39]).toBe('30');
    });
  });

  it('pipelines: replies in completion order, matched by DE11 + DE41', async () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 30);
    const { server, port } = await start({
      in_flight_max_per_connection: 500,
      handler: async (msg) => {
        await sleep(rand());
        return replyTo(msg, '00');
      },
    });
    const arrival: string[] = [];
    const c = await client(port, { onUnmatched: () => arrival.push('unmatched') });
    c.socket.on('data', () => {});
    const n = 200;
    const sent = Array.from({ length: n }, (_, i) => purchase(i + 1, 1000 + i, i % 2 ? 'TERM0001' : 'TERM0002'));
    const replies = await Promise.all(
      sent.map((m) =>
        c.send(m).then((r) => {
          arrival.push(r.fields[11]!);
          return r;
        }),
      ),
    );
    replies.forEach((r, i) => {
      expect(r.fields[11]).toBe(sent[i]!.fields[11]);
      expect(r.fields[41]).toBe(sent[i]!.fields[41]);
      expect(r.fields[4]).toBe(sent[i]!.fields[4]);
    });
    expect(arrival).not.toContain('unmatched');
    // out of order: the handler's random delays reorder completions
    expect(arrival).not.toEqual(sent.map((m) => m.fields[11]));
    expect(server.stats()[0]!.inFlightPeak).toBeGreaterThan(50);
  });

  it('serves 50 connections at once', async () => {
    const { server, port } = await start({
      handler: async (msg) => {
        await sleep(1);
        return replyTo(msg, '00');
      },
    });
    const cs = await Promise.all(Array.from({ length: 50 }, () => client(port)));
    await until(() => server.connections === 50);
    const results = await Promise.all(
      cs.map((c, k) => Promise.all(Array.from({ length: 20 }, (_, i) => c.send(purchase(k * 100 + i + 1, k * 100 + i))))),
    );
    results.forEach((rs, k) => rs.forEach((r, i) => expect(r.fields[4]).toBe(String(k * 100 + i).padStart(12, '0'))));
  });

  it('backpressure: at in_flight_max it stops reading that connection; others are unaffected', async () => {
    const max = 8;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { server, port } = await start({
      in_flight_max_per_connection: max,
      handler: async (msg) => {
        if (msg.mti !== '0800') await gate;
        return replyTo(msg, '00');
      },
    });
    const slow = await client(port, { timeout_ms: 15_000 });
    const n = 20_000; // ≈ 2 MB of requests
    const all = Array.from({ length: n }, (_, i) => slow.send(purchase(i + 1)));
    const total = slow.socket.writableLength + slow.socket.bytesWritten;
    await until(() => server.stats()[0]?.paused === true, 3_000, 'the server to pause');
    const before = server.stats()[0]!;
    await sleep(250);
    const after = server.stats()[0]!;
    expect(after.inFlight).toBe(max);
    expect(after.inFlightPeak).toBe(max);
    expect(after.paused).toBe(true);
    expect(after.bytesRead).toBe(before.bytesRead);
    expect(after.bytesRead).toBeLessThan(total / 4);
    expect(after.pendingInput).toBeLessThanOrEqual(64 * 1024 + MAX_FRAME + 4);

    const other = await client(port);
    const t0 = Date.now();
    expect((await other.send(echoTest(1, 'OTHER001'))).fields[39]).toBe('00');
    expect(Date.now() - t0).toBeLessThan(500);

    release();
    const replies = await Promise.all(all);
    expect(replies).toHaveLength(n);
    expect(server.stats().find((s) => s.requests === n)!.inFlightPeak).toBe(max);
  });

  it('backpressure: a peer that does not read makes the server stop reading, with bounded buffers', async () => {
    const max = 64;
    const { server, port } = await start({
      in_flight_max_per_connection: max,
      // echo DE48 too, so replies are ~1 KiB and the socket buffers fill quickly
      handler: async (msg) => replyTo(msg, '00', msg.fields[48] ? { 48: msg.fields[48] } : undefined),
    });
    const s = await raw(port);
    s.socket.pause(); // never reads
    const one = purchase(1);
    one.fields[48] = 'X'.repeat(999);
    const f = frame(encode(one));
    const block = Buffer.concat(Array.from({ length: 1024 }, () => f));
    const blocks = 24; // ≈ 27 MB
    for (let i = 0; i < blocks; i++) s.socket.write(block);
    const total = blocks * block.length;

    await untilReadingStops(server, 5_000, 3_000);
    const before = server.stats()[0]!;
    await sleep(300);
    const after = server.stats()[0]!;
    expect(after.paused).toBe(true);
    expect(after.bytesRead).toBe(before.bytesRead);
    expect(after.bytesRead).toBeLessThan(total);
    expect(after.inFlightPeak).toBeLessThanOrEqual(max);
    // the write buffer stops at the high-water mark plus the replies of what was in flight
    expect(after.writableLength).toBeLessThanOrEqual(16 * 1024 + max * (MAX_FRAME + 2));
    expect(after.pendingInput).toBeLessThanOrEqual(64 * 1024 + MAX_FRAME + 4);

    const other = await client(port);
    const t0 = Date.now();
    expect((await other.send(echoTest(1, 'OTHER001'))).fields[39]).toBe('00');
    expect(Date.now() - t0).toBeLessThan(500);

    // once the peer reads, everything is answered
    s.socket.resume();
    await until(() => s.frames.length === blocks * 1024, 10_000, 'all replies');
    expect(decode(s.frames[0]!).fields[48]).toBe('X'.repeat(999));
  });

  it('closes a connection silent for idle_seconds, not one that talks', async () => {
    const { server, port } = await start({ idle_seconds: 0.4 });
    const silent = await raw(port);
    const chatty = await client(port);
    const t0 = Date.now();
    for (let i = 1; i <= 6; i++) {
      await chatty.send(echoTest(i));
      await sleep(150);
    }
    expect(silent.isClosed()).toBe(true);
    expect(Date.now() - t0).toBeGreaterThan(400);
    expect(chatty.socket.destroyed).toBe(false);
    expect(server.connections).toBe(1);
  });

  it('close() is graceful: in-flight requests are answered, then connections close', async () => {
    const { server, port } = await start({
      handler: async (msg) => {
        await sleep(300);
        return replyTo(msg, '00');
      },
    });
    const c = await client(port);
    const replies = Array.from({ length: 10 }, (_, i) => c.send(purchase(i + 1)));
    await until(() => server.inFlight === 10);
    const closing = server.close();
    // no new connections once closing
    await expect(connectIso(port, '127.0.0.1', { connect_timeout_ms: 500 })).rejects.toThrow();
    const rs = await Promise.all(replies);
    expect(rs.map((r) => r.fields[39])).toEqual(Array(10).fill('00'));
    await c.closed;
    await closing;
    expect(server.connections).toBe(0);
  });

  it('close() answers a message read while it waits for those in flight DE39 91, unprocessed (it was dropped unanswered)', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const handled: string[] = [];
    const { server, port } = await start({
      handler: async (msg) => {
        handled.push(msg.fields[11]!);
        await held;
        return replyTo(msg, '00');
      },
    });
    const c = await client(port);
    const first = c.send(purchase(1));
    await until(() => server.inFlight === 1);
    const closing = server.close();
    const late = await c.send(purchase(2));
    expect([late.mti, late.fields[11], late.fields[39]]).toEqual(['0210', '000002', '91']);
    release();
    expect((await first).fields[39]).toBe('00');
    expect(handled).toEqual(['000001']);
    await c.closed;
    await closing;
    expect(server.connections).toBe(0);
  });

  it('close() declining a peer that sends and never reads: reading pauses while its 91s wait, and every message read gets one (a review, 2026-12-04)', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { server, port } = await start({
      handler: async (msg) => {
        await held;
        return replyTo(msg, '00');
      },
    });
    const s = await raw(port);
    s.socket.write(frame(encode(purchase(1))));
    await until(() => server.inFlight === 1);
    const closing = server.close(30_000);
    s.socket.pause(); // reads nothing from now on
    // Small messages: each 91 is about as long as the message, so the replies outgrow the
    // kernel's buffers.
    const one = frame(encode(purchase(2)));
    const block = Buffer.concat(Array.from({ length: 4096 }, () => one));
    const blocks = 100;
    for (let i = 0; i < blocks; i++) s.socket.write(block);
    await untilReadingStops(server, 30_000, 20_000);
    const paused = server.stats()[0]!;
    expect(paused.bytesRead).toBeLessThan(blocks * block.length);
    // The high-water mark, plus the 91s of one read's frames.
    expect(paused.writableLength).toBeLessThanOrEqual(16 * 1024 + 64 * 1024);
    // Read whole and not yet answered: these too get their 91 before the end, though the last
    // one in flight finishes while the peer still reads nothing.
    const waiting = Math.floor(paused.pendingInput / one.length);
    expect(waiting).toBeGreaterThan(0);
    release();
    await sleep(100);
    s.socket.resume();
    await s.closed;
    await closing;
    expect(s.frames.length).toBeGreaterThanOrEqual(paused.requests + waiting);
    expect(decode(s.frames[0]!).fields[39]).toBe('91');
    expect(s.frames.map((f) => decode(f).fields[39]).filter((c) => c === '00')).toEqual(['00']);
  });

  it('close(timeout) destroys connections whose requests never finish', async () => {
    const { server, port } = await start({ handler: () => new Promise<IsoMessage>(() => {}) });
    const c = await client(port);
    const outcome = c.send(purchase(1)).then(
      () => 'answered',
      (err: Error) => err.message,
    );
    await until(() => server.inFlight === 1);
    const t0 = Date.now();
    await server.close(200);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(await outcome).toMatch(/closed|reset/i);
  });

  describe('bad input', () => {
    it('an unparseable message with readable MTI, DE11, DE41 gets DE39 30; the connection stays usable', async () => {
      const { port } = await start();
      const c = await client(port);
      for (const [mti, want] of [
        ['0200', '0210'],
        ['0100', '0110'],
        ['0400', '0410'],
        ['0420', '0430'],
        ['0800', '0810'],
      ] as const) {
        const m = purchase(11);
        m.mti = mti;
        const body = Buffer.concat([encode(m), Buffer.from('junk')]); // trailing bytes
        const reply = c.expect('000011', TERMINAL);
        c.sendFrame(body);
        const r = await reply;
        expect(r.mti).toBe(want);
        expect(r.fields[39]).toBe('30');
        expect(r.fields[41]).toBe(TERMINAL);
        expect(r.fields[2]).toBeUndefined();
      }
      // a field after DE41 that breaks its class
      const bad = encode(purchase(12));
      bad[bad.length - 1] = 0x41; // DE49 '84A'
      const reply = c.expect('000012', TERMINAL);
      c.sendFrame(bad);
      expect((await reply).fields[39]).toBe('30');
      expect((await c.send(echoTest(13))).fields[39]).toBe('00');
    });

    it('an unparseable message without readable MTI/DE11/DE41 closes the connection', async () => {
      const { server, port } = await start();
      for (const body of [
        Buffer.from('garbage!'),
        encode(createMessage('0200', { 3: '000000', 11: '000001' })).subarray(0, 30), // no DE41
        // DE11 readable, DE4 not numeric, and no DE41: a financial message whose reply the peer
        // could not match (network management alone carries no DE41). It was answered 30.
        Buffer.from(`0200${'3220000100008000'}000000${'0000000001AA'}1205063151${'273561'}074739432978`),
        // moov-io's error_message.dat: an 0400 without DE41 that does not decode (DE55 truncated).
        loadManifest().find((v) => v.name === 'error_message')!.data,
        Buffer.concat([Buffer.from('0200'), Buffer.from('zz'.repeat(8))]), // bad bitmap
      ]) {
        const s = await raw(port);
        s.socket.write(frame(body));
        await s.waitClosed();
      }
      await until(() => server.connections === 0);
    });

    it('a message that parses without DE11 closes the connection, unanswered and unhandled; one without DE41 is handled, its reply without DE41', async () => {
      // ISO8583.md: "a reply with DE39 30 when its MTI, DE11 and DE41 can be read; otherwise the
      // connection is closed". These were answered (a 0210 without DE11, an 0810 with DE39 alone:
      // a black-box probe), replies the peer could never match. One that parses without DE41 (as
      // moov-io's financial and reversal messages do) is read and answered: a peer keying by
      // DE11 + DE41 keys a message without DE41 by DE11 alone (closed from 2026-12-05 to 2026-12-06).
      const handled: string[] = [];
      const { server, port } = await start({ handler: async (msg) => (handled.push(msg.mti), replyTo(msg, '00')) });
      const advice = loadManifest().find((v) => v.name === 'iso_reversal_message_advice_missing_field')!;
      const noStan = purchase(1);
      noStan.fields[11] = undefined;
      for (const body of [
        encode(noStan),
        Buffer.from('08000000000000000000'), // no field at all
        encode(createMessage('0800', { 7: '0101120000', 70: '301' })), // network management without DE11
      ]) {
        const s = await raw(port);
        s.socket.write(frame(body));
        await s.waitClosed();
        expect(s.frames).toEqual([]);
      }
      expect(handled).toEqual([]);
      await until(() => server.connections === 0);
      // Network management without DE41 is answered by its DE11, as before; so now are a 0200 and
      // moov-io's 0420 without DE41 (what the handler answers is mapping.ts's: 03 or 30).
      const c = await client(port);
      for (const [stan, body] of [
        ['000003', encode(createMessage('0800', { 7: '0101120000', 11: '000003', 70: '301' }))],
        ['000002', encode(createMessage('0200', { 3: '000000', 4: '000000000100', 7: '0101120000', 11: '000002' }))],
        ['100331', advice.data], // its DE11
      ] as const) {
        const reply = c.expect(stan, undefined);
        c.sendFrame(body);
        const answered = await reply;
        expect([answered.fields[39], answered.fields[41]]).toEqual(['00', undefined]);
      }
      expect(handled).toEqual(['0800', '0200', '0420']);
    });

    it('200 connections of garbage write a bounded number of log lines, not one each', async () => {
      const lines: string[] = [];
      const push = (o: object, m?: string) => void lines.push(JSON.stringify(o) + (m ?? ''));
      const logger: IsoLogger = { debug: () => {}, info: push, warn: push, error: push };
      const { server, port } = await start({ logger });
      for (let i = 0; i < 200; i += 20) {
        await Promise.all(
          Array.from({ length: 20 }, async () => {
            const s = await raw(port);
            s.socket.write(frame(Buffer.from('garbage!')));
            await s.waitClosed();
          }),
        );
      }
      await until(() => server.connections === 0);
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.length).toBeLessThanOrEqual(21);
    });

    it('a handler that throws or rejects is answered with 96; the process stays up', async () => {
      const lines: string[] = [];
      const logger: IsoLogger = {
        debug: (o, m) => lines.push(JSON.stringify(o) + m),
        info: (o, m) => lines.push(JSON.stringify(o) + m),
        warn: (o, m) => lines.push(JSON.stringify(o) + m),
        error: (o, m) => lines.push(JSON.stringify(o) + m),
      };
      const errors: string[] = [];
      const { port } = await start({
        logger,
        onError: (_e, info) => errors.push(info.stage),
        handler: ((msg: IsoMessage) => {
          const stan = Number(msg.fields[11]);
          if (stan === 1) throw new Error(`sync failure for card ${msg.fields[2]}`);
          if (stan === 2) return Promise.reject(new TypeError(`async failure for ${msg.fields[2]}`));
          if (stan === 3) return Promise.resolve(createMessage('0210', { 11: msg.fields[11]!, 41: msg.fields[41]!, 39: 'TOO LONG' }));
          if (stan === 4) return Promise.reject('a string');
          return Promise.resolve(replyTo(msg, '00'));
        }) as IsoHandler,
      });
      const c = await client(port);
      for (const stan of [1, 2, 3, 4]) {
        const r = await c.send(purchase(stan));
        expect(r.mti).toBe('0210');
        expect(r.fields[39]).toBe('96');
        expect(r.fields[11]).toBe(String(stan).padStart(6, '0'));
      }
      expect((await c.send(purchase(5))).fields[39]).toBe('00');
      expect(errors).toEqual(['handler', 'handler', 'encode', 'handler']);
      const log = lines.join('\n');
      expect(log).not.toContain(PAN);
      expect(log).toContain('411111******1111');
    });

    it('a reply too big for a frame is replaced by 96', async () => {
      const { port } = await start({ max_frame: 512, handler: async (msg) => replyTo(msg, '00', { 48: 'Y'.repeat(600) }) });
      const c = await client(port);
      const r = await c.send(purchase(1));
      expect(r.fields[39]).toBe('96');
      expect(r.fields[48]).toBeUndefined();
    });

    it('survives 1,000 connections of random garbage and still answers an 0800', async () => {
      const { server, port } = await start({ idle_seconds: 0.3, close_timeout_ms: 500 });
      const valid = frame(encode(purchase(1)));
      const prefix = (n: number) => Buffer.from([n >>> 8, n & 0xff]);
      const garbage = fc.oneof(
        fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)), // anything at all
        fc.uint8Array({ minLength: 1, maxLength: 300 }).map((u) => Buffer.concat([prefix(u.length), u])), // well framed junk
        fc.tuple(fc.integer({ min: 1, max: 400 }), fc.uint8Array({ maxLength: 200 })).map(([n, u]) => Buffer.concat([prefix(n), u])), // short or long body
        fc.integer({ min: MAX_FRAME + 1, max: 0xffff }).map((n) => prefix(n)), // oversize
        fc.constant(Buffer.from([0, 0])), // zero length
        fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
          const v = Buffer.from(valid);
          v[i] = b;
          return v;
        }), // a valid frame with one byte changed
        fc.nat(valid.length).map((i) => valid.subarray(0, i)), // cut short
      );
      const payloads = fc.sample(fc.tuple(fc.array(garbage, { minLength: 1, maxLength: 4 }), fc.boolean()), { numRuns: 1000, seed: 8583 });
      let next = 0;
      let closedByServer = 0;
      const worker = async () => {
        while (next < payloads.length) {
          const [parts, halfClose] = payloads[next++]!;
          const socket = net.connect({ port, host: '127.0.0.1' });
          socket.on('error', () => {});
          socket.on('data', () => {});
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              socket.destroy();
              resolve();
            }, 3_000);
            socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            socket.once('end', () => closedByServer++);
            socket.once('connect', () => {
              for (const p of parts) socket.write(p);
              if (halfClose) socket.end();
            });
          });
        }
      };
      await Promise.all(Array.from({ length: 100 }, worker));
      expect(closedByServer).toBeGreaterThan(900);
      await until(() => server.connections === 0, 3_000, 'all garbage connections closed');
      const c = await client(port);
      const r = await c.send(echoTest(999));
      expect(r.mti).toBe('0810');
      expect(r.fields[39]).toBe('00');
    });
  });
});
