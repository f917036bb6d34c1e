// The WebSocket terminal channel (TERMINAL.md) on the HTTP server's port: `GET /v1/terminal`
// upgrades, authenticated by the terminal's key in the Authorization header, or, for browsers
// that cannot set it, by the first frame (subprotocol pocketgate.auth-frame). Upgrades are taken
// from node's http server ('upgrade') before Hono sees them; a refused upgrade gets an HTTP
// problem+json response and no socket.

import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { PocketgateError } from '../../core/errors.ts';
import { clientAddress } from '../../core/guesses.ts';
import type { Processor } from '../../processor/processor.ts';
import { body_bytes_max } from '../http/body.ts';
import { bearerKey } from '../http/env.ts';
import { afterEarlierAnswers } from '../http/pipelining.ts';
import { loggedAsError, problem_content_type, problemOf } from '../http/problem.ts';
import type { TerminalPrincipal, TransactionOutcome } from '../terminal-ops.ts';
import { TerminalConnection, type ChannelLimits, type ConnectionHost } from './connection.ts';

export const terminal_path = '/v1/terminal';
export const auth_frame_protocol = 'pocketgate.auth-frame';
/** The largest frame a client may send (a larger one closes with 1009): the HTTP body limit. */
export const frame_bytes_max = body_bytes_max;

export const default_limits: ChannelLimits = {
  in_flight_max: 256,
  frames_per_turn_max: 512,
  auth_timeout_ms: 5_000,
  ping_interval_ms: 30_000,
  buffered_high: 256 << 10,
  buffered_low: 64 << 10,
  buffered_max: 8 << 20,
  held_max: 1 << 20,
  connections_max: 10_000,
};

const close_timeout_ms = 10_000;

export interface ChannelStats {
  readonly connections: number;
  readonly in_flight: number;
  /** Bytes waiting to be sent, over every connection, and the most on one. */
  readonly buffered: number;
  readonly buffered_most: number;
  readonly paused: number;
  /** Frames read and not yet run, in characters (held_max's unit), over every connection. */
  readonly held: number;
  /** The most frames run from one connection in one turn of the event loop (frames_per_turn_max bounds it). */
  readonly frames_in_a_turn_most: number;
}

export class TerminalChannel implements ConnectionHost {
  readonly limits: ChannelLimits;
  private readonly wss: WebSocketServer;
  private readonly stop_listening: () => void;
  private readonly connections = new Set<TerminalConnection>();
  private upgrading = 0;
  private closing = false;
  private all_closed: (() => void) | undefined;
  private readonly pinger: NodeJS.Timeout;

