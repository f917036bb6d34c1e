// ISO 8583:1987 codec over Buffers (see README.md in this folder for the message shape).
// Hot-path rules: no regexes, no per-field objects, one table lookup per byte, one output
// Buffer per encode sized before writing; every read is bounds-checked first so malformed
// input can only end in IsoFormatError.

import {
  ALLOWED as ALLOWED_TABLE,
  ASCII_TO_EBCDIC,
  CLASS_N_ROW,
  EBCDIC_TO_ASCII,
  KIND_ABSENT,
  KIND_FIXED,
  KIND_LLL,
  compileSpec,
  type CompiledSpec,
} from './compile-spec.ts';
import { IsoFormatError, type IsoErrorField } from './format-error.ts';
import { spec87, type FieldTable } from './spec87.ts';

export { IsoFormatError } from './format-error.ts';
export type { IsoErrorField, IsoErrorReason } from './format-error.ts';
export { peekHeader, type PeekedHeader } from './peek-header.ts';

/** "hex": 16 ASCII hex characters per bitmap (spec87ascii); "binary": 8 raw bytes. */
export type BitmapEncoding = 'hex' | 'binary';

export interface CodecOptions {
  bitmap?: BitmapEncoding;
  /** Field table; spec87 when absent. */
  spec?: FieldTable;
}

/** Index = field number 2..128; values exactly as on the wire (leading zeros, padding, hex
 *  text for b fields). Indexes 0 and 1 stay empty: the MTI and the bitmaps are derived. */
export type IsoFields = (string | undefined)[];

export interface IsoMessage {
  mti: string;
  fields: IsoFields;
}

/** An empty message; set fields by number: `m.fields[11] = '000123'`. */
export function createMessage(mti: string, values?: Readonly<Record<number, string>>): IsoMessage {
  const fields: IsoFields = new Array<string | undefined>(129);
  if (values) {
    for (const key of Object.keys(values)) {
      const f = Number(key);
      if (!Number.isInteger(f) || f < 2 || f > 128) {
        throw new IsoFormatError(Number.isInteger(f) ? f : -1, 0, f === 0 || f === 1 ? 'not_settable' : 'unknown_field', `no field "${key}" to set`);
      }
      fields[f] = values[f];
    }
  }
  return { mti, fields };
}

/** Present fields as a plain record, for logs and assertions. */
export function fieldsRecord(msg: IsoMessage): Record<number, string> {
  const out: Record<number, string> = {};
  const fields = msg.fields;
  for (let f = 0; f < fields.length; f++) {
    const v = fields[f];
    if (v !== undefined) out[f] = v;
  }
  return out;
}

const SPEC87 = compileSpec(spec87);

function specOf(options: CodecOptions | undefined): CompiledSpec {
  const table = options?.spec;
  return table === undefined || table === spec87 ? SPEC87 : compileSpec(table);
}

// Module-local copies: when a bundler or tsx turns these imports into getters (CommonJS
// output), every access in the byte loops would be a call.
const ALLOWED = ALLOWED_TABLE;
const FIXED = KIND_FIXED;
const ABSENT = KIND_ABSENT;
const LLL = KIND_LLL;
const N_ROW = CLASS_N_ROW;

type Latin1Slice = (this: Buffer, start: number, end: number) => string;
const nativeLatin1Slice = (Buffer.prototype as unknown as { latin1Slice?: Latin1Slice }).latin1Slice;
// latin1Slice skips toString's encoding dispatch; fall back if a runtime lacks it.
const latin1Slice: Latin1Slice =
  typeof nativeLatin1Slice === 'function'
    ? nativeLatin1Slice
    : function (this: Buffer, start: number, end: number) {
        return this.toString('latin1', start, end);
      };

/** Up to this many bytes, building the string in JS beats the native slice's call overhead
 *  (measured on Node 20: about 3× faster at 2-6 bytes, slower from about 12). */
const SHORT_STRING = 8;

