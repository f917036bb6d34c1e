import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { luhnCheckDigit, luhnValid } from './luhn.ts';

describe('luhn', () => {
  it('accepts known valid card numbers and rejects altered ones', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('5500005555555559')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(luhnValid('41111111111a1111')).toBe(false);
    expect(luhnValid('')).toBe(false);
  });

  it('check digit makes any digit string valid, and any other digit invalid', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{1,30}$/), fc.integer({ min: 1, max: 9 }), (partial, delta) => {
        const check = luhnCheckDigit(partial);
        expect(luhnValid(partial + check)).toBe(true);
        const wrong = String((Number(check) + delta) % 10);
        expect(luhnValid(partial + wrong)).toBe(false);
      }),
    );
  });
});
