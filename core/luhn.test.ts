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
  /** A Luhn-valid number of 13 to 19 digits with a card network's leading digits. */
  const pan = fc
    .tuple(fc.constantFrom('4', '51', '55', '2200', '2221', '2720', '34', '37', '36', '3528', '3589', '6011', '62', '81', '9792'), fc.integer({ min: 13, max: 19 }), fc.stringMatching(/^[0-9]{18}$/))
    .map(([prefix, length, digits]) => {
      const partial = (prefix + digits).slice(0, length - 1);
      return partial + luhnCheckDigit(partial);
    });
  const grouped = (digits: string, separator: string) => digits.match(/.{1,4}/g)!.join(separator);
  const words = fc.stringMatching(/^[A-Za-zÀ-ÿ ,'()]{0,40}$/);

  it('finds a card number in text, whole or grouped, followed or led by an expiry and a security code', () => {
    fc.assert(fc.property(words, pan, fc.constantFrom('', ' ', '-', '.', '\u00a0', '_', '/'), words, (before, digits, separator, after) => {
      expect(holdsCardNumber(`${before}${grouped(digits, separator)}${after}`)).toBe(true);
    }));
    // In the decimal digits of another script (full-width, as a Japanese keyboard types them; Arabic-Indic).
    fc.assert(fc.property(words, pan, fc.constantFrom(0xff10, 0x0660, 0x0966), words, (before, digits, zero, after) => {
      const written = [...digits].map((d) => String.fromCharCode(zero + Number(d))).join('');
      expect(holdsCardNumber(`${before}${written}${after}`)).toBe(true);
    }));
    fc.assert(fc.property(pan, fc.stringMatching(/^(0[1-9]|1[0-2])[0-9]{2}$/), fc.stringMatching(/^[0-9]{3,4}$/), (digits, expiry, code) => {
      expect(holdsCardNumber(`${grouped(digits, ' ')} ${code}`)).toBe(true);
      expect(holdsCardNumber(`${digits} ${expiry} ${code}`)).toBe(true);
      expect(holdsCardNumber(`exp ${expiry} ${grouped(digits, '-')}`)).toBe(true);
    }));
    expect(holdsCardNumber('Card 4111 1111 1111 1111, Bob')).toBe(true);
    expect(holdsCardNumber('5500-0055-5555-5559')).toBe(true);
    expect(holdsCardNumber('amex 3782 822463 10005')).toBe(true);
    expect(holdsCardNumber('4111 1111 1111 1111 1234')).toBe(true); // 20 digits, but grouped: its first 16 are a card
  });

  it('leaves short runs, runs of 20 digits and more, dates, timestamps and numbers that fail Luhn', () => {
    fc.assert(fc.property(words, fc.stringMatching(/^[0-9]{1,12}$/), words, (before, digits, after) => {
      expect(holdsCardNumber(`${before}${digits}${after}`)).toBe(false);
    }));
    // A card number that further digits continue (20 and more in the run) reads as an id.
    fc.assert(fc.property(pan, fc.stringMatching(/^[0-9]{1,10}$/), (digits, more) => {
      expect(holdsCardNumber(`${digits}${more}`.padStart(20, '7'))).toBe(false);
    }));
    // Batch tags and timestamps: dates written year first or day first, with times, and
    // milliseconds since 1970 until 2035 (from 2036 they start 21, and one in ten passes Luhn).
    fc.assert(fc.property(fc.date({ min: new Date('1990-01-01'), max: new Date('2035-12-31'), noInvalidDate: true }), (at) => {
      const stamp = at.toISOString();
      const [y, mo, d, h, mi, se] = [stamp.slice(0, 4), stamp.slice(5, 7), stamp.slice(8, 10), stamp.slice(11, 13), stamp.slice(14, 16), stamp.slice(17, 19)];
      expect(holdsCardNumber(`import-${y}${mo}${d}-${h}${mi}${se}`)).toBe(false);
      expect(holdsCardNumber(`import ${d}.${mo}.${y} ${h}.${mi}.${se}`)).toBe(false);
      expect(holdsCardNumber(`${d}-${mo}-${y} ${h}${mi}`)).toBe(false);
      expect(holdsCardNumber(`${d}/${mo}/${y} ${h}${mi}`)).toBe(false);
      expect(holdsCardNumber(`${y}/${mo}/${d}_${h}${mi}${se}`)).toBe(false);
      expect(holdsCardNumber(`batch-${at.getTime()}`)).toBe(false);
      expect(holdsCardNumber(stamp)).toBe(false);
    }));
    // Phone numbers: two North American ones side by side, and international ones led by +.
    const digits_of = (n: number) => fc.stringMatching(new RegExp(`^[0-9]{${n}}$`));
    fc.assert(fc.property(digits_of(3), digits_of(3), digits_of(4), digits_of(3), digits_of(3), digits_of(4), (a, b, c, d, e, f) => {
      expect(holdsCardNumber(`Bob ${a}-${b}-${c} ${d}-${e}-${f}`)).toBe(false);
    }));
    fc.assert(fc.property(fc.stringMatching(/^[1-9][0-9]{0,2}$/), digits_of(4), digits_of(7), digits_of(4), (country, a, b, c) => {
      expect(holdsCardNumber(`+${country} ${a} ${b}${c}`)).toBe(false);
      expect(holdsCardNumber(`call +${country}${a}${b}`)).toBe(false);
    }));
    expect(holdsCardNumber('4111111111111112')).toBe(false);
    expect(holdsCardNumber('41111111111111110000')).toBe(false);
    expect(holdsCardNumber('Summer 2026-06-01, 12:00')).toBe(false);
    expect(holdsCardNumber('4111 1111  1111 1111')).toBe(false); // two spaces end a run: 8 and 8 digits
  });
});
