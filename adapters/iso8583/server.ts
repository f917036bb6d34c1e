// The ISO 8583 TCP server: framing, decoding, pipelining, backpressure, idle and graceful close.
// It knows nothing of the business; a handler maps each request to its reply.
//
// Per connection:
//  - frames are decoded as they arrive and handed to the handler at once, many in flight;
//    replies are written in completion order (the peer matches them by DE11 + DE41);
//  - reading stops (socket.pause) while the connection has `in_flight_max_per_connection`
//    requests in flight or while socket.write() reports its buffer full (the peer is not
//    reading); it resumes when in-flight drops below the max and the socket has drained.
//    What one connection may hold is therefore bounded: one TCP chunk of undecoded input
//    (≤ 64 KiB) + one partial frame (≤ 8 KiB + prefix) + the socket's write buffer, which
//    stops growing at the high-water mark (16 KiB) plus the replies of the requests already
//    in flight (≤ in_flight_max × 8 KiB);
//  - a message that does not decode is answered with DE39 30 when peekHeader finds its MTI,
//    DE11 and DE41, else the connection is closed; a framing error closes it; a handler that
//    throws (or returns a reply that does not encode) is answered with DE39 96;
//  - a connection silent for idle_seconds is closed.
// "Closed" is graceful: stop taking requests, answer those in flight, then end the socket,
// destroying it if that has not finished within the close timeout.

import { LogLimit } from './log-limit.ts';
import { maskPan as maskCardNumber } from '../../core/cim.ts';
import net from 'node:net';
import {
  decode,
  encode,
  peekHeader,
  createMessage,
  IsoFormatError,
  type BitmapEncoding,
  type CodecOptions,
  type IsoMessage,
} from './codec.ts';
import { FrameDecoder, FramingError, frame, isFramingMode, MAX_FRAME, type FramingMode } from './framing.ts';
import type { FieldTable } from './spec87.ts';

// ---------------------------------------------------------------- response helpers

/** Response MTI for a request MTI, as jPOS ISOMsg.setResponseMTI: third digit + 1, a repeat
 *  (fourth digit odd) answered as the original: 0200→0210, 0800→0810, 0100→0110, 0400→0410,
 *  0401→0410, 0420→0430, 0421→0430. A MTI that is already a response (third digit odd) is
 *  returned unchanged so that even a malformed response from a peer can be answered with 30. */
export function responseMti(mti: string): string {
  if (mti.length !== 4) throw new RangeError(`MTI "${mti}" is not 4 digits`);
  for (let i = 0; i < 4; i++) {
    const c = mti.charCodeAt(i);
    if (c < 48 || c > 57) throw new RangeError(`MTI "${mti}" is not 4 digits`);
  }
  const third = mti.charCodeAt(2) - 48;
  if (third % 2 === 1) return mti;
  const origin = mti.charCodeAt(3) - 48;
  const fourth = origin <= 5 ? origin - (origin % 2) : origin;
  return mti.slice(0, 2) + String(third + 1) + String(fourth);
}

export function isRequestMti(mti: string): boolean {
  return mti.length === 4 && (mti.charCodeAt(2) - 48) % 2 === 0;
}

/** Fields copied from a request into its response. DE2 (PAN) is deliberately not among them. */
export const ECHO_FIELDS: readonly number[] = [3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49];

/** The response to `request` with DE39 = code: the response MTI, the ECHO_FIELDS the request
 *  carries (never DE2: the PAN is not echoed), then the fields of `extra` on top. */
export function replyTo(request: IsoMessage, code: string, extra?: Readonly<Record<number, string>>): IsoMessage {
  const reply = createMessage(responseMti(request.mti));
  const from = request.fields;
  const to = reply.fields;
  for (const f of ECHO_FIELDS) {
    const v = from[f];
    if (v !== undefined) to[f] = v;
  }
  to[39] = code;
  if (extra) {
    for (const key of Object.keys(extra)) {
      const f = Number(key);
      if (Number.isInteger(f) && f >= 2 && f <= 128) to[f] = extra[f];
    }
  }
  return reply;
}

// ---------------------------------------------------------------- log hygiene

/** A PAN as the rest of Pocketgate shows one (core's maskPan); values too short to be one, all stars. */
export function maskPan(pan: string | undefined): string | undefined {
  if (pan === undefined) return undefined;
  if (pan.length < 11) return '*'.repeat(pan.length);
  return maskCardNumber(pan);
}

/** Hides anything in free text that looks like a PAN (13 to 19 digits in a row). */
export function scrubPans(text: string): string {
  return text.replace(/(?<!\d)(\d{6})\d{3,9}(\d{4})(?!\d)/g, (_m, a: string, b: string) => `${a}${'*'.repeat(_m.length - 10)}${b}`);
}

