// A small ISO 8583 TCP client for tests and the load test: many requests in flight on one
// connection, replies matched by DE11 + DE41 (as jPOS QMUX does), same framing options as the
// server.

import net from 'node:net';
import { decode, encode, peekHeader, type BitmapEncoding, type CodecOptions, type IsoMessage } from './codec.ts';
import { FrameDecoder, frame, isFramingMode, type FramingMode } from './framing.ts';
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
  const waiters = new Map<string, Waiter>();
  const decoder = new FrameDecoder({ mode: framing });

  return new Promise<IsoClient>((resolveConnect, rejectConnect) => {
    const socket = net.connect({ port, host });
    socket.setNoDelay(true);
    let connected = false;
    let closedError: Error | null = null;
    const connectTimer = setTimeout(() => socket.destroy(new Error(`connect to ${host}:${port} timed out`)), options.connect_timeout_ms ?? 5_000);

    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));

    const failAll = (err: Error): void => {
      closedError = err;
      for (const w of waiters.values()) {
        clearTimeout(w.timer);
        w.reject(err);
      }
      waiters.clear();
    };

    socket.on('error', (err) => {
      if (!connected) {
        clearTimeout(connectTimer);
        rejectConnect(err);
      }
      failAll(err);
    });
    socket.on('close', () => failAll(closedError ?? new Error('ISO 8583 connection closed')));

    socket.on('data', (chunk: Buffer) => {
      let body: Buffer | null;
      decoder.write(chunk);
      for (;;) {
        try {
          body = decoder.read();
        } catch (err) {
          socket.destroy(err as Error);
          return;
        }
        if (body === null) return;
        let msg: IsoMessage;
        try {
          msg = decode(body, codec);
        } catch (err) {
          const head = peekHeader(body, codec);
          const key = keyOf(head.de11, head.de41);
          const w = waiters.get(key);
          if (w) {
            waiters.delete(key);
            clearTimeout(w.timer);
            w.reject(err as Error);
          } else {
            options.onUnmatched?.(Buffer.from(body));
          }
          continue;
        }
        const key = keyOf(msg.fields[11], msg.fields[41]);
        const w = waiters.get(key);
        if (w) {
          waiters.delete(key);
          clearTimeout(w.timer);
          w.resolve(msg);
        } else {
          options.onUnmatched?.(msg);
        }
      }
    });

    // requests sent in the same tick leave in one writev
    let corked = false;
    const write = (bytes: Buffer): void => {
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(() => {
          corked = false;
          socket.uncork();
        });
      }
      socket.write(bytes);
    };

    const expect = (de11: string | undefined, de41: string | undefined, ms = timeoutMs): Promise<IsoMessage> => {
      if (closedError) return Promise.reject(closedError);
      const key = keyOf(de11, de41);
      if (waiters.has(key)) return Promise.reject(new Error(`a request with DE11 ${de11} DE41 ${de41} is already in flight`));
      return new Promise<IsoMessage>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(key);
          reject(new Error(`no reply to DE11 ${de11} DE41 ${de41} within ${ms} ms`));
        }, ms);
        waiters.set(key, { resolve, reject, timer });
      });
    };

    const client: IsoClient = {
      socket,
      closed,
      get pending() {
        return waiters.size;
      },
      send(msg, ms) {
        let body: Buffer;
        try {
          body = encode(msg, codec);
        } catch (err) {
          return Promise.reject(err);
        }
        const reply = expect(msg.fields[11], msg.fields[41], ms);
        if (!closedError) write(frame(body, framing));
        return reply;
      },
      expect: (de11, de41, ms) => expect(de11, de41, ms),
      sendRaw(bytes) {
        write(bytes);
      },
      sendFrame(body) {
        write(frame(body, framing));
      },
      close() {
        if (!socket.destroyed) {
          socket.end();
          const t = setTimeout(() => socket.destroy(), 2_000);
          t.unref();
        }
        return closed;
      },
    };

    socket.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      resolveConnect(client);
    });
  });
}
