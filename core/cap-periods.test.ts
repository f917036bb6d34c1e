import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capCounterKept, capPeriodsKeptFrom } from './cap-periods.ts';
import { periodKey, readLocalTime } from './local-time.ts';

const day_ms = 86_400_000;
// UTC+14, UTC−11, UTC−12, half and quarter hours, summer time.
const zones = ['UTC', 'Pacific/Kiritimati', 'Pacific/Pago_Pago', 'Etc/GMT+12', 'America/St_Johns', 'Asia/Kathmandu', 'Europe/Paris', 'America/Los_Angeles'];
const kinds = ['day', 'week', 'month'] as const;
const now = fc.integer({ min: Date.UTC(2001, 0, 1), max: Date.UTC(2099, 0, 1) });
const field = (kind: (typeof kinds)[number], at_ms: number, zone: string) => `off_x|${periodKey(kind, readLocalTime(at_ms, zone))}`;

describe('cap counters kept', () => {
  it('keeps every counter a purchase may still be counted in: dated up to 35 days back or 5 minutes ahead, in any venue calendar', () => {
    fc.assert(
      fc.property(now, fc.integer({ min: -35 * day_ms, max: 5 * 60_000 }), fc.constantFrom(...zones), fc.constantFrom(...kinds), (now_ms, back_ms, zone, kind) => {
        expect(capCounterKept(field(kind, now_ms + back_ms, zone), capPeriodsKeptFrom(now_ms))).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });

  it('drops a day counter from 40 days back, a week one from 50, a month one from 72, in any venue calendar', () => {
    const back = { day: 40, week: 50, month: 72 };
    fc.assert(
      fc.property(now, fc.integer({ min: 0, max: 400 * day_ms }), fc.constantFrom(...zones), fc.constantFrom(...kinds), (now_ms, more_ms, zone, kind) => {
        expect(capCounterKept(field(kind, now_ms - back[kind] * day_ms - more_ms, zone), capPeriodsKeptFrom(now_ms))).toBe(false);
      }),
      { numRuns: 5_000 },
    );
  });

  it('keeps lifetime and once counters whatever the date', () => {
    const kept = capPeriodsKeptFrom(Date.UTC(2099, 0, 1));
    expect(capCounterKept('off_x|l', kept)).toBe(true);
    expect(capCounterKept('off_x|once', kept)).toBe(true);
  });

  it('names the first kept period of each kind at 38 days back, by the UTC calendar', () => {
    expect(capPeriodsKeptFrom(Date.UTC(2026, 11, 2, 7, 0))).toEqual({ d: 'd2026-10-25', w: 'w2026-43', m: 'm2026-10' });
  });
});
