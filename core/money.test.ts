import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { amount_max, applyBasisPoints, exactAbs, exactAmount, exactDifference, exactSum, isAmount, lotShares, percentToBasisPoints, proportion } from './money.ts';

describe('money', () => {
  it('accepts only non-negative safe integers up to 12 digits', () => {
    expect(isAmount(0)).toBe(true);
    expect(isAmount(amount_max)).toBe(true);
    expect(isAmount(amount_max + 1)).toBe(false);
    expect(isAmount(-1)).toBe(false);
    expect(isAmount(1.5)).toBe(false);
    expect(isAmount('100')).toBe(false);
    expect(isAmount(Number.NaN)).toBe(false);
  });

  it('percent to basis points is exact or refused', () => {
    expect(percentToBasisPoints(5)).toBe(500);
    expect(percentToBasisPoints(2.5)).toBe(250);
    expect(percentToBasisPoints(0.01)).toBe(1);
    expect(percentToBasisPoints(5.555)).toBeUndefined();
    expect(percentToBasisPoints(101)).toBeUndefined();
    expect(percentToBasisPoints(-1)).toBeUndefined();
  });

  it('applyBasisPoints never exceeds the rate and is exact against BigInt', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: amount_max }), fc.integer({ min: 0, max: 10_000 }), (amount, bp) => {
        const award = applyBasisPoints(amount, bp);
        expect(Number.isSafeInteger(award)).toBe(true);
        expect(BigInt(award)).toBe((BigInt(amount) * BigInt(bp)) / 10_000n);
        expect(award).toBeLessThanOrEqual(amount);
      }),
    );
    expect(applyBasisPoints(1999, 500)).toBe(99);
  });

  it('proportion matches BigInt floor division', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: amount_max }),
        fc.integer({ min: 1, max: amount_max }),
        fc.integer({ min: 0, max: amount_max }),
        (amount, whole, part_raw) => {
          const part = part_raw % (whole + 1);
          expect(BigInt(proportion(amount, part, whole))).toBe((BigInt(amount) * BigInt(part)) / BigInt(whole));
        },
      ),
    );
  });

  it('reads and adds integers exactly past 2^53: a number while safe, a bigint beyond', () => {
    expect(exactAmount('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(exactAmount('9007199254740993')).toBe(9007199254740993n);
    expect(exactAmount('-9007199254740993')).toBe(-9007199254740993n);
    expect(exactSum(Number.MAX_SAFE_INTEGER, 2)).toBe(9007199254740993n);
    expect(exactSum(9007199254740993n, -2)).toBe(Number.MAX_SAFE_INTEGER);
    expect(exactDifference(1, 9007199254740993n)).toBe(-9007199254740992n);
    expect(exactAbs(-9007199254740993n)).toBe(9007199254740993n);
    expect(exactAbs(-5)).toBe(5);
  });
});

describe('lotShares', () => {
  it('the probe’s sale: after a refund took its spare unit from the earliest lot, the reversal’s shares are what each lot still holds of the sale (it was 572 and 285 for 571 and 286)', () => {
    const lots: [string, number][] = [['a', 645], ['b', 322]];
    const refund = lotShares(lots, proportion(967, 738, 6451), 0, 738, 6451);
    expect(refund).toEqual([73, 36]); // 109: the claw-back's 110th unit is a spare, taken from a
    expect(lotShares(lots, 967 - 110, 738, 6451, 6451)).toEqual([571, 286]);
  });

  it('over any refunds to the whole, with each spare unit taken from the earliest lot with room, every lot gives up exactly what the sale put in it (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 100_000 }), fc.array(fc.integer({ min: 1, max: 100_000 }), { maxLength: 6 }), (puts, whole, cuts) => {
        const lots = puts.map((put, i): [string, number] => [String(i), put]);
        const total = puts.reduce((a, b) => a + b, 0);
        const taken = puts.map(() => 0);
        const steps = [...new Set(cuts.map((c) => c % whole))].filter((c) => c > 0).sort((a, b) => a - b);
        let before = 0;
        for (const after of [...steps, whole]) {
          const claw = proportion(total, after, whole) - proportion(total, before, whole);
          const shares = lotShares(lots, claw, before, after, whole);
          expect(shares.every((s) => s >= 0)).toBe(true);
          shares.forEach((s, i) => (taken[i] = taken[i]! + s));
          // takeOwnLots: what the shares leave of the claw-back, beyond them, earliest lot first.
          let spare = claw - shares.reduce((a, b) => a + b, 0);
          expect(spare).toBeGreaterThanOrEqual(0);
          for (let i = 0; i < puts.length && spare > 0; i++) {
            const more = Math.min(puts[i]! - taken[i]!, spare);
            taken[i] = taken[i]! + more;
            spare -= more;
          }
          expect(spare).toBe(0);
          before = after;
        }
        expect(taken).toEqual(puts);
      }),
    );
  });
});
