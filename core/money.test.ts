import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { amount_max, applyBasisPoints, exactAbs, exactAmount, exactDifference, exactSum, isAmount, percentToBasisPoints, proportion } from './money.ts';

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
