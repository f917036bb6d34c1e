import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { civilFromDays, daysFromCivil, dowOfDays, isoUtc, localDate, offsetAt, periodKey, readLocalTime, startOfLocalDay } from './local-time.ts';

const utc = (s: string): number => Date.parse(s);

/** Reference: the local wall clock straight from Intl, no caching. */
function reference(at_ms: number, timezone: string) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    weekday: 'short',
  }).formatToParts(at_ms);
  const get = (t: string) => parts.find((p) => p.type === t)!.value;
  const dows = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  return {
    year: Number(get('year')),
    month: Number(get('month')),
    day: Number(get('day')),
    minute: (Number(get('hour')) % 24) * 60 + Number(get('minute')),
    dow: dows.indexOf(get('weekday')) + 1,
  };
}

const zones = [
  'UTC',
  'Europe/Lisbon',
  'America/New_York',
  'Asia/Tokyo',
  'Australia/Adelaide', // +9:30/+10:30: transitions in the middle of a UTC hour
  'Australia/Lord_Howe', // half-hour DST
  'Asia/Kathmandu', // +5:45
  'Pacific/Chatham', // +12:45/+13:45
  'America/Santiago', // midnight skipped in September
  'America/Havana', // midnight twice in November
  'Pacific/Kiritimati', // +14
  'Pacific/Pago_Pago', // -11
];

