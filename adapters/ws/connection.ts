// One terminal's WebSocket (TERMINAL.md): frames read in order, requests run concurrently (at
// most in_flight_max), each answered when it completes. The adapter only translates: the same
// commands, schemas, problem bodies and idempotency as HTTP (adapters/terminal-ops.ts).
//
// Memory stays bounded whatever the client does: a frame is at most 64 KiB (ws maxPayload); at
// most in_flight_max requests run; and a client that does not read its replies stops being read
// (ws.pause) once buffered_high bytes wait to be sent, so neither its requests nor our replies
// pile up. Frames ws had already read when we paused are held (at most held_bytes_max) and run
// once the client has read what it was sent.
//
// Nor does one connection keep the process to itself: once frames_per_turn_max frames have run
// in one turn of the event loop, it is read again in the next (the rest of the read in hand is
// held till then). Otherwise (node reads a socket up
// to 32 times, 2 MiB, a turn; ws hands over every frame of a read at once) a client writing faster
// than its requests completed had some 9,000 frames answered in one turn that did nothing else,
// not even read the Redis replies its requests waited for: they stayed in flight and every frame
// after them got a 429. frames_per_turn_max is above in_flight_max so that a burst of requests
// past in_flight_max still meets its 429s in the turn it arrives in, as the contract says.

import type { Logger } from 'pino';
import { WebSocket, type RawData } from 'ws';
import { PocketgateError } from '../../core/errors.ts';
import { parseWith } from '../../core/schemas.ts';
import { hashKey } from '../../processor/network.ts';
import type { Processor } from '../../processor/processor.ts';
import { loggedAsError, problemOf } from '../http/problem.ts';
import { secondsSince, terminal_ops, type TerminalOp, type TerminalPrincipal, type TransactionOutcome } from '../terminal-ops.ts';
import { auth_accepted, readAuthFrame, readFrame, replyFrame, type Frame, type FrameReply } from './frames.ts';

export interface ChannelLimits {
  /** Requests running at once on one connection; beyond, 429 and not run. */
  readonly in_flight_max: number;
  /** Frames run from one connection in one turn of the event loop; beyond, held and run in the next. */
  readonly frames_per_turn_max: number;
  /** How long a browser (subprotocol pocketgate.auth-frame) has to send its auth frame. */
  readonly auth_timeout_ms: number;
  /** Pings this often; a connection that has not answered two is closed. */
  readonly ping_interval_ms: number;
  /** Bytes waiting to be sent past which the connection is not read... */
  readonly buffered_high: number;
  /** ...until they are back under this. */
  readonly buffered_low: number;
  /** Bytes waiting to be sent past which the connection is dropped (never reached unless a reply is huge). */
  readonly buffered_max: number;
  /** Frames read but not yet run (paused, or waiting for the auth frame's answer), in characters. */
  readonly held_max: number;
  /** Connections per process. */
  readonly connections_max: number;
}

/** What a connection needs of the channel it belongs to. */
export interface ConnectionHost {
  readonly processor: Processor;
  readonly logger: Logger;
  readonly limits: ChannelLimits;
  /** The terminal a key names now (Network.authenticate), or undefined. */
  terminalOf(key: string): Promise<TerminalPrincipal | undefined>;
  /** Told of each transaction answered (its terminal known), as HTTP's are. */
  readonly onTransaction: TransactionOutcome | undefined;
  closed(connection: TerminalConnection): void;
}

/** Close codes: RFC 6455's, and 4401 (4000-4999 are the application's) for a missing or wrong key. */
export const close_codes = { going_away: 1001, unsupported_data: 1003, try_again_later: 1013, unauthorized: 4401 } as const;

type Request = Extract<Frame, { kind: 'request' }>;

export class TerminalConnection {
  /** 'auth': waiting for the auth frame; 'draining': shutting down, answering what runs. */
  private state: 'auth' | 'open' | 'draining' | 'closed';
  private key: string | undefined;
  /** The key's hash (Network's), to know its revocation; '' while none. */
  private key_hash = '';
  /** Revoked while requests ran: closed 4401 once they are answered. */
  private key_revoked = false;
  private in_flight = 0;
  private unanswered_pings = 0;
  private paused = false;
  /** Frames read in this turn of the event loop; at frames_per_turn_max, not read again until the next (yielding). */
  private read_this_turn = 0;
  private read_in_a_turn_most = 0;
  private yielding = false;
  private authenticating = false;
  private held: string[] = [];
  private held_next = 0;
  private held_size = 0;
  private auth_timer: NodeJS.Timeout | undefined;

