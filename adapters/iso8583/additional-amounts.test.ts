import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeAdditionalAmounts, encodeAdditionalAmounts, type AdditionalAmount } from './additional-amounts.ts';
import { createMessage, decode, encode } from './codec.ts';
import { refusal } from './testdata/refusal.ts';

const digits = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n });
const amountArb: fc.Arbitrary<AdditionalAmount> = fc.record({
  accountType: digits(2),
  amountType: digits(2),
  currency: digits(3),
  sign: fc.constantFrom('C' as const, 'D' as const),
  amount: fc.integer({ min: 0, max: 999_999_999_999 }),
});

describe('DE54 additional amounts', () => {
  it('formats 20-character blocks: account, amount type, currency, sign, n12 minor units', () => {
    const s = encodeAdditionalAmounts([
      { accountType: '00', amountType: '01', currency: '978', sign: 'C', amount: 12345 },
      { accountType: '00', amountType: '02', currency: '978', sign: 'D', amount: 0 },
    ]);
    expect(s).toBe('0001978C000000012345' + '0002978D000000000000');
    expect(decodeAdditionalAmounts(s)[0]).toEqual({ accountType: '00', amountType: '01', currency: '978', sign: 'C', amount: 12345 });
  });

  it('round trips up to six blocks, and fits DE54 in a message', () => {
    fc.assert(
      fc.property(fc.array(amountArb, { maxLength: 6 }), (list) => {
        const s = encodeAdditionalAmounts(list);
        expect(s.length).toBe(20 * list.length);
        expect(decodeAdditionalAmounts(s)).toEqual(list);
        expect(decode(encode(createMessage('0210', { 54: s }))).fields[54]).toBe(s);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses bad blocks with the offset inside the value', () => {
    const a: AdditionalAmount = { accountType: '00', amountType: '90', currency: '978', sign: 'C', amount: 1 };
    expect(refusal(() => encodeAdditionalAmounts([a, { ...a, amount: 1.5 }]))).toEqual({ field: 54, position: 28, reason: 'bad_format' });
    expect(refusal(() => encodeAdditionalAmounts([{ ...a, amount: -1 }]))).toEqual({ field: 54, position: 8, reason: 'bad_format' });
    expect(refusal(() => encodeAdditionalAmounts([{ ...a, amount: 1e12 }]))).toEqual({ field: 54, position: 8, reason: 'too_long' });
    expect(refusal(() => encodeAdditionalAmounts([{ ...a, currency: '97' }]))).toEqual({ field: 54, position: 4, reason: 'bad_length' });
    expect(refusal(() => encodeAdditionalAmounts([{ ...a, amountType: '9x' }]))).toEqual({ field: 54, position: 3, reason: 'not_numeric' });
    expect(refusal(() => encodeAdditionalAmounts([{ ...a, sign: '+' as 'C' }]))).toEqual({ field: 54, position: 7, reason: 'bad_charset' });
    expect(refusal(() => encodeAdditionalAmounts(Array(7).fill(a)))).toEqual({ field: 54, position: 120, reason: 'too_long' });
    expect(refusal(() => decodeAdditionalAmounts('0001978C00000001234'))).toEqual({ field: 54, position: 0, reason: 'bad_length' });
    expect(refusal(() => decodeAdditionalAmounts('0001978X000000012345'))).toEqual({ field: 54, position: 7, reason: 'bad_charset' });
    expect(refusal(() => decodeAdditionalAmounts('0001978C00000001234 '))).toEqual({ field: 54, position: 19, reason: 'not_numeric' });
    expect(refusal(() => decodeAdditionalAmounts('0001978C000000012345'.repeat(7)))).toEqual({ field: 54, position: 120, reason: 'too_long' });
  });
});
