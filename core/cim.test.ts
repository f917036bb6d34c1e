import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { luhnCheckDigit } from './luhn.ts';
import { cimToken, maskCardNumbers, normaliseCim, type NormalisedCim } from './cim.ts';

function ok(type: string, value: unknown): NormalisedCim {
  const r = normaliseCim(type, value);
  if ('error' in r) throw new Error(r.error);
  return r;
}

describe('cim', () => {
  it('a value no store can hold (U+0000, an unpaired surrogate) is refused, whatever the type', () => {
    // A query string's value is no JSON body's, checked as it was parsed: an email's reached
    // PostgreSQL's look-up by details, whose refusal read as an outage (a 503).
    for (const [type, value] of [['email', 'a@b.co\u0000'], ['loyalty_id', 'L\ud800'], ['gift_pass', '\udc00G'], ['card', '4111111111111111\u0000']]) {
      expect(normaliseCim(type!, value)).toEqual({ error: 'must not contain U+0000 or unpaired surrogates' });
    }
  });
  it('cards: digits with separators, Luhn, masked first-6/last-4', () => {
    const c = ok('card', '4111 1111-1111 1111');
    expect(c.value).toBe('4111111111111111');
    expect(c.masked).toBe('411111******1111');
    expect('error' in normaliseCim('card', '4111111111111112')).toBe(true);
    expect('error' in normaliseCim('card', '41111111111')).toBe(true);
    expect('error' in normaliseCim('card', '4111x11111111111')).toBe(true);
  });

  it('masked cards never reveal more than first 6 and last 4, and at least 5 digits stay hidden', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{11,18}$/), (partial) => {
        const pan = partial + luhnCheckDigit(partial);
        const c = ok('card', pan);
        expect(c.masked.length).toBe(pan.length);
        expect(c.masked.slice(6, -4)).toMatch(/^\**$/);
        expect(c.masked.includes(pan)).toBe(false);
        expect(c.masked.split('*').length - 1).toBeGreaterThanOrEqual(5);
        if (pan.length >= 15) expect(c.masked.slice(0, 6)).toBe(pan.slice(0, 6));
      }),
    );
    expect(ok('card', '4111111111111111').masked).toBe('411111******1111');
    expect(ok('card', '378282246310005').masked).toBe('378282*****0005');
    expect(ok('card', '30569309025904').masked).toBe('**********5904');
  });

  it('phones normalise to E.164', () => {
    expect(ok('phone', '+44 20 7946-0958').value).toBe('+442079460958');
    expect(ok('phone', '0044 (20) 7946.0958').value).toBe('+442079460958');
    expect(ok('phone', '+442079460958').masked).toBe('+********0958');
    expect('error' in normaliseCim('phone', '020 7946 0958')).toBe(true);
    expect('error' in normaliseCim('phone', '+12')).toBe(true);
  });

  it('phones of seven digits in all, as the smallest numbering plans have them, are E.164 too', () => {
    // Niue (+683) and Tokelau (+690) give four-digit subscriber numbers; Saint Helena (+290), five since 2013.
    expect(ok('phone', '+683 4002').value).toBe('+6834002');
    expect(ok('phone', '+690 3101').masked).toBe('+***3101');
    expect(ok('phone', '+290 22011').value).toBe('+29022011');
    expect('error' in normaliseCim('phone', '+683 400')).toBe(true);
    expect('error' in normaliseCim('phone', '+1234567890123456')).toBe(true);
  });

  it('phones: "(0)" after the country code is the trunk prefix, dropped, except where the 0 is part of the number', () => {
    expect(ok('phone', '+44 (0)20 7946 0958').value).toBe('+442079460958');
    expect(ok('phone', '0049(0)30 1234567').value).toBe('+49301234567');
    expect(ok('phone', '+33 - (0)6 12 34 56 78').value).toBe('+33612345678');
    // Italy (and the Vatican), San Marino, Côte d'Ivoire: the 0 is dialled from abroad too.
    expect(ok('phone', '+39 (0)6 6982 1234').value).toBe(ok('phone', '+39 06 6982 1234').value);
    expect(ok('phone', '+225 (0)7 01 02 03 04').value).toBe('+2250701020304');
    // Anywhere else it is a 0 of the number, as before.
    expect(ok('phone', '+44 20 (0)7946 0958').value).toBe('+4420079460958');
  });

  it('emails compare case-insensitively', () => {
    expect(ok('email', ' Ana.Silva@Example.COM ').value).toBe('ana.silva@example.com');
    expect('error' in normaliseCim('email', 'no-at-sign')).toBe(true);
    expect('error' in normaliseCim('email', 'a@b')).toBe(true);
  });

  it('an email is one "@", no white space, control or special character, a domain of non-empty labels', () => {
    for (const good of ["o'brien+tag@example.co.uk", 'josé@exämple.de', 'a.b-c_d@sub.example.com', '用户@例子.公司']) expect(ok('email', good).value).toBe(good.toLowerCase());
    for (const bad of ['a@b@example.com', 'a\nb@x.com', 'a\tb@x.com', 'a b@x.com', 'a@.com', 'a@x..com', 'x@example.com.', '<a>@x.com', 'a,b@x.com', '"a"@x.com', 'a@x .com', 'a@[1.2.3.4]']) {
      expect(normaliseCim('email', bad), bad).toEqual({ error: 'email must look like name@domain.tld' });
    }
  });

  it('wallet codes must be Luhn-valid 16 digits', () => {
    const partial = '123456789012345';
    expect(ok('wallet_code', partial + luhnCheckDigit(partial)).value).toHaveLength(16);
    expect('error' in normaliseCim('wallet_code', '1234567890123456')).toBe(luhnCheckDigit(partial) !== '6');
  });

  it('refuses unknown types and non-strings without throwing', () => {
    fc.assert(
      fc.property(fc.string(), fc.anything(), (type, value) => {
        const r = normaliseCim(type, value);
        expect(typeof r).toBe('object');
      }),
    );
  });

  it('tokens bind business and type', () => {
    const a = cimToken('k', 'bus_1', 'phone', '+442079460958');
    expect(a).toHaveLength(22);
    expect(cimToken('k', 'bus_2', 'phone', '+442079460958')).not.toBe(a);
    expect(cimToken('k', 'bus_1', 'loyalty_id', '+442079460958')).not.toBe(a);
    expect(cimToken('k2', 'bus_1', 'phone', '+442079460958')).not.toBe(a);
  });

  it('tokens stay what HMAC-SHA256 with the key text gives (tokens already stored keep working)', () => {
    for (const key of ['k', 'k2', 'k', 'clé-ünïcode']) {
      const plain = createHmac('sha256', key).update('bus_1\u0000phone\u0000+442079460958').digest('base64url').slice(0, 22);
      expect(cimToken(key, 'bus_1', 'phone', '+442079460958')).toBe(plain);
    }
  });
});