/** A loggable summary of a message: DE2 masked, no other card data (DE35, DE45, DE52 left out). */
export function summarize(msg: IsoMessage): Record<string, string | undefined> {
  const f = msg.fields;
  return { mti: msg.mti, de2: maskPan(f[2]), de3: f[3], de4: f[4], de11: f[11], de32: f[32], de39: f[39], de41: f[41], de42: f[42] };
}

function errorForLog(err: unknown): Record<string, unknown> {
  if (err instanceof IsoFormatError) return { type: err.name, field: err.field, reason: err.reason, position: err.position };
  if (err instanceof FramingError) return { type: err.name, reason: err.reason, length: err.length };
  if (err instanceof Error) return { type: err.name, message: scrubPans(err.message), stack: err.stack === undefined ? undefined : scrubPans(err.stack) };
  return { type: typeof err, message: scrubPans(String(err)) };
}

// ---------------------------------------------------------------- options

/** The subset of a pino logger the server uses; a pino Logger fits. */
export interface IsoLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface IsoRequestContext {
  /** "address:port" of the peer. */
  remote: string;
  /** Connection number, unique within this server. */
  connection: number;
}

/** Maps a request to its reply. null / undefined: no reply (e.g. for a response the peer sent). */
export type IsoHandler = (msg: IsoMessage, ctx: IsoRequestContext) => Promise<IsoMessage | null | undefined>;

export type IsoErrorStage = 'handler' | 'encode' | 'decode' | 'framing' | 'socket' | 'idle';

export interface IsoServerOptions {
  handler: IsoHandler;
  /** Default 'binary2' (the gateway passes ISO8583_FRAMING: gateway/config.ts). */
  framing?: FramingMode;
  /** Default 'hex' (ISO8583_BITMAP). */
  bitmap?: BitmapEncoding;
  /** Field table; spec87 when absent. */
  spec?: FieldTable;
  /** A connection silent this long is closed. Default 300 (ISO8583_IDLE_SECONDS); 0 = never. */
  idle_seconds?: number;
  /** Requests in flight on one connection before reading pauses. Default 64. */
  in_flight_max_per_connection?: number;
  /** Bound on a graceful close (server.close() or a connection closed for bad input), after
   *  which sockets are destroyed. Default 10 000 ms. */
  close_timeout_ms?: number;
  /** Largest message in a frame; default and ceiling 8192. */
  max_frame?: number;
  logger?: IsoLogger;
  /** Called for every error the server absorbs (besides logging). Must not throw. */
  onError?: (err: unknown, info: { stage: IsoErrorStage; remote: string; connection: number }) => void;
}

export interface IsoConnectionStats {
  id: number;
  remote: string;
  inFlight: number;
  /** Highest in-flight count seen on this connection. */
  inFlightPeak: number;
  /** Reading stopped for backpressure. */
  paused: boolean;
  bytesRead: number;
  bytesWritten: number;
  /** Bytes waiting in the socket's write buffer. */
  writableLength: number;
  /** Undecoded input held by the frame decoder. */
  pendingInput: number;
  requests: number;
  closing: boolean;
}

export interface IsoServer {
  /** Resolves with the bound port (useful with port 0). */
  listen(port?: number, host?: string): Promise<number>;
  /** Graceful: stop accepting, answer requests in flight, end every connection; sockets still
   *  open after `timeoutMs` (default close_timeout_ms) are destroyed. */
  close(timeoutMs?: number): Promise<void>;
  readonly connections: number;
  /** Requests in flight over all connections. */
  readonly inFlight: number;
  readonly framing: FramingMode;
  readonly bitmap: BitmapEncoding;
  stats(): IsoConnectionStats[];
  /** The underlying net.Server. */
  readonly server: net.Server;
}

const noop = (): void => {};
const silent: IsoLogger = { debug: noop, info: noop, warn: noop, error: noop };

// ---------------------------------------------------------------- server

