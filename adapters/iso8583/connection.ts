// One connection of the ISO 8583 server (server.ts).
//
//  - frames are decoded as they arrive and handed to the handler at once, many in flight;
//    replies are written in completion order (the peer matches them by DE11 + DE41);
//  - reading stops (socket.pause) while the connection has `in_flight_max_per_connection`
//    requests in flight or while socket.write() reports its buffer full (the peer is not
//    reading); it resumes when in-flight drops below the max and the socket has drained.
//    What one connection may hold is therefore bounded: one TCP chunk of undecoded input
//    (≤ 64 KiB) + one partial frame (≤ 8 KiB + prefix) + the socket's write buffer, which
//    stops growing at the high-water mark (16 KiB) plus the replies of the requests already
//    in flight (≤ in_flight_max × 8 KiB);
//  - DE35 (track 2) is read in ASCII or EBCDIC, whichever the message carries (decodeRequest);
//  - a message that does not decode is answered with DE39 30 when peekHeader finds its MTI,
//    DE11 and DE41 (or, for a network class, a bitmap without DE41: answerable), else the
//    connection is closed, as it is for one that decodes without DE11; a framing error
//    closes it; a handler that throws (or returns a reply that does not encode) is answered with
//    DE39 96;
//  - a connection silent for idle_seconds is closed.
// "Closed" is graceful: stop taking requests, answer those in flight, then end the socket,
// destroying it if that has not finished within the close timeout. When the server stops
// (server.close()), a whole message read before the socket ends is answered DE39 91 (issuer or
// switch inoperative: sent elsewhere or again) without being processed, as the WebSocket channel
// answers 503; until 2026-12-04 it was read and dropped, and its acquirer waited for its timeout.

import type { Socket } from 'node:net';
import { IsoFormatError, decode, encode, peekHeader, createMessage, type CodecOptions, type IsoMessage } from './codec.ts';
import { answerable, headerOf, type PeekedHeader } from './peek-header.ts';
import { FrameDecoder, FramingError, corkForTick, frame, type FramingMode } from './framing.ts';
import { summarize } from './log-hygiene.ts';
import { replyTo, responseMti } from './reply.ts';
import type { IsoConnectionStats, IsoErrorStage, IsoHandler, IsoLogger, IsoRequestContext } from './server.ts';

/** What the connections of one server share: its options, resolved, the connections open, and
 *  how it reports an error it absorbs. createIsoServer builds it once. */
export interface ServerState {
  readonly framing: FramingMode;
  readonly codec: CodecOptions;
  /** `codec` with DE35 in EBCDIC (decodeRequest); undefined when the table cannot have it so. */
  readonly track2Ebcdic: CodecOptions | undefined;
  readonly maxFrame: number;
  readonly idleSeconds: number;
  readonly inFlightMax: number;
  readonly closeTimeoutMs: number;
  readonly handler: IsoHandler;
  readonly logger: IsoLogger;
  readonly live: Set<Connection>;
  report(err: unknown, stage: IsoErrorStage, conn: Connection, level: 'debug' | 'info' | 'warn' | 'error', extra?: object): void;
}