function latin1(buf: Buffer, start: number, end: number): string {
  if (end - start > SHORT_STRING) return latin1Slice.call(buf, start, end);
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
  return s;
}

/** Hex digit value per byte, -1 for anything else. */
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[65 + i] = 10 + i;
  HEX_VALUE[97 + i] = 10 + i;
}
const HEX_CHAR = new Uint8Array([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 65, 66, 67, 68, 69, 70]);

function byteName(c: number): string {
  return c >= 0x20 && c <= 0x7e ? `'${String.fromCharCode(c)}'` : `0x${c.toString(16).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// decode

/** Reads 32 bitmap bits at `at`; the caller has checked the bytes are there. */
function readWord(buf: Buffer, at: number, binary: boolean): number {
  if (binary) return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) | 0;
  let w = 0;
  for (let i = 0; i < 8; i++) {
    const h = HEX_VALUE[buf[at + i]!]!;
    if (h < 0) throw new IsoFormatError('bitmap', at + i, 'bad_charset', `${byteName(buf[at + i]!)} is not hex`);
    w = (w << 4) | h;
  }
  return w;
}

/** Byte offset of the bitmap character (hex) or byte (binary) that holds field f's bit. */
function bitOffset(f: number, binary: boolean): number {
  const bit = f - 1;
  const perMap = binary ? 8 : 16;
  return 4 + (bit >>> 6) * perMap + ((bit & 63) >>> (binary ? 3 : 2));
}

function readField(buf: Buffer, pos: number, end: number, f: number, spec: CompiledSpec, fields: IsoFields, binary: boolean): number {
  const kind = spec.kind[f]!;
  if (kind === ABSENT) {
    throw new IsoFormatError(f, bitOffset(f, binary), 'unknown_field', 'the bitmap names a field the spec lacks');
  }
  const max = spec.wireLength[f]!;
  let n = max;
  if (kind !== FIXED) {
    if (pos + kind > end) throw new IsoFormatError(f, pos, 'truncated', 'message ends inside the length prefix');
    n = 0;
    for (let i = pos; i < pos + kind; i++) {
      const d = buf[i]! - 48;
      if (d < 0 || d > 9) throw new IsoFormatError(f, i, 'bad_length', `length prefix has ${byteName(buf[i]!)}`);
      n = n * 10 + d;
    }
    if (n > max) throw new IsoFormatError(f, pos, 'too_long', `length ${n} exceeds the maximum ${max}`);
    pos += kind;
  }
  const stop = pos + n;
  if (stop > end) throw new IsoFormatError(f, pos, 'truncated', `needs ${n} bytes, ${end - pos} left`);
  const row = spec.classRow[f]!;
  if (spec.ebcdic[f] === 1) {
    fields[f] = readEbcdic(buf, pos, stop, f, row);
    return stop;
  }
  let i = pos;
  if (spec.signed[f] === 1) {
    const c = buf[i]!;
    if (c !== 67 && c !== 68) throw new IsoFormatError(f, i, 'bad_charset', `sign ${byteName(c)} is not C or D`);
    i++;
  }
  if (n <= SHORT_STRING) {
    // check and build in one pass; short strings built in JS beat the native slice's call cost
    let s = i > pos ? String.fromCharCode(buf[pos]!) : '';
    for (; i < stop; i++) {
      const c = buf[i]!;
      if (ALLOWED[row + c] === 0) throw charsetError(f, i, row, c);
      s += String.fromCharCode(c);
    }
    fields[f] = s;
  } else {
    for (; i < stop; i++) {
      if (ALLOWED[row + buf[i]!] === 0) throw charsetError(f, i, row, buf[i]!);
    }
    fields[f] = latin1Slice.call(buf, pos, stop);
  }
  return stop;
}

function charsetError(f: IsoErrorField, position: number, row: number, c: number): IsoFormatError {
  return row === N_ROW
    ? new IsoFormatError(f, position, 'not_numeric', `${byteName(c)} in a numeric field`)
    : new IsoFormatError(f, position, 'bad_charset', `${byteName(c)} is outside the field's class`);
}

