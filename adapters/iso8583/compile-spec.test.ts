import { describe, expect, it } from 'vitest';
import { ALLOWED, ASCII_TO_EBCDIC, EBCDIC_TO_ASCII, KIND_FIXED, KIND_LL, KIND_LLL, compileSpec } from './compile-spec.ts';
import { spec87, withFields, type ContentClass } from './spec87.ts';

function members(content: ContentClass): string {
  const spec = compileSpec(withFields(spec87, [{ number: 2, description: 'probe', content, lengthType: 'fixed', length: 1 }]));
  const row = spec.classRow[2]!;
  let s = '';
  for (let c = 0; c < 256; c++) if (ALLOWED[row + c] === 1) s += String.fromCharCode(c);
  return s;
}

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = UPPER.toLowerCase();
const DIGITS = '0123456789';
const SPECIALS = ' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

describe('content classes (pinned by hand)', () => {
  const sorted = (s: string): string => [...s].sort().join('');
  it.each([
    ['n', DIGITS],
    ['a', ' ' + UPPER + LOWER],
    ['an', ' ' + DIGITS + UPPER + LOWER],
    ['ans', DIGITS + UPPER + LOWER + SPECIALS],
    ['ns', DIGITS + SPECIALS],
    ['z', DIGITS + ':;<=>?ABCDEF'],
    ['b', DIGITS + 'ABCDEFabcdef'],
    ['x+n', DIGITS], // the C/D sign is checked apart
  ] as const)('%s', (content, chars) => {
    expect(sorted(members(content))).toBe(sorted(chars));
  });
});

describe('EBCDIC (code page 500)', () => {
  it('maps printable ASCII both ways and nothing else', () => {
    let mapped = 0;
    for (let c = 0; c < 256; c++) {
      const e = ASCII_TO_EBCDIC[c]!;
      if (c >= 0x20 && c <= 0x7e) {
        expect(EBCDIC_TO_ASCII[e]).toBe(c);
        mapped++;
      } else expect(e).toBe(0);
    }
    expect(mapped).toBe(95);
    expect([...'0F =A'].map((ch) => ASCII_TO_EBCDIC[ch.charCodeAt(0)])).toEqual([0xf0, 0xc6, 0x40, 0x7e, 0xc1]);
  });
});

describe('compileSpec', () => {
  it('lays spec87 out as kinds and wire lengths, once per table', () => {
    const s = compileSpec(spec87);
    expect(compileSpec(spec87)).toBe(s);
    expect([s.kind[2], s.wireLength[2]]).toEqual([KIND_LL, 19]);
    expect([s.kind[48], s.wireLength[48]]).toEqual([KIND_LLL, 999]);
    expect([s.kind[52], s.wireLength[52]]).toEqual([KIND_FIXED, 16]);
    expect([s.kind[28], s.wireLength[28], s.signed[28]]).toEqual([KIND_FIXED, 9, 1]);
    expect(s.kind[0]).toBe(0);
  });

  it('rejects tables the codec cannot run', () => {
    const base = spec87[48]!;
    expect(() => compileSpec([undefined, undefined, { ...base, number: 3 }])).toThrow(/index 2 holds field 3/);
    expect(() => compileSpec(withFields(spec87, [{ ...base, lengthType: 'llvar', length: 100 }]))).toThrow(RangeError);
    expect(() => compileSpec(withFields(spec87, [{ ...base, content: 'b', lengthType: 'lllvar', length: 10 }]))).toThrow(RangeError);
    expect(() => compileSpec(withFields(spec87, [{ ...spec87[1]!, length: 16 }]))).toThrow(/secondary bitmap/);
    expect(() => compileSpec(withFields(spec87, [{ ...base, length: 0 }]))).toThrow(RangeError);
    expect(() => compileSpec(new Array(130).fill(undefined))).toThrow(RangeError);
  });
});