  /**
   * `key`: the terminal key the upgrade authenticated; undefined when the first frame must carry
   * it. `source`: the client's address (the upgrade request's, as HTTP's: clientAddress), which
   * wrong codes presented on this connection are counted against with the terminal.
   */
  constructor(
    private readonly ws: WebSocket,
    private readonly host: ConnectionHost,
    key: string | undefined,
    private readonly source: string,
  ) {
    this.key = key;
    this.key_hash = key === undefined ? '' : hashKey(key);
    this.state = key === undefined ? 'auth' : 'open';
    if (key === undefined) this.auth_timer = setTimeout(() => this.close(close_codes.unauthorized, 'no auth frame in time'), host.limits.auth_timeout_ms);
    ws.on('message', (data, binary) => this.message(data, binary));
    ws.on('pong', () => {
      this.unanswered_pings = 0;
    });
    // Protocol errors (a frame over maxPayload, text that is not UTF-8, ...): ws has already
    // closed the connection with the code RFC 6455 gives them (1009, 1007, ...).
    ws.on('error', (err) => host.logger.debug({ err }, 'terminal channel: connection closed on a protocol error'));
    ws.on('close', () => this.closed());
  }

  /** `held` in characters, as held_max. */
  stats(): { in_flight: number; buffered: number; paused: boolean; held: number; frames_in_a_turn_most: number } {
    const frames_in_a_turn_most = Math.max(this.read_in_a_turn_most, this.read_this_turn);
    return { in_flight: this.in_flight, buffered: this.ws.bufferedAmount, paused: this.paused, held: this.held_size, frames_in_a_turn_most };
  }

  /** Called every ping interval: a connection that has not answered the last two pings is closed. */
  ping(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (this.unanswered_pings >= 2) {
      this.host.logger.info('terminal channel: two pings unanswered, connection closed');
      this.ws.terminate();
      return;
    }
    this.unanswered_pings++;
    this.ws.ping();
  }

  /** Shutting down: what runs is answered, what was held is refused (503, not run), then 1001. */
  shutdown(): void {
    if (this.state === 'closed') return;
    if (this.state === 'auth') {
      this.close(close_codes.going_away, 'server shutting down');
      return;
    }
    this.state = 'draining';
    // Read again: what is held is answered now, and the client's close frame must be read.
    this.paused = false;
    this.readOrNot();
    this.release();
    if (this.in_flight === 0) this.close(close_codes.going_away, 'server shutting down');
  }

  terminate(): void {
    this.ws.terminate();
  }