function readEbcdic(buf: Buffer, pos: number, stop: number, f: number, row: number): string {
  let s = '';
  for (let i = pos; i < stop; i++) {
    const c = EBCDIC_TO_ASCII[buf[i]!]!;
    if (c === 0 || ALLOWED[row + c] === 0) throw charsetError(f, i, row, buf[i]!);
    s += String.fromCharCode(c);
  }
  return s;
}

/**
 * Parses one message (no length header). Throws IsoFormatError for anything malformed,
 * including bytes left after the last field.
 */
export function decode(buf: Buffer, options?: CodecOptions): IsoMessage {
  const spec = specOf(options);
  const binary = options?.bitmap === 'binary';
  const end = buf.length;
  if (end < 4) throw new IsoFormatError('mti', 0, 'truncated', `${end} bytes, the MTI needs 4`);
  for (let i = 0; i < 4; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) throw new IsoFormatError('mti', i, 'not_numeric', `${byteName(c)} in the MTI`);
  }
  const mti = latin1(buf, 0, 4);

  const half = binary ? 4 : 8; // bytes per 32 bitmap bits
  if (end < 4 + 2 * half) throw new IsoFormatError('bitmap', 4, 'truncated', 'message ends inside the primary bitmap');
  const w0 = readWord(buf, 4, binary);
  const w1 = readWord(buf, 4 + half, binary);
  let w2 = 0;
  let w3 = 0;
  let pos = 4 + 2 * half;
  if (w0 < 0) {
    // bit 1 (the sign bit of w0) announces the secondary bitmap
    if (end < pos + 2 * half) throw new IsoFormatError('bitmap', pos, 'truncated', 'message ends inside the secondary bitmap');
    w2 = readWord(buf, pos, binary);
    w3 = readWord(buf, pos + half, binary);
    pos += 2 * half;
  }

  const fields: IsoFields = new Array<string | undefined>(129);
  let w = w0 & 0x7fffffff;
  while (w !== 0) {
    const z = Math.clz32(w);
    w ^= 0x80000000 >>> z;
    pos = readField(buf, pos, end, z + 1, spec, fields, binary);
  }
  w = w1;
  while (w !== 0) {
    const z = Math.clz32(w);
    w ^= 0x80000000 >>> z;
    pos = readField(buf, pos, end, z + 33, spec, fields, binary);
  }
  w = w2;
  while (w !== 0) {
    const z = Math.clz32(w);
    w ^= 0x80000000 >>> z;
    pos = readField(buf, pos, end, z + 65, spec, fields, binary);
  }
  w = w3;
  while (w !== 0) {
    const z = Math.clz32(w);
    w ^= 0x80000000 >>> z;
    pos = readField(buf, pos, end, z + 97, spec, fields, binary);
  }
  if (pos !== end) throw new IsoFormatError('bitmap', pos, 'trailing_bytes', `${end - pos} bytes after the last field`);
  return { mti, fields };
}

// ---------------------------------------------------------------------------------------------
// encode

/** Output offset where field f would start; only computed when reporting an error. */
function outputOffset(fields: IsoFields, f: number, spec: CompiledSpec, binary: boolean): number {
  let secondary = false;
  for (let g = 65; g < fields.length && g <= 128; g++) if (fields[g] !== undefined) secondary = true;
  let at = 4 + (binary ? 8 : 16) * (secondary ? 2 : 1);
  for (let g = 2; g < f && g <= 128; g++) {
    const v = fields[g];
    if (typeof v !== 'string') continue;
    const kind = spec.kind[g]!;
    at += v.length + (kind === FIXED || kind === ABSENT ? 0 : kind);
  }
  return at;
}

