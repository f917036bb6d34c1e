// expiry.ts earliestLotMade: the lot a purchase made that the sweep is brought forward to. Pure.

import { describe, expect, it } from 'vitest';
import type { AwardItem } from './hot/award-items.ts';
import { earliestLotMade } from './expiry.ts';

const item = (kind: AwardItem['kind'], expiry_ms: number): AwardItem => ({ kind, amount: 1, lot: `${String(expiry_ms).padStart(13, '0')}|`, guard: '', since: 0, before: 0, cap: '', limit: 0, json: '', group: 0, place: 0 });

describe('earliestLotMade', () => {
  it('is the earliest commerce lot accepted that is not yet due: one due already is expired at once, not woken for (a review: sweeps ran back to back)', () => {
    const now_ms = 1_800_000_000_000;
    const items = [item('c', now_ms - 5), item('c', now_ms + 9_000), item('o', now_ms + 1), item('c', now_ms + 4_000), item('c', now_ms + 2_000)];
    expect(earliestLotMade(items, [0, 1, 2, 3], now_ms)).toBe(now_ms + 4_000);
    expect(earliestLotMade(items, [0, 2], now_ms)).toBe(Infinity);
    expect(earliestLotMade(items, undefined, now_ms)).toBe(Infinity);
  });
});
