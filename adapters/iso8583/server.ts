// The ISO 8583 TCP server: framing, decoding, pipelining, backpressure, idle and graceful close.
// It knows nothing of the business; a handler maps each request to its reply.
// What each connection does (pipelining, backpressure, bad input, idle, graceful close) is in
// connection.ts.

import { LogLimit, refusalCounter } from './log-limit.ts';
import net from 'node:net';
import type { BitmapEncoding, CodecOptions, IsoMessage } from './codec.ts';
import { Connection, type ServerState } from './connection.ts';
import { isFramingMode, MAX_FRAME, type FramingMode } from './framing.ts';
import { errorForLog } from './log-hygiene.ts';
import { spec87, withTrack2Ebcdic, type FieldTable } from './spec87.ts';

export { responseMti, isRequestMti, ECHO_FIELDS, replyTo } from './reply.ts';
export { maskPan, scrubPans, summarize } from './log-hygiene.ts';

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
  /** Connections held at once; one more is closed as it opens. Default iso_connections_max_default. */
  connections_max?: number;
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

/** As the terminal channel's connections_max: each connection holds a socket, a decoder and buffers. */
export const iso_connections_max_default = 10_000;

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
  const connectionsMax = options.connections_max ?? iso_connections_max_default;
  if (!Number.isInteger(connectionsMax) || connectionsMax < 1) throw new RangeError('connections_max must be an integer ≥ 1');
  const closeTimeoutMs = options.close_timeout_ms ?? 10_000;
  const maxFrame = Math.min(options.max_frame ?? MAX_FRAME, MAX_FRAME);
  const codec: CodecOptions = options.spec ? { bitmap, spec: options.spec } : { bitmap };
  const track2Ebcdic = track2EbcdicOf(codec);
  const logger = options.logger ?? silent;
  const live = new Set<Connection>();
  const report = errorReporter(logger, options.onError);
  const state: ServerState = { framing, codec, track2Ebcdic, maxFrame, idleSeconds, inFlightMax, closeTimeoutMs, handler: options.handler, logger, live, report };
  let nextId = 1;
  let closing: Promise<void> | null = null;
  const admitted = admission(live, connectionsMax, logger);

  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    if (!admitted(socket)) return;
    const conn = new Connection(socket, nextId++, state);
    live.add(conn);
  });
  server.on('error', (err) => {
    // Before it listens, the error is the listen's (a port taken): its promise rejects and the
    // start says it in one line; logged here too, it came with its whole stack (an operator probe).
    if (!server.listening) return;
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
      return [...live].map((c) => c.stats());
    },
    listen(port = 0, host?: string) {
      return listenOn(server, port, host);
    },
    close(timeoutMs = closeTimeoutMs) {
      if (closing) return closing;
      closing = closeGracefully(server, live, timeoutMs);
      return closing;
    },
  };
}

/**
 * Whether a new connection may be held: fewer than `connections_max` are. One more is closed as it
 * opens, and said so at most once in 10 s: whoever opens connections must not decide how much the
 * gateway writes to its log either.
 */
function admission(live: ReadonlySet<Connection>, connections_max: number, logger: IsoLogger): (socket: net.Socket) => boolean {
  const refusedOne = refusalCounter((refused) => logger.warn({ connections_max, refused }, 'iso8583: connection refused, connections_max reached'));
  return (socket) => {
    if (live.size < connections_max) return true;
    socket.on('error', noop);
    socket.destroy();
    refusedOne();
    return false;
  };
}

/** The codec options with DE35 in EBCDIC, for a message that carries it so; undefined when the
 *  field table has no DE35 or reads it as EBCDIC already. */
function track2EbcdicOf(codec: CodecOptions): CodecOptions | undefined {
  const ebcdic = withTrack2Ebcdic(codec.spec ?? spec87);
  return ebcdic === undefined ? undefined : { ...codec, spec: ebcdic };
}

/** Logs an error a connection absorbed, then tells onError. */
function errorReporter(logger: IsoLogger, onError: IsoServerOptions['onError']): ServerState['report'] {
  // What a client causes (frames and messages it sends) is logged at most this often.
  const client_lines = new LogLimit({ lines_max: 20, window_ms: 10_000 });

  return (err, stage, conn, level, extra) => {
    try {
      const limited = (stage === 'framing' || stage === 'decode') && level !== 'debug';
      const take = limited ? client_lines.take() : undefined;
      if (take !== undefined && take.suppressed_before > 0) logger.warn({ suppressed: take.suppressed_before }, 'iso8583: malformed input lines suppressed');
      if (take === undefined || take.write) logger[level]({ err: errorForLog(err), stage, remote: conn.remote, connection: conn.id, ...extra }, `iso8583: ${stage} error`);
      onError?.(err, { stage, remote: conn.remote, connection: conn.id });
    } catch {
      // a failing logger or hook must not take the connection down
    }
  };
}

/** Resolves with the bound port (useful with port 0). */
function listenOn(server: net.Server, port: number, host: string | undefined): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const onListenError = (err: Error): void => reject(err);
    server.once('error', onListenError);
    server.listen(port, host, () => {
      server.off('error', onListenError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : port);
    });
  });
}

/** Stops accepting, shuts every connection down gracefully and resolves once the server and
 *  every socket have closed. */
function closeGracefully(server: net.Server, live: Set<Connection>, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
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
    for (const c of [...live]) c.shutdown(timeoutMs, true);
    waitConnections();
  });
}
