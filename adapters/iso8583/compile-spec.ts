// Turns a FieldTable into flat typed arrays indexed by field number, so the codec's inner loop
// does array loads and one table lookup per byte instead of object property walks and regexes.

import type { ContentClass, FieldTable } from './spec87.ts';

export const KIND_ABSENT = 0;
export const KIND_FIXED = 1;
// LLVAR and LLLVAR use their prefix width as their kind, so the codec reads `kind` digits.
export const KIND_LL = 2;
export const KIND_LLL = 3;

export interface CompiledSpec {
  readonly table: FieldTable;
  /** KIND_* per field number 0..128. */
  readonly kind: Uint8Array;
  /** Characters on the wire: the fixed length, or the maximum for LL/LLL. */
  readonly wireLength: Uint16Array;
  /** Offset of the field's class row in ALLOWED (class id × 256). */
  readonly classRow: Uint16Array;
  /** 1 for x+n: the first character is C or D, the rest digits. */
  readonly signed: Uint8Array;
  /** 1 when the data bytes are EBCDIC. */
  readonly ebcdic: Uint8Array;
}

const CLASS_IDS: Record<ContentClass, number> = { n: 0, a: 1, an: 2, ans: 3, ns: 4, z: 5, b: 6, 'x+n': 7 };
export const CLASS_N_ROW = 0;

/** ALLOWED[row + byte] is 1 when the byte belongs to the class. */
export const ALLOWED: Uint8Array = buildAllowed();

function buildAllowed(): Uint8Array {
  const t = new Uint8Array(8 * 256);
  const set = (id: number, test: (c: number) => boolean): void => {
    for (let c = 0; c < 256; c++) if (test(c)) t[id * 256 + c] = 1;
  };
  const digit = (c: number): boolean => c >= 48 && c <= 57;
  const letter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  const printable = (c: number): boolean => c >= 0x20 && c <= 0x7e;
  set(CLASS_IDS.n, digit);
  set(CLASS_IDS.a, (c) => letter(c) || c === 32); // fixed a/an fields are space-padded
  set(CLASS_IDS.an, (c) => letter(c) || digit(c) || c === 32);
  set(CLASS_IDS.ans, printable);
  set(CLASS_IDS.ns, (c) => printable(c) && !letter(c));
  // Track data: the ABA characters 0x30-0x3F ("0-9:;<=>?") or their hex-nibble spellings A-F
  // (D = separator, F = filler), which is how packed tracks read once unpacked.
  set(CLASS_IDS.z, (c) => (c >= 0x30 && c <= 0x3f) || (c >= 65 && c <= 70));
  set(CLASS_IDS.b, (c) => digit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102));
  set(CLASS_IDS['x+n'], digit); // the sign is checked apart
  return t;
}

/** Code page 500 for printable ASCII 0x20..0x7E, in order. */
const CP500_PRINTABLE =
  '404f7f7b5b6c507d4d5d5c4e6b604b61f0f1f2f3f4f5f6f7f8f97a5e4c7e6e6f7cc1c2c3c4c5c6c7c8c9d1d2d3d4d5d6d7d8d9e2e3e4e5e6e7e8e94ae05a5f6d79818283848586878889919293949596979899a2a3a4a5a6a7a8a9c0bbd0a1';

/** ASCII code → EBCDIC byte, 0 where no printable mapping exists. */
export const ASCII_TO_EBCDIC = new Uint8Array(256);
/** EBCDIC byte → ASCII code, 0 where no printable mapping exists. */
export const EBCDIC_TO_ASCII = new Uint8Array(256);
for (let i = 0; i < 95; i++) {
  const e = parseInt(CP500_PRINTABLE.slice(i * 2, i * 2 + 2), 16);
  ASCII_TO_EBCDIC[0x20 + i] = e;
  EBCDIC_TO_ASCII[e] = 0x20 + i;
}

const cache = new WeakMap<FieldTable, CompiledSpec>();

/** Compiled once per table; asserts the table is one the codec can run. */
export function compileSpec(table: FieldTable): CompiledSpec {
  const hit = cache.get(table);
  if (hit) return hit;
  if (table.length > 129) throw new RangeError('field table has entries beyond field 128');
  const kind = new Uint8Array(129);
  const wireLength = new Uint16Array(129);
  const classRow = new Uint16Array(129);
  const signed = new Uint8Array(129);
  const ebcdic = new Uint8Array(129);
  for (let f = 1; f < table.length; f++) {
    const def = table[f];
    if (def === undefined) continue;
    if (def.number !== f) throw new RangeError(`field table index ${f} holds field ${def.number}`);
    const id = CLASS_IDS[def.content];
    if (id === undefined) throw new RangeError(`field ${f}: unknown content class ${String(def.content)}`);
    if (!Number.isInteger(def.length) || def.length < 1) throw new RangeError(`field ${f}: bad length ${def.length}`);
    const wire = def.content === 'b' ? def.length * 2 : def.content === 'x+n' ? def.length + 1 : def.length;
    if (def.lengthType === 'fixed') kind[f] = KIND_FIXED;
    else if (def.lengthType === 'llvar' && wire <= 99) kind[f] = KIND_LL;
    else if (def.lengthType === 'lllvar' && wire <= 999) kind[f] = KIND_LLL;
    else throw new RangeError(`field ${f}: ${def.lengthType} cannot carry ${wire} characters`);
    // Variable b or x+n would need a rule for what the prefix counts; spec87 has none.
    if (kind[f] !== KIND_FIXED && (def.content === 'b' || def.content === 'x+n')) {
      throw new RangeError(`field ${f}: variable-length ${def.content} is not supported`);
    }
    if (f === 1 && (def.content !== 'b' || def.length !== 8 || kind[f] !== KIND_FIXED)) {
      throw new RangeError('field 1 must be the secondary bitmap, b 8 fixed');
    }
    wireLength[f] = wire;
    classRow[f] = id * 256;
    signed[f] = def.content === 'x+n' ? 1 : 0;
    ebcdic[f] = def.dataEncoding === 'ebcdic' ? 1 : 0;
  }
  const compiled: CompiledSpec = { table, kind, wireLength, classRow, signed, ebcdic };
  cache.set(table, compiled);
  return compiled;
}
