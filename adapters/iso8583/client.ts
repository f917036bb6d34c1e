// A small ISO 8583 TCP client for tests and the load test: many requests in flight on one
// connection, replies matched by DE11 + DE41 (as jPOS QMUX does), same framing options as the
// server.

import net from 'node:net';
import { decode, encode, peekHeader, type BitmapEncoding, type CodecOptions, type IsoMessage } from './codec.ts';
import { FrameDecoder, corkForTick, frame, isFramingMode, type FramingMode } from './framing.ts';
import type { FieldTable } from './spec87.ts';

export interface IsoClientOptions {
  /** Default: env ISO8583_FRAMING, else 'binary2'. */
  framing?: FramingMode;
  /** Default: env ISO8583_BITMAP, else 'hex'. */
  bitmap?: BitmapEncoding;
  spec?: FieldTable;
  /** How long send() waits for its reply. Default 10 000 ms. */
  timeout_ms?: number;
  /** Connect timeout. Default 5 000 ms. */
  connect_timeout_ms?: number;
  /** Replies that match no pending send(), and messages that do not decode. */
  onUnmatched?: (msg: IsoMessage | Buffer) => void;
}

export interface IsoClient {
  /** Sends `msg` and resolves with the reply carrying the same DE11 + DE41. */
  send(msg: IsoMessage, timeoutMs?: number): Promise<IsoMessage>;
  /** Resolves with the next reply carrying this DE11 + DE41 (nothing is sent). */
  expect(de11: string, de41: string | undefined, timeoutMs?: number): Promise<IsoMessage>;
  /** Writes bytes as they are: no framing. */
  sendRaw(bytes: Buffer): void;
  /** Writes one message body with its length prefix (the body need not be a valid message). */
  sendFrame(body: Buffer): void;
  /** Requests awaiting their reply. */
  readonly pending: number;
  /** Resolves when the connection has closed (either side). */
  readonly closed: Promise<void>;
  readonly socket: net.Socket;
  /** Ends the connection (FIN) and waits for it to close; pending sends are rejected. */
  close(): Promise<void>;
}

function keyOf(de11: string | undefined, de41: string | undefined): string {
  return `${de11 ?? ''}|${de41 ?? ''}`;
}

interface Waiter {
  resolve: (msg: IsoMessage) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export function connectIso(port: number, host = '127.0.0.1', options: IsoClientOptions = {}): Promise<IsoClient> {
  const framing = options.framing ?? 'binary2';
  if (!isFramingMode(framing)) return Promise.reject(new RangeError(`framing must be binary2 or ascii4, not ${framing}`));
  const bitmap = options.bitmap ?? 'hex';
  const codec: CodecOptions = options.spec ? { bitmap, spec: options.spec } : { bitmap };
  const timeoutMs = options.timeout_ms ?? 10_000;

  return new Promise<IsoClient>((resolveConnect, rejectConnect) => {
    const socket = net.connect({ port, host });
    socket.setNoDelay(true);
    let connected = false;
    const connectTimer = setTimeout(() => socket.destroy(new Error(`connect to ${host}:${port} timed out`)), options.connect_timeout_ms ?? 5_000);
    const conn = new ClientConnection(socket, framing, codec, timeoutMs, options);

    socket.on('error', (err) => {
      if (!connected) {
        clearTimeout(connectTimer);
        rejectConnect(err);
      }
      conn.failAll(err);
    });
    socket.on('close', () => conn.failAll(conn.closedError ?? new Error('ISO 8583 connection closed')));
    socket.on('data', (chunk: Buffer) => conn.onData(chunk));

    // a plain object of closures: its methods work unbound
    const client: IsoClient = {
      socket,
      closed: conn.closed,
      get pending() {
        return conn.waiters.size;
      },
      send(msg, ms) {
        return conn.send(msg, ms);
      },
      expect: (de11, de41, ms) => conn.expect(de11, de41, ms),
      sendRaw(bytes) {
        conn.write(bytes);
      },
      sendFrame(body) {
        conn.write(frame(body, framing));
      },
      close() {
        return conn.close();
      },
    };

    socket.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      resolveConnect(client);
    });
  });
}

