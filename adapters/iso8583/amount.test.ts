import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAmount, parseAmount } from './amount.ts';
import { IsoFormatError } from './format-error.ts';

describe('amounts in minor units', () => {
  it('pads and parses', () => {
    expect(formatAmount(5000)).toBe('000000005000');
    expect(formatAmount(0, 3)).toBe('000');
    expect(parseAmount('000000005000')).toBe(5000);
    expect(formatAmount(999_999_999_999)).toBe('999999999999');
  });

  it('round trips every n12 amount', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999_999 }), (n) => {
        expect(parseAmount(formatAmount(n))).toBe(n);
      }),
    );
  });

  it('refuses fractions, negatives, overflow and non-digits', () => {
    for (const bad of [1.5, -1, Number.NaN, 1e12]) expect(() => formatAmount(bad)).toThrow(IsoFormatError);
    expect(() => parseAmount('12a')).toThrow(IsoFormatError);
    expect(() => parseAmount('')).toThrow(IsoFormatError);
    expect(() => parseAmount('1'.repeat(16))).toThrow(IsoFormatError);
  });
});
