// Clients of the WebSocket terminal channel for the tests: a `ws` client that keeps every reply,
// and a raw TCP one that speaks RFC 6455 by hand (to never read, never answer pings, or send what
// a well-behaved client library refuses to).

import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';

export interface FrameReply {
  readonly id: string | null;
  readonly status: number;
  readonly body?: any;
  readonly replayed?: true;
}

export class TerminalClient {
  readonly replies: FrameReply[] = [];
  /** The raw text of every reply, in arrival order. */
  readonly texts: string[] = [];
  private readonly waiting = new Map<string, (r: FrameReply) => void>();
  private readonly watchers = new Set<() => void>();
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = String(data);
      const r = JSON.parse(text) as FrameReply;
      this.texts.push(text);
      this.replies.push(r);
      if (r.id !== null) this.waiting.get(r.id)?.(r);
      for (const w of this.watchers) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
    ws.on('error', () => {});
  }

  static async open(port: number, key: string | undefined, protocols: string[] = [], headers: Record<string, string> = {}): Promise<TerminalClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/terminal`, protocols, { headers: { ...headers, ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    return new TerminalClient(ws);
  }

  /** Send a request frame without waiting. */
  send(id: string, op: string, body: unknown): void {
    this.ws.send(JSON.stringify({ id, op, body }));
  }

  /** A request and its reply. */
  request(id: string, op: string, body: unknown, timeout_ms = 10_000): Promise<FrameReply> {
    const replied = new Promise<FrameReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${id} within ${timeout_ms} ms`)), timeout_ms);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(r);
      });
    });
    this.send(id, op, body);
    return replied;
  }

  /** Wait until `count` replies have come. */
  async until(count: number, timeout_ms = 20_000): Promise<FrameReply[]> {
    if (this.replies.length >= count) return this.replies;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.watchers.delete(check);
        reject(new Error(`${this.replies.length} replies of ${count} within ${timeout_ms} ms`));
      }, timeout_ms);
      const check = () => {
        if (this.replies.length < count) return;
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve();
      };
      this.watchers.add(check);
    });
    return this.replies;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    else if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    await this.closed;
  }
}

/** What the server answered to an upgrade it refused: status and body. */
export async function refusedUpgrade(port: number, headers: Record<string, string>, path = '/v1/terminal', protocols: string[] = []): Promise<{ status: number; body: any }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, protocols, { headers });
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) }));
    });
  });
}

/** An upgrade request written by hand (any method and headers), and the answer read to its end: its head and JSON body. */
export async function rawHandshake(port: number, method: string, headers: Readonly<Record<string, string>>): Promise<{ head: string; body: any }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const lines = [`${method} /v1/terminal HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const end = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, end), body: JSON.parse(text.slice(end + 4)) };
}

/** A client frame (masked, as RFC 6455 wants of clients): opcode 1 text, 2 binary. */
export function clientFrame(payload: Buffer | string, opcode = 1): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const length = data.length;
  const head = length < 126 ? Buffer.from([0x80 | opcode, 0x80 | length]) : length < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (length >= 126 && length < 65_536) {
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(length, 2);
  } else if (length >= 65_536) {
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(length), 2);
  }
  const masked = Buffer.alloc(length);
  for (let i = 0; i < length; i++) masked[i] = data[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, masked]);
}

/** A raw connection upgraded by hand: the socket, once the server's 101 has been read. */
export async function rawTerminal(port: number, key: string): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.write(
    'GET /v1/terminal HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${key}\r\n\r\n`,
  );
  let head = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(`not upgraded: ${head.split('\r\n')[0]}`));
      else resolve();
    };
    socket.on('data', onData);
  });
  return socket;
}