function writeWord(out: Buffer, p: number, w: number, binary: boolean): number {
  if (binary) {
    out[p] = w >>> 24;
    out[p + 1] = (w >>> 16) & 255;
    out[p + 2] = (w >>> 8) & 255;
    out[p + 3] = w & 255;
    return p + 4;
  }
  for (let shift = 28; shift >= 0; shift -= 4) out[p++] = HEX_CHAR[(w >>> shift) & 15]!;
  return p;
}

function writeField(out: Buffer, p: number, f: number, v: string, spec: CompiledSpec, fields: IsoFields, binary: boolean): number {
  const kind = spec.kind[f]!;
  const n = v.length;
  if (kind === LLL) {
    out[p++] = 48 + ((n / 100) | 0);
    out[p++] = 48 + (((n / 10) | 0) % 10);
    out[p++] = 48 + (n % 10);
  } else if (kind !== FIXED) {
    out[p++] = 48 + ((n / 10) | 0);
    out[p++] = 48 + (n % 10);
  }
  const row = spec.classRow[f]!;
  if (spec.ebcdic[f] === 1) return writeEbcdic(out, p, f, v, row, spec, fields, binary);
  let i = 0;
  if (spec.signed[f] === 1) {
    const c = v.charCodeAt(0);
    if (c !== 67 && c !== 68) {
      throw new IsoFormatError(f, outputOffset(fields, f, spec, binary), 'bad_charset', 'x+n value must start with C or D');
    }
    out[p] = c;
    i = 1;
  }
  for (; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c > 255 || ALLOWED[row + c] === 0) {
      const at = outputOffset(fields, f, spec, binary) + (kind === FIXED ? 0 : kind) + i;
      throw charsetError(f, at, row, c > 255 ? 0xfffd : c);
    }
    out[p + i] = c;
  }
  return p + n;
}

function writeEbcdic(out: Buffer, p: number, f: number, v: string, row: number, spec: CompiledSpec, fields: IsoFields, binary: boolean): number {
  const kind = spec.kind[f]!;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c > 255 || ALLOWED[row + c] === 0) {
      const at = outputOffset(fields, f, spec, binary) + (kind === FIXED ? 0 : kind) + i;
      throw charsetError(f, at, row, c > 255 ? 0xfffd : c);
    }
    out[p + i] = ASCII_TO_EBCDIC[c]!;
  }
  return p + v.length;
}

/** The message's MTI, checked: 4 digits. */
function checkedMti(msg: IsoMessage): string {
  if (typeof msg !== 'object' || msg === null) throw new IsoFormatError('mti', 0, 'bad_type', 'not a message');
  const mti = msg.mti;
  if (typeof mti !== 'string') throw new IsoFormatError('mti', 0, 'bad_type', 'the MTI must be a string');
  if (mti.length !== 4) throw new IsoFormatError('mti', 0, 'bad_length', `MTI has ${mti.length} characters, needs 4`);
  for (let i = 0; i < 4; i++) {
    const c = mti.charCodeAt(i);
    if (c < 48 || c > 57) throw new IsoFormatError('mti', i, 'not_numeric', 'MTI must be 4 digits');
  }
  return mti;
}

/** The bitmap words of the message being encoded, left here by measureFields so that encode
 *  allocates nothing but its output; encode copies them out as soon as it returns. */
const bitmapWords = new Int32Array(4);

/** Checks every field against the field table and sets its bit in bitmapWords; returns the
 *  bytes the fields take on the wire. */
