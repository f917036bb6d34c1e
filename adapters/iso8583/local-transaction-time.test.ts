import { describe, expect, it } from 'vitest';
import { PocketgateError } from '../../core/errors.ts';
import { localTransactionTime } from './local-transaction-time.ts';

const at = (s: string) => Date.parse(s);

describe('DE12 + DE13: the local transaction time', () => {
  it('is the instant in the venue’s timezone, in the year that puts it nearest to now', () => {
    const now = at('2026-11-30T12:00:00Z');
    expect(localTransactionTime('113000', '1130', now, 'UTC')).toBe('2026-11-30T11:30:00.000Z');
    expect(localTransactionTime('160000', '1124', now, 'Asia/Tokyo')).toBe('2026-11-24T07:00:00.000Z');
    expect(localTransactionTime('120000', '0715', at('2026-07-20T00:00:00Z'), 'Europe/Lisbon')).toBe('2026-07-15T11:00:00.000Z');
    // Across the new year, either way.
    expect(localTransactionTime('235959', '1231', at('2027-01-01T00:00:30Z'), 'UTC')).toBe('2026-12-31T23:59:59.000Z');
    expect(localTransactionTime('000000', '0101', at('2026-12-31T23:59:00Z'), 'UTC')).toBe('2027-01-01T00:00:00.000Z');
    expect(localTransactionTime('000000', '0101', now, 'UTC')).toBe('2027-01-01T00:00:00.000Z');
    expect(localTransactionTime('120000', '0229', at('2028-03-01T00:00:00Z'), 'UTC')).toBe('2028-02-29T12:00:00.000Z');
  });

  it('is undefined unless both fields are sent', () => {
    expect(localTransactionTime(undefined, '1130', 0, 'UTC')).toBeUndefined();
    expect(localTransactionTime('120000', undefined, 0, 'UTC')).toBeUndefined();
  });

  it('refuses a time or date that does not exist (DE39 30), sent with the other or alone', () => {
    const now = at('2026-11-30T12:00:00Z');
    for (const [de12, de13, path] of [['999999', undefined, 'DE12'], ['12', undefined, 'DE12'], [undefined, '1131', 'DE13'], [undefined, '0230', 'DE13'], [undefined, '1300', 'DE13'], ['240000', '1130', 'DE12'], ['126000', '1130', 'DE12'], ['120060', '1130', 'DE12'], ['12000', '1130', 'DE12'], ['120000', '1330', 'DE13'], ['120000', '0000', 'DE13'], ['120000', '0431', 'DE13'], ['120000', '0229', 'DE13'], ['120000', '11a0', 'DE13']] as const) {
      let err: unknown;
      try {
        localTransactionTime(de12, de13, now, 'UTC');
      } catch (e) {
        err = e;
      }
      expect(err, `${de12} ${de13}`).toBeInstanceOf(PocketgateError);
      expect((err as PocketgateError).code).toBe('validation_failed');
      expect((err as PocketgateError).errors?.[0]?.path).toBe(path);
    }
  });
});