describe('maskCardNumbers', () => {
  it('masks every run of 12 to 19 digits that passes Luhn, and nothing else', () => {
    expect(maskCardNumbers('contact 4012888888881881 not found')).toBe('contact 401288******1881 not found');
    expect(maskCardNumbers('a 4012888888881882 b')).toBe('a 4012888888881882 b'); // fails Luhn
    expect(maskCardNumbers('at most 999999999999')).toBe('at most 999999999999');
    expect(maskCardNumbers('id 40128888888818810000')).toBe('id 40128888888818810000'); // 22 digits: no card
    expect(maskCardNumbers('merchant ter_0123 not found')).toBe('merchant ter_0123 not found');
  });

  it('masks one written with underscores or slashes, or in full-width digits, where it stood (a probe, 2026-12-06)', () => {
    expect(maskCardNumbers('contact 4012_8888_8888_1881 not found')).toBe('contact 401288******1881 not found');
    expect(maskCardNumbers('a 4012/8888/8888/1881 b')).toBe('a 401288******1881 b');
    expect(maskCardNumbers('名前 ４０１２８８８８８８８８１８８１ です')).toBe('名前 401288******1881 です');
    expect(maskCardNumbers('on 06/12/2026 at 10/20')).toBe('on 06/12/2026 at 10/20');
  });

  it('masks one written in groups as a card CIM takes it, and leaves dates and amounts be (a PAN probe)', () => {
    expect(maskCardNumbers('contact 4012-8888-8888-1881 not found')).toBe('contact 401288******1881 not found');
    expect(maskCardNumbers('terminal 4012 8888 8888 1881 not found')).toBe('terminal 401288******1881 not found');
    expect(maskCardNumbers('a 4012\u00a08888\u00a08888\u00a01881')).toBe('a 401288******1881');
    expect(maskCardNumbers('from 2026-12-06 to 2026-12-07')).toBe('from 2026-12-06 to 2026-12-07');
    expect(maskCardNumbers('4012888888881881-5')).toBe('401288******1881-5'); // grouped, no card; its whole run is one
    // Beside other numbers, as the rules for names and tags read them (the review): masked.
    expect(maskCardNumbers('card 4111 1111 1111 1111 12/28')).toBe('card 411111******1111 12/28');
    expect(maskCardNumbers('4111-1111-1111-1111 123')).toBe('411111******1111 123');
    expect(maskCardNumbers('qty 2 4111 1111 1111 1111')).toBe('qty 2 411111******1111');
    // A phone, dates, amounts: left be.
    for (const text of ['+351 912 345 102', '2026-12-09 2027-01-15', 'amounts 2500 1200 99']) expect(maskCardNumbers(text)).toBe(text);
  });

  it('leaves no card number whole, wherever it stands in the text (fast-check)', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 11, max: 18 }), fc.nat(), fc.string(), (before, length, seed, after) => {
        const partial = `4${String(seed).padStart(length - 1, '7').slice(0, length - 1)}`;
        const pan = partial + luhnCheckDigit(partial);
        const text = `${before.replace(/\d$/, '')} ${pan} ${after.replace(/^\d/, '')}`;
        expect(maskCardNumbers(text)).not.toContain(pan);
      }),
    );
  });
});
