// One formatter is kept per timezone name as a venue spells it, and a venue may spell its IANA
// name in any case ('europe/lisbon', 'EUROPE/Lisbon', ...: Intl takes them all): the names kept
// are bounded, or a business with venues of as many spellings made the gateway keep a formatter
// (some 28 KB of ICU's each) for every one of them.

import { describe, expect, it } from 'vitest';
import { offsetAt, zones_cached_max, zonesCached } from './local-time.ts';

/** The n-th spelling of `name`: the case of its letters flipped as n's bits say. */
function spelling(name: string, n: number): string {
  let bit = 0;
  return [...name].map((c) => (/[a-z]/i.test(c) && (n >> bit++) & 1 ? (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) : c)).join('');
}

describe('timezones kept', () => {
  it('at most zones_cached_max names, whatever spellings are used; each still answers right', () => {
    const at = Date.parse('2026-07-01T12:00:00Z');
    const names = 3_000; // about three times the bound
    for (let n = 0; n < names; n++) {
      expect(offsetAt(at, spelling('America/Argentina/ComodRivadavia', n))).toBe(-3 * 3_600_000);
      expect(zonesCached()).toBeLessThanOrEqual(zones_cached_max);
    }
    expect(offsetAt(at, 'Europe/Lisbon')).toBe(3_600_000);
  });
});