describe('local time', () => {
  it('Lisbon: UTC+0 in winter, UTC+1 in summer, switching at 01:00 UTC', () => {
    expect(readLocalTime(utc('2026-01-15T16:30:00Z'), 'Europe/Lisbon')).toMatchObject({ year: 2026, month: 1, day: 15, minute: 16 * 60 + 30, dow: 4, offset_ms: 0 });
    expect(readLocalTime(utc('2026-07-15T16:30:00Z'), 'Europe/Lisbon')).toMatchObject({ minute: 17 * 60 + 30, dow: 3, offset_ms: 3_600_000 });
    expect(readLocalTime(utc('2026-03-29T00:59:59Z'), 'Europe/Lisbon').minute).toBe(59);
    expect(readLocalTime(utc('2026-03-29T01:00:00Z'), 'Europe/Lisbon').minute).toBe(120);
  });

  it('New York across the March DST change; Tokyo a day ahead', () => {
    expect(readLocalTime(utc('2026-03-08T06:59:00Z'), 'America/New_York')).toMatchObject({ day: 8, minute: 60 + 59, offset_ms: -5 * 3_600_000 });
    expect(readLocalTime(utc('2026-03-08T07:00:00Z'), 'America/New_York')).toMatchObject({ day: 8, minute: 180, offset_ms: -4 * 3_600_000 });
    expect(readLocalTime(utc('2026-01-01T02:00:00Z'), 'America/New_York')).toMatchObject({ year: 2025, month: 12, day: 31, minute: 21 * 60, dow: 3 });
    expect(readLocalTime(utc('2026-06-05T20:00:00Z'), 'Asia/Tokyo')).toMatchObject({ month: 6, day: 6, minute: 5 * 60, dow: 6 });
  });

  it('Adelaide: the transition inside a UTC hour is exact on both sides', () => {
    // 2026-04-05 03:00 ACDT → 02:00 ACST at 16:30 UTC.
    expect(readLocalTime(utc('2026-04-04T16:29:00Z'), 'Australia/Adelaide')).toMatchObject({ day: 5, minute: 2 * 60 + 59 });
    expect(readLocalTime(utc('2026-04-04T16:30:00Z'), 'Australia/Adelaide')).toMatchObject({ day: 5, minute: 2 * 60 });
    expect(readLocalTime(utc('2026-04-04T16:10:00Z'), 'Australia/Adelaide').minute).toBe(2 * 60 + 40);
    expect(readLocalTime(utc('2026-04-04T16:50:00Z'), 'Australia/Adelaide').minute).toBe(2 * 60 + 20);
  });

  it('start of the local day, including skipped and repeated midnights', () => {
    expect(startOfLocalDay(utc('2026-06-01T12:00:00Z'), 'Europe/Lisbon')).toBe(utc('2026-05-31T23:00:00Z'));
    expect(startOfLocalDay(utc('2026-03-29T12:00:00Z'), 'Europe/Lisbon')).toBe(utc('2026-03-29T00:00:00Z'));
    expect(startOfLocalDay(utc('2026-03-08T20:00:00Z'), 'America/New_York')).toBe(utc('2026-03-08T05:00:00Z'));
    expect(startOfLocalDay(utc('2026-06-05T20:00:00Z'), 'Asia/Tokyo')).toBe(utc('2026-06-05T15:00:00Z'));
    // Santiago 2026-09-06: 00:00 does not exist, the day starts at 01:00 -03 (04:00 UTC).
    expect(startOfLocalDay(utc('2026-09-06T15:00:00Z'), 'America/Santiago')).toBe(utc('2026-09-06T04:00:00Z'));
    // Havana 2026-11-01: 00:00 happens twice, the day starts at the first (04:00 UTC).
    expect(startOfLocalDay(utc('2026-11-01T15:00:00Z'), 'America/Havana')).toBe(utc('2026-11-01T04:00:00Z'));
    expect(startOfLocalDay(utc('2026-11-01T04:30:00Z'), 'America/Havana')).toBe(utc('2026-11-01T04:00:00Z'));
  });

  it('period keys: day, ISO week, month, lifetime', () => {
    const ny = readLocalTime(utc('2026-01-01T02:00:00Z'), 'America/New_York'); // Wed 2025-12-31
    expect(periodKey('day', ny)).toBe('d2025-12-31');
    expect(periodKey('week', ny)).toBe('w2026-01');
    expect(periodKey('month', ny)).toBe('m2025-12');
    expect(periodKey('lifetime', ny)).toBe('l');
    expect(periodKey('week', readLocalTime(utc('2027-01-01T12:00:00Z'), 'UTC'))).toBe('w2026-53'); // a Friday
    expect(periodKey('week', readLocalTime(utc('2026-06-01T12:00:00Z'), 'UTC'))).toBe('w2026-23');
    expect(localDate(utc('2026-06-05T20:00:00Z'), 'Asia/Tokyo')).toBe('2026-06-06');
  });

  it('unknown timezones are refused', () => {
    expect(() => offsetAt(0, 'Mars/Olympus_Mons')).toThrow(RangeError);
  });

  it('property: isoUtc is toISOString', () => {
    fc.assert(
      fc.property(fc.integer({ min: -62_198_755_200_000, max: 253_402_300_799_999 + 86_400_000 }), (ms) => {
        expect(isoUtc(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 5000 },
    );
    expect(isoUtc(Date.parse('2026-08-30T12:00:00.007Z'))).toBe('2026-08-30T12:00:00.007Z');
  });

  it('property: civil ↔ days round trip and day of the week', () => {
    fc.assert(
      fc.property(fc.integer({ min: -800_000, max: 800_000 }), (days) => {
        const c = { year: 0, month: 0, day: 0 };
        civilFromDays(days, c);
        expect(daysFromCivil(c.year, c.month, c.day)).toBe(days);
        const d = new Date(days * 86_400_000);
        if (Number.isFinite(d.getTime())) {
          expect([c.year, c.month, c.day]).toEqual([d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()]);
          expect(dowOfDays(days)).toBe(((d.getUTCDay() + 6) % 7) + 1);
        }
      }),
    );
  });

  it('property: the cached computation agrees with Intl at every instant, in every zone', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: utc('1990-01-01T00:00:00Z'), max: utc('2060-01-01T00:00:00Z') }),
        fc.integer({ min: -7200_000, max: 7200_000 }),
        (zone, at, near) => {
          // Two instants close together: the second often hits the cached hour of the first.
          for (const t of [at, at + near]) {
            const mine = readLocalTime(t, zone);
            const ref = reference(t, zone);
            expect({ year: mine.year, month: mine.month, day: mine.day, minute: mine.minute, dow: mine.dow }).toEqual(ref);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('property: exact around every DST transition of 2026 (minute by minute)', () => {
    for (const zone of zones) {
      let prev = offsetAt(utc('2026-01-01T00:00:00Z'), zone);
      for (let t = utc('2026-01-01T00:00:00Z'); t < utc('2027-01-01T00:00:00Z'); t += 3_600_000) {
        const o = offsetAt(t, zone);
        if (o === prev) continue;
        prev = o;
        for (let m = t - 2 * 3_600_000; m <= t + 3_600_000; m += 60_000) {
          const mine = readLocalTime(m, zone);
          const ref = reference(m, zone);
          expect({ year: mine.year, month: mine.month, day: mine.day, minute: mine.minute, dow: mine.dow }, `${zone} ${new Date(m).toISOString()}`).toEqual(ref);
          const start = startOfLocalDay(m, zone);
          expect(localDate(start, zone)).toBe(localDate(m, zone));
          expect(localDate(start - 1, zone) < localDate(m, zone)).toBe(true);
        }
      }
    }
  });
});
