// The moov-io/iso8583 vectors (Apache-2.0, testdata/moov-io/NOTICE.md): the ten valid messages
// decode to exactly what pyiso8583 decoded and re-encode byte for byte; every message pyiso8583
// refused we refuse too, at the same field and byte; the rest must not crash the decoder.

import { describe, expect, it } from 'vitest';
import { IsoFormatError, decode, encode, fieldsRecord, type CodecOptions } from './codec.ts';
import { spec87, spec87Track2Ebcdic } from './spec87.ts';
import { loadGoFuzzSeeds, loadManifest, type Vector } from './testdata/vectors.ts';

const vectors = loadManifest();

// pyiso8583 decoded DE35 of the *_track files as EBCDIC (manifest note), as moov v0 did.
function optionsFor(v: Vector): CodecOptions {
  return { spec: v.note?.includes('EBCDIC') ? spec87Track2Ebcdic : spec87 };
}

function expectedFields(decoded: Record<string, string>): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [k, v] of Object.entries(decoded)) if (k !== 't' && k !== 'p' && k !== '1') out[Number(k)] = v;
  return out;
}

function catchIso(fn: () => unknown): IsoFormatError {
  try {
    fn();
  } catch (e) {
    if (e instanceof IsoFormatError) return e;
    throw e;
  }
  throw new Error('expected an IsoFormatError');
}

describe('moov-io vectors', () => {
  it('has the 22 vectors the manifest names, with the expected classes', () => {
    expect(vectors).toHaveLength(22);
    expect(vectors.filter((v) => v.moov_v0_expectation === 'valid-roundtrip')).toHaveLength(10);
    for (const v of vectors) expect(v.data.length).toBe(v.bytes);
  });

  const valid = vectors.filter((v) => v.moov_v0_expectation === 'valid-roundtrip');
  it.each(valid.map((v) => [v.name, v] as const))('%s decodes to the manifest values and re-encodes byte for byte', (_name, v) => {
    const want = v.decoded_by_pyiso8583_default_ascii!;
    const options = optionsFor(v);
    const msg = decode(v.data, options);
    expect(msg.mti).toBe(want.t);
    expect(fieldsRecord(msg)).toEqual(expectedFields(want));
    expect(v.data.toString('latin1', 4, 20)).toBe(want.p);
    if (want['1'] !== undefined) expect(v.data.toString('latin1', 20, 36)).toBe(want['1']);
    expect(encode(msg, options).equals(v.data)).toBe(true);
  });

  it.each(valid.map((v) => [v.name, v] as const))('%s survives a trip through binary bitmaps', (_name, v) => {
    const options = optionsFor(v);
    const msg = decode(v.data, options);
    const binary = encode(msg, { ...options, bitmap: 'binary' });
    const bitmaps = parseInt(v.data.toString('latin1', 4, 5), 16) >= 8 ? 2 : 1;
    expect(binary.length).toBe(v.data.length - 8 * bitmaps); // 16 hex characters become 8 bytes
    expect(encode(decode(binary, { ...options, bitmap: 'binary' }), options).equals(v.data)).toBe(true);
  });

  it('error_message.dat fails with IsoFormatError: DE55 truncated where its data starts', () => {
    const v = vectors.find((x) => x.name === 'error_message')!;
    const e = catchIso(() => decode(v.data));
    expect(e).toMatchObject({ field: 55, position: 185, reason: 'truncated' });
    expect(e.message).toContain('field 55');
    expect(e.message).toContain('185');
  });

  // pyiso8583 reports "...: field N pos P"; we must refuse the same messages at the same spot.
  const refused = vectors.filter((v) => v.pyiso8583_default_ascii_error !== undefined);
  it.each(refused.map((v) => [v.name, v] as const))('%s is refused at the field and byte pyiso8583 names', (_name, v) => {
    const m = /field (\d+) pos (\d+)$/.exec(v.pyiso8583_default_ascii_error!);
    expect(m).not.toBeNull();
    const e = catchIso(() => decode(v.data, optionsFor(v)));
    expect({ field: e.field, position: e.position }).toEqual({ field: Number(m![1]), position: Number(m![2]) });
  });

  it('messages that parse but fail semantic checks decode as pyiso8583 decoded them', () => {
    const soft = vectors.filter((v) => v.moov_v0_expectation === 'parses-but-fails-validation');
    expect(soft).toHaveLength(4);
    for (const v of soft) {
      if (v.name === 'network_management_message_with_error_track') {
        // "III" is not track-2 data; the z class refuses it (moov v0 refused it at validation)
        expect(catchIso(() => decode(v.data, optionsFor(v)))).toMatchObject({ field: 35, position: 68, reason: 'bad_charset' });
        continue;
      }
      const want = v.decoded_by_pyiso8583_default_ascii!;
      const msg = decode(v.data, optionsFor(v));
      expect(fieldsRecord(msg)).toEqual(expectedFields(want));
      expect(encode(msg, optionsFor(v)).equals(v.data)).toBe(true);
    }
  });

  it('every other file (and the Go fuzz corpus) decodes or fails with IsoFormatError only', () => {
    const seeds = [...vectors.map((v) => v.data), ...loadGoFuzzSeeds()];
    expect(seeds.length).toBe(25);
    for (const seed of seeds) {
      for (const options of [undefined, { bitmap: 'binary' } as const, { spec: spec87Track2Ebcdic }]) {
        try {
          decode(seed, options);
        } catch (e) {
          expect(e).toBeInstanceOf(IsoFormatError);
        }
      }
    }
  });
});