/** One client connection: its frame decoder, the sends awaiting their reply, corked writes. */
class ClientConnection {
  readonly waiters = new Map<string, Waiter>();
  /** Set once the connection has failed or closed; sends after that are rejected with it. */
  closedError: Error | null = null;
  readonly closed: Promise<void>;
  private readonly decoder: FrameDecoder;

  constructor(
    readonly socket: net.Socket,
    private readonly framing: FramingMode,
    private readonly codec: CodecOptions,
    private readonly timeoutMs: number,
    private readonly options: IsoClientOptions,
  ) {
    this.decoder = new FrameDecoder({ mode: framing });
    this.closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  }

  /** Reads every whole frame of `chunk` and hands each reply to the send awaiting it. */
  onData(chunk: Buffer): void {
    let body: Buffer | null;
    this.decoder.write(chunk);
    for (;;) {
      try {
        body = this.decoder.read();
      } catch (err) {
        this.socket.destroy(err as Error);
        return;
      }
      if (body === null) return;
      this.deliver(body);
    }
  }

  /** A reply resolves the send with its DE11 + DE41; one that does not decode rejects that
   *  send when its header can be read. Anything else goes to onUnmatched. */
  private deliver(body: Buffer): void {
    let msg: IsoMessage;
    try {
      msg = decode(body, this.codec);
    } catch (err) {
      const head = peekHeader(body, this.codec);
      const w = this.take(head.de11, head.de41);
      if (w) {
        w.reject(err as Error);
      } else {
        this.options.onUnmatched?.(Buffer.from(body));
      }
      return;
    }
    const w = this.take(msg.fields[11], msg.fields[41]);
    if (w) {
      w.resolve(msg);
    } else {
      this.options.onUnmatched?.(msg);
    }
  }

  /** The send awaiting this DE11 + DE41, taken off the list with its timer stopped. */
  private take(de11: string | undefined, de41: string | undefined): Waiter | undefined {
    const key = keyOf(de11, de41);
    const w = this.waiters.get(key);
    if (w) {
      this.waiters.delete(key);
      clearTimeout(w.timer);
    }
    return w;
  }

  failAll(err: Error): void {
    this.closedError = err;
    for (const w of this.waiters.values()) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
  }

  // requests sent in the same tick leave in one writev
  write(bytes: Buffer): void {
    const socket = this.socket;
    corkForTick(socket);
    socket.write(bytes);
  }

  send(msg: IsoMessage, ms?: number): Promise<IsoMessage> {
    let body: Buffer;
    try {
      body = encode(msg, this.codec);
    } catch (err) {
      return Promise.reject(err);
    }
    // Refused, it is not sent: a copy of a request in flight would have its reply taken by the
    // other's wait (a black-box probe read one approval and 94s for 00s that way).
    const refused = this.refusal(msg.fields[11], msg.fields[41]);
    if (refused !== undefined) return Promise.reject(refused);
    const reply = this.expect(msg.fields[11], msg.fields[41], ms);
    this.write(frame(body, this.framing));
    return reply;
  }

  /** Why a request with these DE11 and DE41 cannot wait for its reply now, if it cannot. */
  private refusal(de11: string | undefined, de41: string | undefined): Error | undefined {
    if (this.closedError) return this.closedError;
    if (this.waiters.has(keyOf(de11, de41))) return new Error(`a request with DE11 ${de11} DE41 ${de41} is already in flight`);
    return undefined;
  }

  expect(de11: string | undefined, de41: string | undefined, ms = this.timeoutMs): Promise<IsoMessage> {
    const refused = this.refusal(de11, de41);
    if (refused !== undefined) return Promise.reject(refused);
    const key = keyOf(de11, de41);
    return new Promise<IsoMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`no reply to DE11 ${de11} DE41 ${de41} within ${ms} ms`));
      }, ms);
      this.waiters.set(key, { resolve, reject, timer });
    });
  }

  close(): Promise<void> {
    const socket = this.socket;
    if (!socket.destroyed) {
      socket.end();
      const t = setTimeout(() => socket.destroy(), 2_000);
      t.unref();
    }
    return this.closed;
  }
}
