// Best-effort read of MTI, DE11 and DE41 from a message that failed full decode, so the server
// can still answer it with DE39 = 30 (the peer matches replies by DE11 + DE41). It walks the
// fields before DE41 by their lengths alone and ignores their content; it never throws.

import type { CodecOptions, IsoMessage } from './codec.ts';
import { ALLOWED, KIND_ABSENT, KIND_FIXED, compileSpec } from './compile-spec.ts';
import { spec87 } from './spec87.ts';

export interface PeekedHeader {
  mti: string | undefined;
  /** STAN, when 6 digits could be found where the bitmap puts it. */
  de11: string | undefined;
  /**
   * Terminal id, when 8 printable characters could be found where the bitmap puts it; '' when the
   * bitmap says the message has none (the network classes' messages: the peer matches by DE11).
   */
  de41: string | undefined;
}

/**
 * Whether a message is answered (one that does not decode with DE39 30; ISO8583.md: "when its MTI,
 * DE11 and DE41 can be read"), else its connection closed; one that decodes is held to the same
 * rule (headerOf), as its reply is matched the same way. A bitmap without DE41 counts as read only
 * for the network classes (networkClass), which carry none, their replies matched by DE11 alone: a
 * financial message without it (moov-io's error_message.dat, an 0400) has a reply the peer cannot
 * match.
 */
export function answerable(head: PeekedHeader): head is { mti: string; de11: string; de41: string } {
  if (head.mti === undefined || head.de11 === undefined || head.de41 === undefined) return false;
  return head.de41 !== '' || networkClass(head.mti);
}

/**
 * Network management (x8xx of any version: 0800, 0820, 1804) and the class ISO reserves (x9xx):
 * the link's messages, not a terminal's, sent without DE41 and answered by DE11 alone (an 0800
 * signs on; the others are 12, unsupported).
 */
export function networkClass(mti: string): boolean {
  return mti[1] === '8' || mti[1] === '9';
}

/** A decoded message's MTI, DE11 and DE41 as peekHeader gives them: DE41 '' when it has none. */
export function headerOf(msg: IsoMessage): PeekedHeader {
  return { mti: msg.mti, de11: msg.fields[11], de41: msg.fields[41] ?? '' };
}

const ANS_ROW = 3 * 256;

function allIn(buf: Buffer, start: number, end: number, low: number, high: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c < low || c > high) return false;
  }
  return true;
}

export function peekHeader(buf: Buffer, options?: CodecOptions): PeekedHeader {
  const out: PeekedHeader = { mti: undefined, de11: undefined, de41: undefined };
  try {
    walk(buf, options, out);
  } catch {
    // a best-effort reader: whatever was found before a surprise stands
  }
  return out;
}

function walk(buf: Buffer, options: CodecOptions | undefined, out: PeekedHeader): void {
  const end = buf.length;
  if (end >= 4 && allIn(buf, 0, 4, 48, 57)) out.mti = buf.toString('latin1', 0, 4);
  const binary = options?.bitmap === 'binary';
  const mapBytes = binary ? 8 : 16;
  if (end < 4 + mapBytes) return;
  const spec = compileSpec(options?.spec ?? spec87);

  // bits 1..64 of the primary bitmap as 64 flags; only 1..41 matter here
  const bits = new Uint8Array(65);
  for (let i = 0; i < mapBytes; i++) {
    let v: number;
    let width: number;
    if (binary) {
      v = buf[4 + i]!;
      width = 8;
    } else {
      const c = buf[4 + i]!;
      v = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
      if (v < 0) return;
      width = 4;
    }
    for (let b = 0; b < width; b++) if ((v >> (width - 1 - b)) & 1) bits[i * width + b + 1] = 1;
  }
  let pos = 4 + mapBytes * (bits[1] === 1 ? 2 : 1);
  if (bits[41] !== 1) out.de41 = '';

  for (let f = 2; f <= 41; f++) {
    if (bits[f] !== 1) continue;
    const kind = spec.kind[f]!;
    if (kind === KIND_ABSENT) return;
    let n = spec.wireLength[f]!;
    if (kind !== KIND_FIXED) {
      if (pos + kind > end || !allIn(buf, pos, pos + kind, 48, 57)) return;
      // Over the field's maximum is bad content, but its prefix still says where it ends: the
      // walk goes on past it, so that a DE2 of 25 digits is answered 30, not a closed connection.
      n = Number(buf.toString('latin1', pos, pos + kind));
      pos += kind;
    }
    if (pos + n > end) return;
    if (f === 11 && n === 6 && allIn(buf, pos, pos + n, 48, 57)) out.de11 = buf.toString('latin1', pos, pos + n);
    if (f === 41 && n === 8) {
      let ok = true;
      for (let i = pos; i < pos + n; i++) if (ALLOWED[ANS_ROW + buf[i]!] === 0) ok = false;
      if (ok) out.de41 = buf.toString('latin1', pos, pos + n);
    }
    pos += n;
  }
}
