// Property tests: round trips on generated valid messages, and "returns a message or throws
// IsoFormatError" on junk and on mutated real messages. A decode that hangs fails by the test's
// timeout; how fast the codec is belongs to its benchmark (loadtest/codec-bench.ts), not here: a
// wall-clock bound per decode failed on a loaded machine with nothing wrong.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IsoFormatError, decode, encode, fieldsRecord, peekHeader, type CodecOptions, type IsoMessage } from './codec.ts';
import { spec87, spec87Track2Ebcdic } from './spec87.ts';
import { messageArb } from './testdata/arbitraries.ts';
import { loadManifest } from './testdata/vectors.ts';

function same(a: IsoMessage, b: IsoMessage): void {
  expect(b.mti).toBe(a.mti);
  expect(fieldsRecord(b)).toEqual(fieldsRecord(a));
}

/** Decode must return or throw IsoFormatError; a returned message must re-encode. */
function decodeOrRefuse(bytes: Buffer, options?: CodecOptions): void {
  let msg: IsoMessage | undefined;
  try {
    msg = decode(bytes, options);
  } catch (e) {
    if (!(e instanceof IsoFormatError)) throw e;
    expect(typeof e.position === 'number' && e.position >= 0 && e.position <= bytes.length).toBe(true);
  }
  const peeked = peekHeader(bytes, options); // must never throw either
  if (msg) {
    expect(peeked).toEqual({ mti: msg.mti, de11: msg.fields[11], de41: msg.fields[41] ?? '' });
    const again = encode(msg, options);
    same(msg, decode(again, options));
  }
}

const bitmapModes: CodecOptions[] = [{ bitmap: 'hex' }, { bitmap: 'binary' }];

describe('encode ∘ decode', () => {
  it.each(bitmapModes.map((o) => [o.bitmap, o] as const))('is the identity on valid spec87 messages (%s bitmaps)', (_m, options) => {
    fc.assert(
      fc.property(messageArb(spec87), (msg) => {
        const wire = encode(msg, options);
        const back = decode(wire, options);
        same(msg, back);
        expect(encode(back, options).equals(wire)).toBe(true);
        const secondary = msg.fields.some((v, f) => f > 64 && v !== undefined);
        expect(wire.length).toBeGreaterThanOrEqual(4 + (options.bitmap === 'binary' ? 8 : 16) * (secondary ? 2 : 1));
      }),
      { numRuns: 2000 },
    );
  });

  it('is the identity with an EBCDIC track 2', () => {
    fc.assert(
      fc.property(messageArb(spec87Track2Ebcdic, 6), (msg) => {
        same(msg, decode(encode(msg, { spec: spec87Track2Ebcdic }), { spec: spec87Track2Ebcdic }));
      }),
      { numRuns: 300 },
    );
  });
});

const hexChars = fc.constantFrom(...'0123456789ABCDEFabcdef');
const junkByte = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 48, max: 57 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);

describe('decode of junk', () => {
  it('arbitrary bytes: a message or IsoFormatError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300, size: 'max' }), fc.boolean(), (bytes, binary) => {
        decodeOrRefuse(Buffer.from(bytes), binary ? { bitmap: 'binary' } : undefined);
      }),
      { numRuns: 3000 },
    );
  });

  it('plausible headers with junk bodies get past the bitmap', () => {
    const header = fc.tuple(
      fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 4, maxLength: 4 }),
      fc.string({ unit: hexChars, minLength: 16, maxLength: 32 }),
    );
    fc.assert(
      fc.property(header, fc.array(junkByte, { maxLength: 400, size: 'max' }), ([mti, bitmap], body) => {
        decodeOrRefuse(Buffer.concat([Buffer.from(mti + bitmap, 'latin1'), Buffer.from(body)]));
      }),
      { numRuns: 3000 },
    );
  });
});

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; byte: number }
  | { kind: 'replace'; at: number; byte: number }
  | { kind: 'delete'; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: junkByte }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), byte: junkByte }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
);

function mutate(input: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.kind === 'insert' ? 1 : 0));
    switch (m.kind) {
      case 'flip':
        if (b.length > 0) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
        break;
      case 'replace':
        if (b.length > 0) b[at] = m.byte;
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        break;
    }
  }
  return b;
}

describe('decode of mutated messages', () => {
  const vectors = loadManifest().map((v) => v.data);

  it('mutated moov-io vectors: a message or IsoFormatError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...vectors), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.boolean(), (v, muts, ebcdic) => {
        decodeOrRefuse(mutate(v, muts), ebcdic ? { spec: spec87Track2Ebcdic } : undefined);
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated generated messages, both bitmap encodings: a message or IsoFormatError', () => {
    fc.assert(
      fc.property(messageArb(spec87, 12), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), fc.constantFrom(...bitmapModes), (msg, muts, options) => {
        decodeOrRefuse(mutate(encode(msg, options), muts), options);
      }),
      { numRuns: 2000 },
    );
  });
});
