import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatOriginalData, padInstitutionId, parseOriginalData } from './original-data.ts';
import { refusal } from './testdata/refusal.ts';

const digits = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

describe('DE90 original data elements', () => {
  it('lays out MTI, STAN, DE7, DE32 and DE33 zero-padded to 11', () => {
    const s = formatOriginalData({ mti: '0200', stan: '000123', transmissionDateTime: '0911131411', acquirerId: '423935' });
    expect(s).toBe('0200' + '000123' + '0911131411' + '00000423935' + '00000000000');
    expect(s).toHaveLength(42);
    expect(parseOriginalData(s)).toEqual({
      mti: '0200',
      stan: '000123',
      transmissionDateTime: '0911131411',
      acquirerId: '00000423935',
      forwarderId: '00000000000',
    });
    expect(parseOriginalData(s).acquirerId).toBe(padInstitutionId('423935'));
  });

  it('reads the moov-io reversal vector value', () => {
    expect(parseOriginalData('020000331609080645190000000020000000000000')).toMatchObject({ mti: '0200', stan: '003316', transmissionDateTime: '0908064519' });
  });

  it('round trips', () => {
    fc.assert(
      fc.property(digits(4, 4), digits(6, 6), digits(10, 10), digits(0, 11), digits(0, 11), (mti, stan, dt, acq, fwd) => {
        const s = formatOriginalData({ mti, stan, transmissionDateTime: dt, acquirerId: acq, forwarderId: fwd });
        expect(formatOriginalData(parseOriginalData(s))).toBe(s);
        expect(parseOriginalData(s).acquirerId).toBe(acq.padStart(11, '0'));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses wrong lengths and non-digits', () => {
    const ok = { mti: '0200', stan: '000123', transmissionDateTime: '0911131411', acquirerId: '423935' };
    expect(refusal(() => formatOriginalData({ ...ok, stan: '123' }))).toEqual({ field: 90, position: 4, reason: 'bad_length' });
    expect(refusal(() => formatOriginalData({ ...ok, acquirerId: '123456789012' }))).toEqual({ field: 90, position: 20, reason: 'too_long' });
    expect(refusal(() => formatOriginalData({ ...ok, transmissionDateTime: '09111314x1' }))).toEqual({ field: 90, position: 18, reason: 'not_numeric' });
    expect(refusal(() => parseOriginalData('0'.repeat(41)))).toEqual({ field: 90, position: 0, reason: 'bad_length' });
    expect(refusal(() => parseOriginalData('0'.repeat(41) + 'x'))).toEqual({ field: 90, position: 41, reason: 'not_numeric' });
  });
});
