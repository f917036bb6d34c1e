// Length-prefix framing for ISO 8583 over TCP (contract: /work/shared/spec/ISO8583.md).
//
//   binary2 (default): 2-byte big-endian binary length, no TPDU (jPOS NACChannel / PostChannel)
//   ascii4           : 4 ASCII digits ("0123")
//
// A frame of zero length, or of more than MAX_FRAME (8 KiB) bytes of message, is a framing
// error. FrameDecoder is a pull decoder: write() hands it a TCP chunk (kept by reference, not
// copied), read() returns the next whole message or null. A message lying wholly inside one
// chunk comes back as a view of that chunk (zero copy); only a message split across chunks is
// copied, once, into a buffer of exactly its length. So the decoder itself never holds more
// than one partial message plus a partial prefix beyond the chunks it was handed and has not
// yet been asked to read; the server stops reading the socket (not the decoder) to bound those.

import type { Socket } from 'node:net';

export type FramingMode = 'binary2' | 'ascii4';

/** Largest message (bytes after the prefix) a frame may carry: 8 KiB. */
export const MAX_FRAME = 8192;

export type FramingErrorReason = 'zero_length' | 'too_long' | 'bad_prefix';

export class FramingError extends Error {
  override readonly name = 'FramingError';
  readonly reason: FramingErrorReason;
  /** The length the prefix announced, when it was readable. */
  readonly length: number | undefined;

  constructor(reason: FramingErrorReason, length?: number, detail?: string) {
    super(`ISO 8583 framing error: ${reason}${detail ? ` (${detail})` : ''}`);
    this.reason = reason;
    this.length = length;
  }
}

export function isFramingMode(v: unknown): v is FramingMode {
  return v === 'binary2' || v === 'ascii4';
}

export function prefixLength(mode: FramingMode): 2 | 4 {
  return mode === 'ascii4' ? 4 : 2;
}

/** Prefix + message in one new Buffer. Throws FramingError for an empty or oversize message. */
export function frame(message: Buffer, mode: FramingMode = 'binary2', maxFrame: number = MAX_FRAME): Buffer {
  const n = message.length;
  if (n === 0) throw new FramingError('zero_length', 0, 'cannot frame an empty message');
  if (n > maxFrame) throw new FramingError('too_long', n, `message of ${n} bytes, at most ${maxFrame}`);
  if (mode === 'ascii4') {
    const out = Buffer.allocUnsafe(n + 4);
    out[0] = 48 + ((n / 1000) | 0);
    out[1] = 48 + (((n / 100) | 0) % 10);
    out[2] = 48 + (((n / 10) | 0) % 10);
    out[3] = 48 + (n % 10);
    message.copy(out, 4);
    return out;
  }
  const out = Buffer.allocUnsafe(n + 2);
  out[0] = n >>> 8;
  out[1] = n & 0xff;
  message.copy(out, 2);
  return out;
}

export interface FrameDecoderOptions {
  mode?: FramingMode;
  /** Default MAX_FRAME (8192); never above what the prefix can express. */
  maxFrame?: number;
}

export class FrameDecoder {
  readonly mode: FramingMode;
  readonly maxFrame: number;
  private readonly prefixLen: 2 | 4;

  // input handed over by write() and not yet consumed; chunks[0] starts at `offset`
  private chunks: Buffer[] = [];
  private offset = 0;
  private queued = 0;

  // the frame being assembled across chunks
  private prefix = Buffer.alloc(4);
  private prefixHave = 0;
  private want = -1; // message length once the prefix is complete, else -1
  private partial: Buffer | null = null;
  private partialHave = 0;

