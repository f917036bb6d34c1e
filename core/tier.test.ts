import { describe, expect, it } from 'vitest';
import { effectiveTier, periodKeys, purchaseTierKeys, tierAtUtc, tierAtVenues, unitsAsOf, type TierRule } from './tier.ts';

const tiers: TierRule[] = [
  { name: 'silver', min_period_units: 50, period: 'month' },
  { name: 'gold', min_period_units: 200, period: 'month' },
];

describe('tiers', () => {
  it('period keys roll over months, quarters and years', () => {
    expect(periodKeys(2026, 1)).toEqual({ m: { current: '2026-01', previous: '2025-12', next: '2026-02' }, q: { current: '2026-1', previous: '2025-4', next: '2026-2' }, y: { current: '2026', previous: '2025', next: '2027' } });
    expect(periodKeys(2026, 11).q).toEqual({ current: '2026-4', previous: '2026-3', next: '2027-1' });
    expect(periodKeys(2026, 12).m).toEqual({ current: '2026-12', previous: '2026-11', next: '2027-01' });
  });

  it('units carry from the stored period to the right slot', () => {
    const keys = periodKeys(2026, 11).m;
    expect(unitsAsOf('2026-11|60|10', keys)).toEqual({ now: 60, previous: 10 });
    expect(unitsAsOf('2026-10|60|10', keys)).toEqual({ now: 0, previous: 60 });
    expect(unitsAsOf('2026-08|60|10', keys)).toEqual({ now: 0, previous: 0 });
    expect(unitsAsOf(null, keys)).toEqual({ now: 0, previous: 0 });
    // A stored next period: a venue east of the reader's already in it, or, where none can be yet
    // (26 h or more away), a later purchase's, whose previous period is the reader's.
    expect(unitsAsOf('2026-12|60|10', keys)).toEqual({ now: 60, previous: 10 });
    expect(unitsAsOf('2026-12|60|10', { ...keys, next_is_later: true })).toEqual({ now: 10, previous: 0 });
  });

  it('a tier is won at once, kept through the next period, and lost after it', () => {
    const none = { q: null, y: null };
    expect(effectiveTier(tiers, { m: '2026-11|210|0', ...none }, periodKeys(2026, 11), 1)).toBe('gold');
    expect(effectiveTier(tiers, { m: '2026-11|60|0', ...none }, periodKeys(2026, 11), 1)).toBe('silver');
    // December: November's 210 units are the previous period's: gold is kept.
    expect(effectiveTier(tiers, { m: '2026-11|210|0', ...none }, periodKeys(2026, 12), 1)).toBe('gold');
    // January: nothing earned in December: the tier is lost.
    expect(effectiveTier(tiers, { m: '2026-11|210|0', ...none }, periodKeys(2027, 1), 1)).toBeNull();
    expect(effectiveTier([], { m: '2026-11|210|0', ...none }, periodKeys(2026, 11), 1)).toBeNull();
  });

  it('tierAtUtc reads the periods of the UTC calendar at the given time', () => {
    const stored = { m: '2026-11|210|0', q: null, y: null };
    expect(tierAtUtc(tiers, stored, Date.parse('2026-11-30T23:59:59Z'), 1)).toBe('gold');
    expect(tierAtUtc(tiers, stored, Date.parse('2026-12-31T23:59:59Z'), 1)).toBe('gold');
    expect(tierAtUtc(tiers, stored, Date.parse('2027-01-01T00:00:00Z'), 1)).toBeNull();
    expect(tierAtUtc([], stored, Date.parse('2026-11-30T12:00:00Z'), 1)).toBeNull();
  });

  it('counters in minor units: `unit` of them to a value unit, fractions counted (API.md: units = the amount in major units)', () => {
    const none = { q: null, y: null };
    // 2 × 12.50 EUR = 2500 minor units = 25 value units.
    const silver = [{ name: 'silver', min_period_units: 25, period: 'month' as const }];
    expect(effectiveTier(silver, { m: '2026-11|2500|0', ...none }, periodKeys(2026, 11), 100)).toBe('silver');
    expect(effectiveTier(silver, { m: '2026-11|2499|0', ...none }, periodKeys(2026, 11), 100)).toBeNull();
    expect(effectiveTier(silver, { m: '2026-11|25|0', ...none }, periodKeys(2026, 11), 1)).toBe('silver'); // JPY
  });
});

describe('tiers at venues far from UTC', () => {
  it('counters a venue east of the reader moved into the next period are the current ones', () => {
    // Kiritimati's December 1st while UTC is still in November 30th: November's 150 units are the stored previous.
    expect(unitsAsOf('2026-12|5|150', periodKeys(2026, 11).m)).toEqual({ now: 5, previous: 150 });
  });

  it('tierAtVenues reads the periods of the venues’ calendars', () => {
    const stored = { m: '2026-12|210|0', q: null, y: null };
    // 2026-11-30T10:30Z is December 1st 00:30 at Kiritimati (UTC+14).
    expect(tierAtVenues(tiers, stored, Date.parse('2026-11-30T10:30:00Z'), ['Pacific/Kiritimati'], 1)).toBe('gold');
    expect(tierAtVenues(tiers, stored, Date.parse('2027-01-31T09:59:00Z'), ['Pacific/Kiritimati'], 1)).toBe('gold');
    expect(tierAtVenues(tiers, stored, Date.parse('2027-01-31T10:00:00Z'), ['Pacific/Kiritimati'], 1)).toBeNull();
    // Pago Pago (UTC-11) is still in January then, as is the best of both venues.
    expect(tierAtVenues(tiers, stored, Date.parse('2027-01-31T10:00:00Z'), ['Pacific/Kiritimati', 'Pacific/Pago_Pago'], 1)).toBe('gold');
    expect(tierAtVenues(tiers, stored, Date.parse('2027-02-01T10:59:00Z'), ['Pacific/Pago_Pago'], 1)).toBe('gold');
    expect(tierAtVenues(tiers, stored, Date.parse('2027-02-01T11:00:00Z'), ['Pacific/Pago_Pago'], 1)).toBeNull();
    expect(tierAtVenues(tiers, stored, Date.parse('2027-01-31T23:59:59Z'), [], 1)).toBe('gold');
  });
});

describe('purchaseTierKeys', () => {
  it('says the next period is later only where no calendar on Earth is in it yet', () => {
    expect(purchaseTierKeys(Date.parse('2026-11-20T12:00:00Z'), 'UTC').m).toEqual({ current: '2026-11', previous: '2026-10', next: '2026-12', next_is_later: true });
    expect(purchaseTierKeys(Date.parse('2026-11-30T12:00:00Z'), 'UTC').m.next_is_later).toBe(false);
    expect(purchaseTierKeys(Date.parse('2026-11-28T21:00:00Z'), 'UTC').m.next_is_later).toBe(true);
    expect(purchaseTierKeys(Date.parse('2026-11-20T12:00:00Z'), 'UTC').y.next_is_later).toBe(true);
    expect(purchaseTierKeys(Date.parse('2026-12-31T00:00:00Z'), 'UTC').y.next_is_later).toBe(false);
  });
});