  private message(data: RawData, binary: boolean): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (binary) {
      this.close(close_codes.unsupported_data, 'binary frames are not accepted');
      return;
    }
    // Text frames: ws has checked they are UTF-8 (binaryType nodebuffer: a Buffer). A leading
    // byte order mark is dropped, as HTTP's body decoding drops it (TextDecoder): the same bytes
    // get the same answer on both.
    const decoded = (data as Buffer).toString('utf8');
    const text = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded;
    if (this.paused || this.authenticating || this.yielding) this.hold(text);
    else this.frame(text);
  }

  private frame(text: string): void {
    this.counted();
    if (this.state === 'auth') {
      clearTimeout(this.auth_timer);
      this.authenticating = true;
      this.readOrNot();
      this.authenticate(text).catch((err: unknown) => this.failed(err, 'auth'));
      return;
    }
    const f = readFrame(text);
    if (f.kind === 'bad') this.send(f.id, this.problem(f.error));
    else this.request(f);
  }

  private request(f: Request): void {
    if (this.state !== 'open') {
      this.send(f.id, this.problem(new PocketgateError('unavailable', 'the gateway is shutting down: send this again on a new connection')));
      return;
    }
    if (this.in_flight >= this.host.limits.in_flight_max) {
      this.send(f.id, this.problem(new PocketgateError('rate_limited', `at most ${this.host.limits.in_flight_max} requests in flight on one connection`)));
      return;
    }
    this.in_flight++;
    this.run(f)
      .then((reply) => this.done(f.id, reply))
      .catch((err: unknown) => this.failed(err, f.op));
  }

  /** The request's reply, or the problem it is: never rejects. */
  private async run(f: Request): Promise<FrameReply> {
    const start = process.hrtime.bigint();
    let principal: TerminalPrincipal | undefined;
    let reply: FrameReply;
    const op: TerminalOp = terminal_ops[f.op];
    try {
      // Asked again for every request (cached by Network): a key revoked stops working here as over HTTP.
      principal = await this.host.terminalOf(this.key!);
      // The same problem as HTTP's for the key (gateway/app.ts): TERMINAL.md wants the same body.
      if (principal === undefined) throw new PocketgateError('unauthorized', 'unknown API key');
      reply = await op.run(this.host.processor, principal, parseWith(op.schema, f.body), this.source);
    } catch (err) {
      reply = this.problem(err, f.op);
    }
    if (op.transaction && principal !== undefined) this.host.onTransaction?.(principal.business.id, reply.status < 300, secondsSince(start));
    return reply;
  }

  /**
   * The key whose hash is `hash` was revoked: this connection, if it holds it, closes with 4401,
   * once what it runs now is answered (those requests were made with a key then valid).
   */
  revoked(hash: string): void {
    if (hash !== this.key_hash || this.state !== 'open') return;
    this.key_revoked = true;
    if (this.in_flight === 0) this.close(close_codes.unauthorized, 'terminal key no longer valid');
  }

  private done(id: string, reply: FrameReply): void {
    this.in_flight--;
    this.send(id, reply);
    if (reply.status === 401 || (this.key_revoked && this.in_flight === 0)) this.close(close_codes.unauthorized, 'terminal key no longer valid');
    else if (this.state === 'draining' && this.in_flight === 0) this.close(close_codes.going_away, 'server shutting down');
  }

  private async authenticate(text: string): Promise<void> {
    const key = readAuthFrame(text);
    let principal: TerminalPrincipal | undefined;
    try {
      principal = key === undefined ? undefined : await this.host.terminalOf(key);
    } catch (err) {
      this.problem(err, 'auth');
      this.close(close_codes.try_again_later, 'could not check the key now');
      return;
    }
    if (this.state !== 'auth') return; // closed meanwhile
    if (principal === undefined) {
      this.close(close_codes.unauthorized, 'a terminal key is required');
      return;
    }
    this.key = key;
    this.key_hash = hashKey(key!);
    this.state = 'open';
    this.authenticating = false;
    this.write(auth_accepted);
    this.readOrNot();
    this.release();
  }

  private problem(err: unknown, op?: string): FrameReply {
    const { status, body, code } = problemOf(err);
    if (loggedAsError(code, status)) this.host.logger.error({ err, op }, 'terminal channel: request failed');
    else if (status >= 500) this.host.logger.debug({ err, op }, 'terminal channel: request failed');
    return { status, body, replayed: err instanceof PocketgateError && err.replayed };
  }

  /** A failure past every catch (a bug): logged, and the connection closed rather than left waiting. */
  private failed(err: unknown, op: string): void {
    this.host.logger.error({ err, op }, 'terminal channel: unexpected failure; connection dropped');
    this.ws.terminate();
  }

  private send(id: string | null, reply: FrameReply): void {
    this.write(replyFrame(id, reply));
  }

  private write(frame: string): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(frame, this.written);
    const buffered = this.ws.bufferedAmount;
    if (buffered > this.host.limits.buffered_max) {
      this.host.logger.warn({ buffered }, 'terminal channel: client not reading its replies; connection dropped');
      this.ws.terminate();
    } else if (!this.paused && buffered > this.host.limits.buffered_high) {
      this.paused = true;
      this.readOrNot();
    }
  }

  /**
   * After each frame is handed to the socket: read again once the client has caught up. Node
   * calls a write's callback with null when it succeeded (ws hands it ours as is): until
   * 2026-12-04 only undefined was taken as success, so a connection paused once was never read
   * again (the black-box audit of TERMINAL.md; test/terminal.test.ts, "a client that reads late").
   */
  private readonly written = (err?: Error | null): void => {
    if ((err !== undefined && err !== null) || !this.paused || this.ws.bufferedAmount > this.host.limits.buffered_low) return;
    this.paused = false;
    this.readOrNot();
    this.release();
  };

  /** One more frame run this turn: at frames_per_turn_max, the socket waits for the next turn and what it had read is held till then. */
  private counted(): void {
    if (this.read_this_turn++ === 0) setImmediate(this.next_turn);
    if (this.read_this_turn !== this.host.limits.frames_per_turn_max) return;
    this.yielding = true;
    this.readOrNot();
  }

  private readonly next_turn = (): void => {
    this.read_in_a_turn_most = Math.max(this.read_in_a_turn_most, this.read_this_turn);
    this.read_this_turn = 0;
    if (!this.yielding) return;
    this.yielding = false;
    this.readOrNot();
    this.release();
  };

  /**
   * Read the socket, unless the client has not read what it was sent (paused), this turn has had
   * its frames (yielding) or its auth frame's key is being checked (authenticating: what it sends
   * meanwhile would all be held, an empty frame counting nothing towards held_max).
   */
  private readOrNot(): void {
    const stop = this.paused || this.yielding || this.authenticating;
    if (stop === this.ws.isPaused) return;
    if (stop) this.ws.pause();
    else this.ws.resume();
  }

  private hold(text: string): void {
    this.held.push(text);
    this.held_size += text.length;
    if (this.held_size > this.host.limits.held_max) {
      this.host.logger.warn({ held: this.held_size }, 'terminal channel: too much read and not yet run; connection dropped');
      this.ws.terminate();
    }
  }

  /** Run what was held, in order, until paused or waiting again. */
  private release(): void {
    while (this.held_next < this.held.length && !this.paused && !this.authenticating && !this.yielding && this.ws.readyState === WebSocket.OPEN) {
      const text = this.held[this.held_next]!;
      this.held[this.held_next++] = '';
      this.held_size -= text.length;
      this.frame(text);
    }
    if (this.held_next === this.held.length) {
      this.held = [];
      this.held_next = 0;
    }
  }

  private close(code: number, reason: string): void {
    clearTimeout(this.auth_timer);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    // Read again, whatever stopped it: the client's close frame ends the close at once (else ws
    // waits 30 s for it), and what comes before it is dropped (message: no longer OPEN).
    if (this.ws.isPaused) this.ws.resume();
  }

  private closed(): void {
    this.state = 'closed';
    clearTimeout(this.auth_timer);
    this.held = [];
    this.held_next = 0;
    this.held_size = 0;
    this.host.closed(this);
  }
}
