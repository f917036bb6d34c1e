import { describe, expect, it } from 'vitest';
import type { PocketgateError } from './errors.ts';
import { contactPatchSchema, merchantCreateSchema, offerPatchSchema, parseWith, tiersSchema, venueCreateSchema } from './schemas.ts';

/** The messages a refused value gets, as `errors[]` carries them. */
function messages(schema: Parameters<typeof parseWith>[0], value: unknown): string[] {
  try {
    parseWith(schema, value);
  } catch (err) {
    return ((err as PocketgateError).errors ?? []).map((e) => `${e.path}: ${e.message}`);
  }
  throw new Error('accepted');
}

describe('a refused field says what is wrong with it, and nothing else (API audit, 2026-12-04)', () => {
  it('a fee out of range is not also told it has too many decimals; one with too many is', () => {
    expect(messages(merchantCreateSchema, { name: 'M', code: 'M1', contribution_fee_percent: 101 })).toHaveLength(1);
    expect(messages(merchantCreateSchema, { name: 'M', code: 'M1', contribution_fee_percent: -1 })).toHaveLength(1);
    expect(messages(merchantCreateSchema, { name: 'M', code: 'M1', contribution_fee_percent: 1.234 })).toEqual(['contribution_fee_percent: at most 2 decimals']);
  });

  it('a date not YYYY-MM-DD is not also told it must be a real date; 1990-02-30 is', () => {
    expect(messages(contactPatchSchema, { birth_date: '1990-5-17' })).toEqual(['birth_date: must be YYYY-MM-DD']);
    expect(messages(contactPatchSchema, { birth_date: '1990-02-30' })).toEqual(['birth_date: must be a real date']);
  });

  it('a birth date after the day that has begun somewhere on Earth (UTC+14) is refused; that day is not', () => {
    const day = (offset_ms: number) => new Date(Date.now() + offset_ms).toISOString().slice(0, 10);
    expect(messages(contactPatchSchema, { birth_date: '2999-01-01' })).toEqual(['birth_date: must not be in the future']);
    expect(messages(contactPatchSchema, { birth_date: day(14 * 3_600_000 + 86_400_000) })).toEqual(['birth_date: must not be in the future']);
    expect(parseWith(contactPatchSchema, { birth_date: day(14 * 3_600_000) })).toBeDefined();
    expect(parseWith(contactPatchSchema, { birth_date: day(0) })).toBeDefined();
  });

  it("an offer's percent is 0..100, one message each", () => {
    expect(messages(offerPatchSchema, { award: { percent: 150 } })).toHaveLength(1);
    expect(messages(offerPatchSchema, { award: { percent: 1.005 } })).toEqual(['award.percent: at most 2 decimals']);
  });

  it("an offer's fixed award is named where it is wrong, not as the whole award's 'Invalid input' (the last session's leftover)", () => {
    expect(messages(offerPatchSchema, { award: { fixed: 5.5 } })).toEqual(['award.fixed: must be an integer in minor units']);
    expect(messages(offerPatchSchema, { award: { fixed: -1 } })).toEqual(['award.fixed: must not be negative']);
    const neither = ['award: must be {"percent": 0 to 100} or {"fixed": an amount in minor units}, exactly one'];
    expect(messages(offerPatchSchema, { award: {} })).toEqual(neither);
    expect(messages(offerPatchSchema, { award: { percent: 5, fixed: 5 } })).toEqual(neither);
    expect(messages(offerPatchSchema, { award: 5 })).toEqual(neither);
    // The other key sent null is left out (a probe: "Unrecognized key: percent").
    expect(parseWith(offerPatchSchema, { award: { percent: null, fixed: 100 } }).award).toEqual({ fixed: 100 });
    expect(messages(offerPatchSchema, { award: { percent: null, fixed: null } })).toEqual(neither);
  });
});

describe('tiersSchema', () => {
  const tier = (name: string, min_period_units: number) => ({ name, min_period_units, period: 'month' });
  it('takes tiers ranked by distinct thresholds, named apart in any case (a tiers probe)', () => {
    expect(tiersSchema.safeParse([tier('silver', 10), tier('gold', 100)]).success).toBe(true);
    // "gold" and "Gold" read as one tier; two at one threshold left the tier held to the list's order.
    expect(tiersSchema.safeParse([tier('gold', 100), tier('Gold', 10)]).success).toBe(false);
    expect(tiersSchema.safeParse([tier('a', 100), tier('b', 100)]).success).toBe(false);
  });
});

describe("a venue's timezone", () => {
  const zone = (timezone: unknown) => parseWith(venueCreateSchema, { name: 'Venue', timezone }).timezone;

  it('is the IANA name in its own case, whatever case was sent (an admin probe, 2026-12-06)', () => {
    expect(zone('europe/paris')).toBe('Europe/Paris');
    expect(zone('EUROPE/LISBON')).toBe('Europe/Lisbon');
    expect(zone('utc')).toBe('UTC');
    expect(zone('Europe/Paris')).toBe('Europe/Paris');
  });

  it('keeps an alias as sent (ICU would give an older name for some)', () => {
    expect(zone('Asia/Kolkata')).toBe('Asia/Kolkata');
    expect(zone('Europe/Kyiv')).toBe('Europe/Kyiv');
    expect(zone('US/Eastern')).toBe('US/Eastern');
  });

  it('is UTC when absent or null, and refuses what is no zone', () => {
    expect(zone(undefined)).toBe('UTC');
    expect(zone(null)).toBe('UTC');
    for (const bad of ['Mars/Olympus', '+02:00', '', 'Europe']) {
      // A validation_failed, never a TypeError from the transform (a 500).
      expect(() => zone(bad), bad).toThrow(expect.objectContaining({ code: 'validation_failed' }));
    }
  });
});