  private failed: FramingError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    this.mode = options.mode ?? 'binary2';
    if (!isFramingMode(this.mode)) throw new RangeError(`unknown framing mode ${String(this.mode)}`);
    this.prefixLen = prefixLength(this.mode);
    const ceiling = this.mode === 'ascii4' ? 9999 : 0xffff;
    this.maxFrame = Math.min(options.maxFrame ?? MAX_FRAME, ceiling);
  }

  /** Hand over a chunk; it is kept by reference until read() has consumed it. */
  write(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
  }

  /** Bytes handed over and not yet returned as frames (queued input + the partial frame). */
  get pendingBytes(): number {
    return this.queued + this.prefixHave + this.partialHave;
  }

  /** Bytes copied and held for a frame split across chunks: at most prefix + maxFrame. */
  get bufferedBytes(): number {
    return this.prefixHave + this.partialHave;
  }

  /** True when a frame has begun (part of a prefix or body seen) but is not complete. */
  get midFrame(): boolean {
    return this.prefixHave > 0 || this.want >= 0;
  }

  /** The next whole message, or null when more input is needed. Throws FramingError (and keeps
   *  throwing it: a stream with a bad frame cannot be resynchronised). */
  read(): Buffer | null {
    if (this.failed) throw this.failed;
    if (this.want < 0 && !this.readPrefix()) return null;
    const want = this.want;

    // fast path: the whole message lies in the current chunk and nothing is half-assembled
    if (this.partial === null) {
      const head = this.chunks[0];
      if (head === undefined) return null;
      const available = head.length - this.offset;
      if (available >= want) {
        const out = head.subarray(this.offset, this.offset + want);
        this.consume(want);
        this.want = -1;
        return out;
      }
      this.partial = Buffer.allocUnsafe(want);
      this.partialHave = 0;
    }

    const partial = this.partial;
    while (this.partialHave < want) {
      const head = this.chunks[0];
      if (head === undefined) return null;
      const take = Math.min(want - this.partialHave, head.length - this.offset);
      head.copy(partial, this.partialHave, this.offset, this.offset + take);
      this.partialHave += take;
      this.consume(take);
    }
    this.partial = null;
    this.partialHave = 0;
    this.want = -1;
    return partial;
  }

  /** write() then read() until null; convenient when the caller never needs to stop midway. */
  push(chunk: Buffer): Buffer[] {
    this.write(chunk);
    const out: Buffer[] = [];
    for (let f = this.read(); f !== null; f = this.read()) out.push(f);
    return out;
  }

  private consume(n: number): void {
    this.offset += n;
    this.queued -= n;
    const head = this.chunks[0];
    if (head !== undefined && this.offset >= head.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }

  private readPrefix(): boolean {
    const need = this.prefixLen;
    while (this.prefixHave < need) {
      const head = this.chunks[0];
      if (head === undefined) return false;
      // common case: the whole prefix in the current chunk, read it in place
      if (this.prefixHave === 0 && head.length - this.offset >= need) {
        this.setLength(this.parse(head, this.offset));
        this.consume(need);
        return true;
      }
      const take = Math.min(need - this.prefixHave, head.length - this.offset);
      head.copy(this.prefix, this.prefixHave, this.offset, this.offset + take);
      this.prefixHave += take;
      this.consume(take);
    }
    this.prefixHave = 0;
    this.setLength(this.parse(this.prefix, 0));
    return true;
  }

  private parse(buf: Buffer, at: number): number {
    if (this.prefixLen === 2) return (buf[at]! << 8) | buf[at + 1]!;
    let n = 0;
    for (let i = 0; i < 4; i++) {
      const c = buf[at + i]!;
      if (c < 48 || c > 57) {
        this.fail(new FramingError('bad_prefix', undefined, `byte 0x${c.toString(16).padStart(2, '0')} in an ascii4 length`));
      }
      n = n * 10 + (c - 48);
    }
    return n;
  }

  private setLength(n: number): void {
    if (n === 0) this.fail(new FramingError('zero_length', 0));
    if (n > this.maxFrame) this.fail(new FramingError('too_long', n, `frame of ${n} bytes, at most ${this.maxFrame}`));
    this.want = n;
  }

  private fail(err: FramingError): never {
    this.failed = err;
    this.chunks = [];
    this.queued = 0;
    this.partial = null;
    this.partialHave = 0;
    this.prefixHave = 0;
    throw err;
  }
}

const corked = new WeakSet<Socket>();

/** Corks `socket` until the next tick, once a tick: messages written in the same tick leave in one writev. */
export function corkForTick(socket: Socket): void {
  if (corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  process.nextTick(() => {
    corked.delete(socket);
    socket.uncork();
  });
}