function measureFields(fields: IsoFields, spec: CompiledSpec, binary: boolean): number {
  if (!Array.isArray(fields)) throw new IsoFormatError('bitmap', 4, 'bad_type', 'msg.fields must be an array');
  const count = fields.length;
  if (count > 129) {
    for (let f = 129; f < count; f++) {
      if (fields[f] !== undefined) throw new IsoFormatError(f, 4, 'unknown_field', 'ISO 8583 fields end at 128');
    }
  }
  if (fields[0] !== undefined || fields[1] !== undefined) {
    const f = fields[0] !== undefined ? 0 : 1;
    throw new IsoFormatError(f, 4, 'not_settable', 'the MTI and bitmaps come from msg.mti and the fields present');
  }

  let w0 = 0;
  let w1 = 0;
  let w2 = 0;
  let w3 = 0;
  let dataLength = 0;
  const last = count < 129 ? count : 129;
  const kinds = spec.kind;
  const lengths = spec.wireLength;
  for (let f = 2; f < last; f++) {
    const v = fields[f];
    if (v === undefined) continue;
    if (typeof v !== 'string') {
      throw new IsoFormatError(f, outputOffset(fields, f, spec, binary), 'bad_type', `value is ${typeof v}, not a string`);
    }
    const kind = kinds[f]!;
    if (kind === ABSENT) {
      throw new IsoFormatError(f, outputOffset(fields, f, spec, binary), 'unknown_field', 'the spec lacks this field');
    }
    const n = v.length;
    const max = lengths[f]!;
    if (kind === FIXED) {
      if (n !== max) {
        throw new IsoFormatError(f, outputOffset(fields, f, spec, binary), 'bad_length', `${n} characters, the field is fixed at ${max}`);
      }
    } else {
      if (n > max) {
        throw new IsoFormatError(f, outputOffset(fields, f, spec, binary), 'too_long', `${n} characters, the maximum is ${max}`);
      }
      dataLength += kind;
    }
    dataLength += n;
    const bit = 0x80000000 >>> ((f - 1) & 31);
    if (f <= 32) w0 |= bit;
    else if (f <= 64) w1 |= bit;
    else if (f <= 96) w2 |= bit;
    else w3 |= bit;
  }
  bitmapWords[0] = w0;
  bitmapWords[1] = w1;
  bitmapWords[2] = w2;
  bitmapWords[3] = w3;
  return dataLength;
}

/** Writes the fields whose bits are set in `w`, the bitmap word of fields base to base + 31. */
function writeFields(out: Buffer, p: number, w: number, base: number, spec: CompiledSpec, fields: IsoFields, binary: boolean): number {
  while (w !== 0) {
    const z = Math.clz32(w);
    w ^= 0x80000000 >>> z;
    p = writeField(out, p, z + base, fields[z + base]!, spec, fields, binary);
  }
  return p;
}

/**
 * Packs a message (no length header). Validates the MTI and every value against the field
 * table, throwing IsoFormatError with the output offset of the offending element.
 */
export function encode(msg: IsoMessage, options?: CodecOptions): Buffer {
  const spec = specOf(options);
  const binary = options?.bitmap === 'binary';
  const mti = checkedMti(msg);
  const fields = msg.fields;

  // pass 1: lengths and bitmap
  const dataLength = measureFields(fields, spec, binary);
  let w0 = bitmapWords[0]!;
  const w1 = bitmapWords[1]!;
  const w2 = bitmapWords[2]!;
  const w3 = bitmapWords[3]!;
  const secondary = (w2 | w3) !== 0;
  if (secondary) w0 |= 0x80000000;
  const total = 4 + (binary ? 8 : 16) * (secondary ? 2 : 1) + dataLength;

  // pass 2: write
  const out = Buffer.allocUnsafe(total);
  out[0] = mti.charCodeAt(0);
  out[1] = mti.charCodeAt(1);
  out[2] = mti.charCodeAt(2);
  out[3] = mti.charCodeAt(3);
  let p = writeWord(out, 4, w0, binary);
  p = writeWord(out, p, w1, binary);
  if (secondary) {
    p = writeWord(out, p, w2, binary);
    p = writeWord(out, p, w3, binary);
  }
  p = writeFields(out, p, w0 & 0x7fffffff, 1, spec, fields, binary);
  p = writeFields(out, p, w1, 33, spec, fields, binary);
  p = writeFields(out, p, w2, 65, spec, fields, binary);
  p = writeFields(out, p, w3, 97, spec, fields, binary);
  if (p !== total) throw new Error(`iso8583 encode: wrote ${p} of ${total} bytes`); // invariant
  return out;
}
