import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatTagData, parseTagData } from './private-data.ts';
import { refusal } from './testdata/refusal.ts';

describe('DE48 TAG=value; pairs', () => {
  it('parses and formats the contract example', () => {
    expect([...parseTagData('OTP=123456;')]).toEqual([['OTP', '123456']]);
    expect(formatTagData({ OTP: '123456' })).toBe('OTP=123456;');
    expect(formatTagData(new Map([['A', '1'], ['B', '']]))).toBe('A=1;B=;');
  });

  it('tolerates a missing final ; and = inside values', () => {
    expect([...parseTagData('A=1;B=x=y')]).toEqual([['A', '1'], ['B', 'x=y']]);
    expect(parseTagData('').size).toBe(0);
  });

  it('round trips', () => {
    const tag = fc.string({ unit: fc.constantFrom(...'ABCXYZ019_'), minLength: 1, maxLength: 8 });
    const value = fc.string({ unit: fc.constantFrom(...'0123456789 abc=-+.,:/'), maxLength: 20 });
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(tag, value), { selector: ([t]) => t, maxLength: 10 }), (pairs) => {
        const s = formatTagData(pairs);
        expect([...parseTagData(s)]).toEqual(pairs);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses malformed pairs with the offset inside the value', () => {
    expect(refusal(() => parseTagData('OTP123;'))).toEqual({ field: 48, position: 0, reason: 'bad_format' });
    expect(refusal(() => parseTagData('A=1;;'))).toEqual({ field: 48, position: 4, reason: 'bad_format' });
    expect(refusal(() => parseTagData('A=1;=2;'))).toEqual({ field: 48, position: 4, reason: 'bad_format' });
    expect(refusal(() => parseTagData('A=1;A=2;'))).toEqual({ field: 48, position: 4, reason: 'bad_format' });
    expect(refusal(() => parseTagData('A=1;B C=2;'))).toEqual({ field: 48, position: 5, reason: 'bad_charset' });
    expect(refusal(() => formatTagData({ OTP: '12;3' }))).toEqual({ field: 48, position: 6, reason: 'bad_charset' });
    expect(refusal(() => formatTagData({ 'O-P': '1' }))).toEqual({ field: 48, position: 1, reason: 'bad_charset' });
    expect(refusal(() => formatTagData({ '': '1' }))).toEqual({ field: 48, position: 0, reason: 'bad_format' });
    expect(refusal(() => formatTagData([['A', '1'], ['A', '2']]))).toEqual({ field: 48, position: 4, reason: 'bad_format' });
    expect(refusal(() => formatTagData({ A: 'x'.repeat(997) }))).toEqual({ field: 48, position: 999, reason: 'too_long' });
  });
});
