import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { holdsCardNumber, luhnCheckDigit, luhnValid } from './luhn.ts';

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

describe('holdsCardNumber', () => {
  /** A Luhn-valid number of `length` digits from `partial` (its check digit last). */
  const pan = fc.tuple(fc.integer({ min: 13, max: 19 }), fc.stringMatching(/^[2-6][0-9]{18}$/)).map(([length, digits]) => {
    const partial = digits.slice(0, length - 1);
    return partial + luhnCheckDigit(partial);
  });
  const grouped = (digits: string, separator: string) => digits.match(/.{1,4}/g)!.join(separator);
  const words = fc.stringMatching(/^[A-Za-zÀ-ÿ .,'()]{0,40}$/);

  it('finds a card number in text, plain or grouped by spaces or hyphens, wherever it stands', () => {
    fc.assert(fc.property(words, pan, fc.constantFrom('', ' ', '-'), words, (before, digits, separator, after) => {
      expect(holdsCardNumber(`${before}${grouped(digits, separator)}${after}`)).toBe(true);
    }));
    expect(holdsCardNumber('Card 4111 1111 1111 1111, Bob')).toBe(true);
    expect(holdsCardNumber('5500-0055-5555-5559')).toBe(true);
  });

  it('leaves text whose digit runs are shorter, longer, or not Luhn-valid', () => {
    fc.assert(fc.property(words, fc.stringMatching(/^[0-9]{1,12}$/), words, (before, digits, after) => {
      expect(holdsCardNumber(`${before}${digits}${after}`)).toBe(false);
    }));
    // A card number that further digits continue (20 and more in the run) reads as no card number.
    fc.assert(fc.property(pan, fc.stringMatching(/^[0-9]{1,10}$/), (digits, more) => {
      expect(holdsCardNumber(`${digits}${more}`.padStart(20, '7'))).toBe(false);
    }));
    expect(holdsCardNumber('4111111111111112')).toBe(false);
    expect(holdsCardNumber('41111111111111110000')).toBe(false); // 20 digits: no card number
    expect(holdsCardNumber('Summer 2026-06-01, 12:00')).toBe(false);
    expect(holdsCardNumber('4111 1111  1111 1111')).toBe(false); // two spaces end a run: 8 and 8 digits
  });
});