export function createIsoServer(options: IsoServerOptions): IsoServer {
  if (typeof options.handler !== 'function') throw new TypeError('createIsoServer: handler is required');
  const framing = options.framing ?? 'binary2';
  if (!isFramingMode(framing)) throw new RangeError(`framing must be binary2 or ascii4, not ${String(framing)}`);
  const bitmap = options.bitmap ?? 'hex';
  if (bitmap !== 'hex' && bitmap !== 'binary') throw new RangeError(`bitmap must be hex or binary, not ${String(bitmap)}`);
  const idleSeconds = options.idle_seconds ?? 300;
  if (!(idleSeconds >= 0)) throw new RangeError('idle_seconds must be ≥ 0');
  const inFlightMax = options.in_flight_max_per_connection ?? 64;
  if (!Number.isInteger(inFlightMax) || inFlightMax < 1) throw new RangeError('in_flight_max_per_connection must be an integer ≥ 1');
  const closeTimeoutMs = options.close_timeout_ms ?? 10_000;
  const maxFrame = Math.min(options.max_frame ?? MAX_FRAME, MAX_FRAME);
  const codec: CodecOptions = options.spec ? { bitmap, spec: options.spec } : { bitmap };
  const handler = options.handler;
  const logger = options.logger ?? silent;
  const onError = options.onError;

  const live = new Set<Connection>();
  let nextId = 1;
  let closing: Promise<void> | null = null;

  // What a client causes (frames and messages it sends) is logged at most this often.
  const client_lines = new LogLimit({ lines_max: 20, window_ms: 10_000 });

  function report(err: unknown, stage: IsoErrorStage, conn: Connection, level: 'debug' | 'info' | 'warn' | 'error', extra?: object): void {
    try {
      const limited = (stage === 'framing' || stage === 'decode') && level !== 'debug';
      const take = limited ? client_lines.take() : undefined;
      if (take !== undefined && take.suppressed_before > 0) logger.warn({ suppressed: take.suppressed_before }, 'iso8583: malformed input lines suppressed');
      if (take === undefined || take.write) logger[level]({ err: errorForLog(err), stage, remote: conn.remote, connection: conn.id, ...extra }, `iso8583: ${stage} error`);
      onError?.(err, { stage, remote: conn.remote, connection: conn.id });
    } catch {
      // a failing logger or hook must not take the connection down
    }
  }

  class Connection {
    readonly id = nextId++;
    readonly remote: string;
    readonly ctx: IsoRequestContext;
    decoder: FrameDecoder | null;
    inFlight = 0;
    inFlightPeak = 0;
    requests = 0;
    writeBlocked = false;
    readPaused = false;
    peerEnded = false;
    closing = false; // no more requests taken; end once in-flight is answered
    ended = false;
    corked = false;
    private killTimer: NodeJS.Timeout | null = null;

    constructor(readonly socket: net.Socket) {
      this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
      this.ctx = { remote: this.remote, connection: this.id };
      this.decoder = new FrameDecoder({ mode: framing, maxFrame });
      socket.setNoDelay(true);
      if (idleSeconds > 0) socket.setTimeout(idleSeconds * 1000);
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('drain', () => {
        this.writeBlocked = false;
        this.pump();
      });
      socket.on('end', () => {
        this.peerEnded = true;
        this.pump();
      });
      socket.on('timeout', () => {
        logger.info({ remote: this.remote, connection: this.id, idle_seconds: idleSeconds }, 'iso8583: idle connection closed');
        this.shutdown(1_000);
      });
      socket.on('error', (err) => report(err, 'socket', this, 'debug'));
      socket.on('close', () => {
        if (this.killTimer) clearTimeout(this.killTimer);
        this.decoder = null;
        live.delete(this);
      });
    }

    onData(chunk: Buffer): void {
      const decoder = this.decoder;
      if (this.closing || decoder === null) return; // read and discarded while closing
      decoder.write(chunk);
      this.pump();
    }

    /** Dispatch whole frames while the connection may take more; then pause/resume reading. */
    pump(): void {
      const decoder = this.decoder;
      while (!this.closing && decoder !== null && this.inFlight < inFlightMax && !this.writeBlocked) {
        let body: Buffer | null;
        try {
          body = decoder.read();
        } catch (err) {
          report(err, 'framing', this, 'warn');
          this.shutdown(closeTimeoutMs);
          return;
        }
        if (body === null) break;
        this.dispatch(body);
      }
      const mustPause = !this.closing && (this.inFlight >= inFlightMax || this.writeBlocked);
      if (mustPause && !this.readPaused) {
        this.readPaused = true;
        this.socket.pause();
      } else if (!mustPause && this.readPaused) {
        this.readPaused = false;
        this.socket.resume();
      }
      this.maybeEnd();
    }

    dispatch(body: Buffer): void {
      this.requests++;
      let request: IsoMessage;
      try {
        request = decode(body, codec);
      } catch (err) {
        const head = peekHeader(body, codec);
        if (head.mti !== undefined && head.de11 !== undefined && head.de41 !== undefined) {
          report(err, 'decode', this, 'info', { mti: head.mti, de11: head.de11, de41: head.de41 });
          this.reply(createMessage(responseMti(head.mti), { 11: head.de11, 39: '30', 41: head.de41 }));
        } else {
          report(err, 'decode', this, 'warn', { mti: head.mti, de11: head.de11, de41: head.de41, closing: true });
          this.shutdown(closeTimeoutMs);
        }
        return;
      }
      this.inFlight++;
      if (this.inFlight > this.inFlightPeak) this.inFlightPeak = this.inFlight;
      let pending: Promise<IsoMessage | null | undefined>;
      try {
        pending = handler(request, this.ctx);
      } catch (err) {
        pending = Promise.reject(err);
      }
      Promise.resolve(pending)
        .then(
          (reply) => this.complete(request, reply),
          (err: unknown) => {
            report(err, 'handler', this, 'error', { request: summarize(request) });
            this.complete(request, replyTo(request, '96'));
          },
        )
        .catch((err: unknown) => report(err, 'socket', this, 'error'));
    }

    complete(request: IsoMessage, reply: IsoMessage | null | undefined): void {
      this.inFlight--;
      if (reply !== null && reply !== undefined) {
        let out: Buffer | null = null;
        try {
          out = encode(reply, codec);
          if (out.length > maxFrame) throw new FramingError('too_long', out.length, `reply of ${out.length} bytes, at most ${maxFrame}`);
        } catch (err) {
          report(err, 'encode', this, 'error', { request: summarize(request) });
          try {
            out = encode(replyTo(request, '96'), codec);
          } catch {
            out = null; // the request decoded, so its echo fields encode; this is belt and braces
          }
        }
        if (out !== null) this.write(out);
      }
      this.pump();
    }

    reply(msg: IsoMessage): void {
      this.write(encode(msg, codec));
    }

    /** Writes one reply; replies finished in the same tick leave in one writev. */
    write(body: Buffer): void {
      const socket = this.socket;
      if (socket.destroyed || socket.writableEnded) return;
      let framed: Buffer;
      try {
        framed = frame(body, framing, maxFrame);
      } catch (err) {
        report(err, 'encode', this, 'error');
        return;
      }
      if (!this.corked) {
        this.corked = true;
        socket.cork();
        process.nextTick(() => {
          this.corked = false;
          socket.uncork();
        });
      }
      if (!socket.write(framed)) this.writeBlocked = true;
    }

    /** Stop taking requests; end the socket once those in flight are answered; destroy it if
     *  that has not happened within `timeoutMs`. Input is still read (and discarded) so the
     *  peer's FIN is seen and closing does not turn into a reset that loses our replies. */
    shutdown(timeoutMs: number): void {
      if (!this.closing) {
        this.closing = true;
        this.decoder = null;
      }
      this.armKill(timeoutMs);
      if (this.readPaused) {
        this.readPaused = false;
        this.socket.resume();
      }
      this.maybeEnd();
    }

    maybeEnd(): void {
      if (this.ended || this.inFlight > 0) return;
      // a half-closed peer is answered in full before we end: nothing left to dispatch means
      // the pump loop stopped on an empty decoder, not on backpressure
      const drained = this.closing || (this.peerEnded && !this.writeBlocked);
      if (!drained) return;
      this.ended = true;
      if (!this.socket.destroyed) this.socket.end();
      // the peer has a moment to read our replies and close its side
      this.armKill(this.peerEnded ? closeTimeoutMs : Math.min(closeTimeoutMs, 2_000));
    }

    armKill(timeoutMs: number): void {
      if (this.killTimer !== null) return;
      this.killTimer = setTimeout(() => this.socket.destroy(), timeoutMs);
      this.killTimer.unref();
    }
  }

  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket);
    live.add(conn);
  });
  server.on('error', (err) => {
    try {
      logger.error({ err: errorForLog(err) }, 'iso8583: server error');
    } catch {
      // ignore
    }
  });

  return {
    framing,
    bitmap,
    server,
    get connections() {
      return live.size;
    },
    get inFlight() {
      let n = 0;
      for (const c of live) n += c.inFlight;
      return n;
    },
    stats() {
      return [...live].map((c) => ({
        id: c.id,
        remote: c.remote,
        inFlight: c.inFlight,
        inFlightPeak: c.inFlightPeak,
        paused: c.readPaused,
        bytesRead: c.socket.bytesRead,
        bytesWritten: c.socket.bytesWritten,
        writableLength: c.socket.writableLength,
        pendingInput: c.decoder?.pendingBytes ?? 0,
        requests: c.requests,
        closing: c.closing,
      }));
    },
    listen(port = 0, host?: string) {
      return new Promise<number>((resolve, reject) => {
        const onListenError = (err: Error): void => reject(err);
        server.once('error', onListenError);
        server.listen(port, host, () => {
          server.off('error', onListenError);
          const addr = server.address();
          resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
        });
      });
    },
    close(timeoutMs = closeTimeoutMs) {
      if (closing) return closing;
      closing = new Promise<void>((resolve) => {
        let pending = 2;
        const done = (): void => {
          if (--pending === 0) resolve();
        };
        if (server.listening) server.close(() => done());
        else done();
        const waitConnections = (): void => {
          if (live.size === 0) return done();
          let left = live.size;
          for (const c of live) {
            c.socket.once('close', () => {
              if (--left === 0) done();
            });
          }
        };
        for (const c of [...live]) c.shutdown(timeoutMs);
        waitConnections();
      });
      return closing;
    },
  };
}