export class Connection {
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
  declining = false; // closing as the server stops: whole frames read before the end are answered 91
  ended = false;
  private killTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly socket: Socket,
    readonly id: number,
    private readonly server: ServerState,
  ) {
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.ctx = { remote: this.remote, connection: this.id };
    this.decoder = new FrameDecoder({ mode: server.framing, maxFrame: server.maxFrame });
    socket.setNoDelay(true);
    if (server.idleSeconds > 0) socket.setTimeout(server.idleSeconds * 1000);
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
      server.logger.info({ remote: this.remote, connection: this.id, idle_seconds: server.idleSeconds }, 'iso8583: idle connection closed');
      this.shutdown(1_000);
    });
    socket.on('error', (err) => server.report(err, 'socket', this, 'debug'));
    socket.on('close', () => {
      if (this.killTimer) clearTimeout(this.killTimer);
      this.decoder = null;
      server.live.delete(this);
    });
  }

  onData(chunk: Buffer): void {
    const decoder = this.decoder;
    // Read and discarded while closing (unless declining, until the end): the peer's FIN is seen.
    if (decoder === null || this.ended || (this.closing && !this.declining)) return;
    decoder.write(chunk);
    this.pump();
  }

  /** Dispatch whole frames while the connection may take more; then pause/resume reading. */
  pump(): void {
    const decoder = this.decoder;
    if (this.declining && decoder !== null && !this.ended) this.declineRead(decoder);
    while (!this.closing && decoder !== null && this.inFlight < this.server.inFlightMax && !this.writeBlocked) {
      let body: Buffer | null;
      try {
        body = decoder.read();
      } catch (err) {
        this.server.report(err, 'framing', this, 'warn');
        this.shutdown(this.server.closeTimeoutMs);
        return;
      }
      if (body === null) break;
      this.dispatch(body);
    }
    // Declining, the 91s wait for the peer to read as replies do (a peer that sends and never
    // reads grew the socket's buffer until the kill: a review, 2026-12-04).
    const mustPause = this.declining && !this.ended ? this.writeBlocked : !this.closing && (this.inFlight >= this.server.inFlightMax || this.writeBlocked);
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
      request = decodeRequest(body, this.server);
    } catch (err) {
      this.badInput(err, peekHeader(body, this.server.codec));
      return;
    }
    // One that parses without DE11, whose reply the peer could never match, closes the connection
    // as one that does not parse (ISO8583.md "Bad input"; a 0210 without DE11 was sent until
    // 2026-12-05, a black-box probe). One without DE41 is read and answered (03: it names no
    // terminal), its reply without DE41 as it came, which a peer keying by DE11 + DE41 (jPOS QMUX
    // skips a key field a message lacks) matches: moov-io's financial and reversal messages, which
    // the codec must read, have none, and were met by a closed connection from 2026-12-05 to
    // 2026-12-06 (a second black-box probe).
    const head = headerOf(request);
    if (head.de11 === undefined) {
      this.badInput(new IsoFormatError(11, 4, 'absent', 'no reply to it could be matched'), head);
      return;
    }
    this.inFlight++;
    if (this.inFlight > this.inFlightPeak) this.inFlightPeak = this.inFlight;
    let pending: Promise<IsoMessage | null | undefined>;
    try {
      pending = this.server.handler(request, this.ctx);
    } catch (err) {
      pending = Promise.reject(err);
    }
    Promise.resolve(pending)
      .then(
        (reply) => this.complete(request, reply),
        (err: unknown) => {
          this.server.report(err, 'handler', this, 'error', { request: summarize(request) });
          this.complete(request, replyTo(request, '96'));
        },
      )
      .catch((err: unknown) => this.server.report(err, 'socket', this, 'error'));
  }

  /** A message that does not decode, or whose reply could not be matched: answered 30 with what
   *  was read of it when answerable, else the connection closed. */
  private badInput(err: unknown, head: PeekedHeader): void {
    if (answerable(head)) {
      this.server.report(err, 'decode', this, 'info', { mti: head.mti, de11: head.de11, de41: head.de41 });
      const fields: Record<number, string> = { 11: head.de11, 39: '30' };
      if (head.de41 !== '') fields[41] = head.de41;
      this.reply(createMessage(responseMti(head.mti), fields));
    } else {
      this.server.report(err, 'decode', this, 'warn', { mti: head.mti, de11: head.de11, de41: head.de41, closing: true });
      this.shutdown(this.server.closeTimeoutMs);
    }
  }

  complete(request: IsoMessage, reply: IsoMessage | null | undefined): void {
    this.inFlight--;
    if (reply !== null && reply !== undefined) {
      const { codec, maxFrame } = this.server;
      let out: Buffer | null = null;
      try {
        out = encode(reply, codec);
        if (out.length > maxFrame) throw new FramingError('too_long', out.length, `reply of ${out.length} bytes, at most ${maxFrame}`);
      } catch (err) {
        this.server.report(err, 'encode', this, 'error', { request: summarize(request) });
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

  /**
   * Every whole frame read while the server stops, answered 91 and not processed; the rest of the
   * stream dropped at a framing error. Not bounded by in-flight: each is answered at once; while
   * the peer does not read them, reading pauses (pump).
   */
  declineRead(decoder: FrameDecoder): void {
    while (this.declining && !this.writeBlocked) {
      let body: Buffer | null;
      try {
        body = decoder.read();
      } catch {
        this.decoder = null;
        this.declining = false;
        return;
      }
      if (body === null) return;
      this.requests++;
      let request: IsoMessage;
      try {
        request = decodeRequest(body, this.server);
      } catch {
        continue; // one that does not decode, read as the server stops: not answered
      }
      if (request.fields[11] === undefined) continue; // nor one whose reply could not be matched
      this.reply(replyTo(request, '91'));
    }
  }

  /**
   * Answers a message that did not decode with what peekHeader found of it. The standard field
   * table always encodes that echo; a narrower one might not, and a throw here would leave the
   * socket's data handler and end the process: the connection is closed instead.
   */
  reply(msg: IsoMessage): void {
    let out: Buffer;
    try {
      out = encode(msg, this.server.codec);
    } catch (err) {
      this.server.report(err, 'encode', this, 'warn', { closing: true });
      // Declining, the next frame's 91 would fail the same way, through shutdown's pump, again.
      this.declining = false;
      this.shutdown(this.server.closeTimeoutMs);
      return;
    }
    this.write(out);
  }

  /** Writes one reply; replies finished in the same tick leave in one writev. */
  write(body: Buffer): void {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    let framed: Buffer;
    try {
      framed = frame(body, this.server.framing, this.server.maxFrame);
    } catch (err) {
      this.server.report(err, 'encode', this, 'error');
      return;
    }
    corkForTick(socket);
    if (!socket.write(framed)) this.writeBlocked = true;
  }

  /** Stop taking requests; end the socket once those in flight are answered; destroy it if
   *  that has not happened within `timeoutMs`. Input is still read (and discarded) so the
   *  peer's FIN is seen and closing does not turn into a reset that loses our replies. */
  shutdown(timeoutMs: number, decline = false): void {
    if (!this.closing) {
      this.closing = true;
      this.declining = decline;
      if (!decline) this.decoder = null;
    }
    this.armKill(timeoutMs);
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    // Frames already read but not yet taken (in-flight was at its max) are declined before the end.
    this.pump();
  }

  maybeEnd(): void {
    if (this.ended || this.inFlight > 0) return;
    // a half-closed peer is answered in full before we end: nothing left to dispatch means
    // the pump loop stopped on an empty decoder, not on backpressure
    const drained = this.closing || (this.peerEnded && !this.writeBlocked);
    if (!drained) return;
    // Whole frames read and not yet declined wait for the peer to read the 91s before them: the
    // drain declines them, then ends (the kill timer bounds the wait).
    if (this.declining && this.writeBlocked && (this.decoder?.pendingBytes ?? 0) > 0) return;
    this.ended = true;
    // Read again (and discard) whatever paused it: the peer's FIN is seen, not reset.
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    if (!this.socket.destroyed) this.socket.end();
    // the peer has a moment to read our replies and close its side
    this.armKill(this.peerEnded ? this.server.closeTimeoutMs : Math.min(this.server.closeTimeoutMs, 2_000));
  }

  armKill(timeoutMs: number): void {
    if (this.killTimer !== null) return;
    this.killTimer = setTimeout(() => this.socket.destroy(), timeoutMs);
    this.killTimer.unref();
  }

  stats(): IsoConnectionStats {
    return {
      id: this.id,
      remote: this.remote,
      inFlight: this.inFlight,
      inFlightPeak: this.inFlightPeak,
      paused: this.readPaused,
      bytesRead: this.socket.bytesRead,
      bytesWritten: this.socket.bytesWritten,
      writableLength: this.socket.writableLength,
      pendingInput: this.decoder?.pendingBytes ?? 0,
      requests: this.requests,
      closing: this.closing,
    };
  }
}

/**
 * The request, its DE35 (track 2) read in the encoding it came in, decided per message: ASCII
 * track 2 lies below 0x80 (digits, ';', '=', …), EBCDIC's digits and hex letters above it (F0-F9,
 * C1-C6), so a DE35 refused at such a byte is read again, once, with DE35 in EBCDIC (moov-io's
 * network_management_message_with_track.dat was answered 30, unread: a black-box probe). Replies
 * never echo DE35 (ECHO_FIELDS), so they are written as the server writes every message.
 */
function decodeRequest(body: Buffer, server: ServerState): IsoMessage {
  try {
    return decode(body, server.codec);
  } catch (err) {
    const ebcdic = server.track2Ebcdic;
    if (ebcdic === undefined || !(err instanceof IsoFormatError) || err.field !== 35 || err.reason !== 'bad_charset' || body[err.position]! < 0x80) throw err;
    try {
      return decode(body, ebcdic);
    } catch {
      throw err; // no track 2 either way: the first error is the one logged
    }
  }
}