  /**
   * `trusted_hops`: proxies of our own in front of the gateway (TRUST_PROXY_HOPS), as HTTP's
   * (adapters/http/pos.ts sourceOf). `onTransaction`: told of each transaction answered.
   */
  constructor(
    readonly processor: Processor,
    readonly logger: Logger,
    limits: Partial<ChannelLimits> = {},
    private readonly trusted_hops = 0,
    readonly onTransaction: TransactionOutcome | undefined = undefined,
  ) {
    this.limits = { ...default_limits, ...limits };
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: frame_bytes_max,
      clientTracking: false,
      // Compressed frames could inflate past what their size shows; terminals send small JSON.
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(auth_frame_protocol) ? auth_frame_protocol : false),
    });
    // A handshake RFC 6455 refuses (a method other than GET, a missing key, another version)
    // after the key was checked: problem+json as every refusal, not ws's text/html. The versions
    // understood are named only when the version was what it refused (RFC 6455 4.4).
    this.wss.on('wsClientError', (err: Error, socket: Duplex, req: IncomingMessage) => {
      const version = req.headers['sec-websocket-version'];
      const versions = version === '13' || version === '8' ? [] : ['Sec-WebSocket-Version: 13, 8'];
      refuse(socket, new PocketgateError('validation_failed', `WebSocket handshake: ${err.message}`, [{ path: '', message: err.message }]), versions);
    });
    this.pinger = setInterval(() => {
      for (const c of this.connections) c.ping();
    }, this.limits.ping_interval_ms);
    this.pinger.unref();
    // A key revoked (rotated, here or on another gateway: Network.subscribe) closes its sockets
    // with 4401, idle ones too: they stayed open until their next request (a black-box probe).
    this.stop_listening = processor.network.onKeyRevoked((hash) => {
      for (const c of this.connections) c.revoked(hash);
    });
  }

  /**
   * Take `server`'s WebSocket upgrade requests (every path: one that is not ours is answered
   * 404). Any other upgrade offered (h2c: curl --http2, Java's HttpClient) is a plain request.
   */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!isWebSocketUpgrade(req)) return serveAsHttp(server, req, socket, head);
      socket.on('error', (err) => this.logger.debug({ err }, 'terminal channel: socket error during the upgrade'));
      // Pipelined behind answers still being made: its 101 (or refusal) was written before them.
      afterEarlierAnswers(socket, () =>
        this.upgrade(req, socket, head).catch((err: unknown) => {
          const { status, code } = problemOf(err);
          if (loggedAsError(code, status)) this.logger.error({ err }, 'terminal channel: upgrade failed');
          refuse(socket, err);
        }),
      );
    });
  }

  async terminalOf(key: string): Promise<TerminalPrincipal | undefined> {
    const principal = await this.processor.network.authenticate(key, undefined);
    return principal?.kind === 'terminal' ? principal : undefined;
  }

  closed(connection: TerminalConnection): void {
    this.connections.delete(connection);
    if (this.connections.size === 0) this.all_closed?.();
  }

  stats(): ChannelStats {
    let in_flight = 0, buffered = 0, buffered_most = 0, paused = 0, held = 0, frames_in_a_turn_most = 0;
    for (const c of this.connections) {
      const s = c.stats();
      in_flight += s.in_flight;
      buffered += s.buffered;
      buffered_most = Math.max(buffered_most, s.buffered);
      paused += s.paused ? 1 : 0;
      held += s.held;
      frames_in_a_turn_most = Math.max(frames_in_a_turn_most, s.frames_in_a_turn_most);
    }
    return { connections: this.connections.size, in_flight, buffered, buffered_most, paused, held, frames_in_a_turn_most };
  }

  /** Refuse new connections; answer what is in flight on each, then close it with 1001. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pinger);
    this.stop_listening();
    if (this.connections.size > 0) {
      const all_closed = new Promise<void>((resolve) => {
        this.all_closed = resolve;
      });
      for (const c of [...this.connections]) c.shutdown();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all_closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, close_timeout_ms)))]);
      clearTimeout(timer);
      for (const c of [...this.connections]) c.terminate();
    }
    this.wss.close();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if ((req.url ?? '').split('?')[0] !== terminal_path) throw new PocketgateError('not_found', 'no such endpoint');
    if (this.closing) throw new PocketgateError('unavailable', 'the gateway is shutting down');
    if (this.connections.size + this.upgrading >= this.limits.connections_max) throw new PocketgateError('unavailable', 'too many terminal connections on this gateway');
    // Taken now: a socket's address is gone once it is closed.
    const source = sourceOf(req, this.trusted_hops);
    this.upgrading++;
    try {
      const key = await this.keyOf(req);
      if (socket.destroyed) return;
      if (this.closing) throw new PocketgateError('unavailable', 'the gateway is shutting down');
      // Completes the handshake (or answers 400 to one RFC 6455 refuses) synchronously.
      this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => this.connections.add(new TerminalConnection(ws, this, key, source)));
    } finally {
      this.upgrading--;
    }
  }

  /**
   * The key the upgrade authenticates with, checked now. Undefined when the first frame must
   * carry it: the client asked for the auth-frame subprotocol (with a header as well, the header
   * must be good too: it is checked, then the frame decides).
   */
  private async keyOf(req: IncomingMessage): Promise<string | undefined> {
    const header = req.headers.authorization;
    const auth_frame = (req.headers['sec-websocket-protocol'] ?? '').split(',').some((p) => p.trim() === auth_frame_protocol);
    if (header === undefined) {
      if (auth_frame) return undefined;
      throw new PocketgateError('unauthorized', `send Authorization: Bearer <terminal key>, or ask for the subprotocol ${auth_frame_protocol} and send the key in the first frame`);
    }
    const key = bearerKey(header);
    if (key === undefined || (await this.terminalOf(key)) === undefined) throw new PocketgateError('unauthorized', 'a terminal key is required');
    return auth_frame ? undefined : key;
  }
}

/**
 * The address an upgrade request came from, which wrong codes on its connection are counted
 * against (core/guesses.ts): the socket's peer, or behind `trusted_hops` proxies what
 * X-Forwarded-For's outermost one saw; as HTTP requests' (adapters/http/pos.ts sourceOf).
 */
export function sourceOf(req: IncomingMessage, trusted_hops: number): string {
  const forwarded = req.headers['x-forwarded-for'];
  return clientAddress(req.socket.remoteAddress, Array.isArray(forwarded) ? forwarded.join(',') : forwarded, trusted_hops);
}

function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').split(',').some((p) => p.trim().toLowerCase() === 'websocket');
}

/**
 * A request that offered an upgrade we do not speak, served as HTTP (RFC 9110 §7.8: a server may
 * ignore Upgrade). Node 20 hands every request with an Upgrade header to 'upgrade' once anyone
 * listens (it has no shouldUpgradeCallback) and has taken its parser off the socket: the request
 * is written again without the offer, ahead of its body's bytes already read, and the socket
 * given back to the server as a new connection, whose parser reads it and what follows.
 */
function serveAsHttp(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!, value = req.rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    if (lower === 'upgrade') continue;
    if (lower !== 'connection') lines.push(`${name}: ${value}`);
    else {
      const options = value.split(',').map((o) => o.trim()).filter((o) => o !== '' && o.toLowerCase() !== 'upgrade');
      if (options.length > 0) lines.push(`${name}: ${options.join(', ')}`);
    }
  }
  const bytes = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), head]);
  afterEarlierAnswers(socket, () => {
    socket.unshift(bytes);
    server.emit('connection', socket);
  });
}

/** An upgrade refused: the problem as an HTTP response (with `headers` besides), and the socket closed. */
function refuse(socket: Duplex, err: unknown, headers: readonly string[] = []): void {
  if (socket.destroyed) return;
  const { status, body } = problemOf(err);
  const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`, 'Connection: close', `Content-Type: ${problem_content_type}`, `Content-Length: ${Buffer.byteLength(body)}`, ...headers];
  if (status === 401) head.push('WWW-Authenticate: Bearer');
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  // A client that never closes its side must not keep the socket.
  setTimeout(() => socket.destroy(), 1_000).unref();
}
