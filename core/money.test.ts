import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { amount_max, applyBasisPoints, exactAbs, exactAmount, exactDifference, exactSum, isAmount, lotShares, lotsTakenAt, percentToBasisPoints, proportion } from './money.ts';

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
    // Below a basis point, and tiny: both were kept as sent within a tolerance of 1e-6.
    for (const p of [1e-9, 1e-7, 0.004, 5.0000001, 99.999999999]) expect(percentToBasisPoints(p)).toBeUndefined();
  });

  it('every two-decimal percent, as JSON reads it, is its basis points exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (bp) => {
        const text = `${Math.trunc(bp / 100)}.${String(bp % 100).padStart(2, '0')}`;
        expect(percentToBasisPoints(JSON.parse(text) as number)).toBe(bp);
      }),
    );
    // The ones whose product by 100 is not a whole double (0.07 × 100 = 7.000000000000001).
    for (const [p, bp] of [[0.07, 7], [0.29, 29], [1.13, 113], [4.35, 435], [56.7, 5670]] as const) expect(percentToBasisPoints(p)).toBe(bp);
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
  /** The rule counted unit by unit: the lots' units ordered by the refunded amount at which each one's own floor comes (the earliest lot on a tie), the first floor(Σput × refunded / whole) of them taken. */
  const takenByUnits = (puts: readonly number[], refunded: number, whole: number, awarded?: number) => {
    const units = puts.flatMap((put, i) => Array.from({ length: put }, (_, k) => ({ i, at: Number((BigInt(k + 1) * BigInt(whole) + BigInt(put) - 1n) / BigInt(put)) })));
    units.sort((a, b) => a.at - b.at || a.i - b.i);
    const taken = puts.map(() => 0);
    const total = puts.reduce((a, b) => a + b, 0);
    const count = awarded === undefined ? proportion(total, refunded, whole) : Math.min(proportion(awarded, refunded, whole), total);
    for (const { i } of units.slice(0, count)) taken[i] = taken[i]! + 1;
    return taken;
  };

  it('the probe’s sale whose award of 1,014 paid 912 of debt (lots of 89 and 13): a refund of a fifth takes both lots whole (the award’s floor, 202, as far as they hold), a twentieth the first 50 units', () => {
    const lots: [string, number][] = [['a', 89], ['b', 13]];
    expect(lotsTakenAt(lots, 1000, 5000, 1014)).toEqual([89, 13]);
    expect(lotsTakenAt(lots, 250, 5000, 1014)).toEqual(takenByUnits([89, 13], 250, 5000, 1014));
    expect(lotsTakenAt(lots, 250, 5000, 1014).reduce((a, b) => a + b, 0)).toBe(50);
    // The lots' own floor, as the awards' amounts gave before: 17 and 2 (a unit spare).
    expect(lotsTakenAt(lots, 1000, 5000)).toEqual([18, 2]);
  });

  it('the probe’s sale: a refund of 738 of 6,451 takes 74 and 36 of lots of 645 and 322 (the spare unit goes to the first, whose 74th unit comes first), the reversal what is left: 571 and 286', () => {
    const lots: [string, number][] = [['a', 645], ['b', 322]];
    expect(lotShares(lots, proportion(967, 738, 6451), 0, 738, 6451)).toEqual([74, 36]);
    expect(lotShares(lots, 967 - 110, 738, 6451, 6451)).toEqual([571, 286]);
  });

  it('CI’s counterexample: lots of 1 and 562 of a sale of 10,420 refunded by 5,016, 2,957 and 2,447 give up 1 and 562 (the earliest-lot rule took 2 and 561)', () => {
    const lots: [string, number][] = [['a', 1], ['b', 562]];
    const steps = [0, 5016, 7973, 10420];
    const shares = steps.slice(1).map((after, i) => lotShares(lots, proportion(563, after, 10420) - proportion(563, steps[i]!, 10420), steps[i]!, after, 10420));
    expect(shares).toEqual([[0, 271], [0, 159], [1, 132]]);
  });

  it('what is taken at a refunded amount is the prefix of one order of the lots’ units: equal to counting them one by one (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 100_000 }), fc.nat(), (puts, whole, cut) => {
        const lots = puts.map((put, i): [string, number] => [String(i), put]);
        const refunded = cut % (whole + 1);
        expect(lotsTakenAt(lots, refunded, whole)).toEqual(takenByUnits(puts, refunded, whole));
      }),
    );
  });

  it('of an award more than its lots (debt paid, instant_redeem), the prefix of the same order, the award’s floor long: equal to counting them one by one (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 5 }), fc.nat({ max: 5_000 }), fc.integer({ min: 1, max: 100_000 }), fc.nat(), (puts, more, whole, cut) => {
        const lots = puts.map((put, i): [string, number] => [String(i), put]);
        const awarded = puts.reduce((a, b) => a + b, 0) + more;
        const refunded = cut % (whole + 1);
        expect(lotsTakenAt(lots, refunded, whole, awarded)).toEqual(takenByUnits(puts, refunded, whole, awarded));
      }),
    );
    // A lot larger than the sale: many units come at one refunded amount, given in lot order.
    expect(lotsTakenAt([['a', 1_000], ['b', 3]], 1, 2, 1_500)).toEqual(takenByUnits([1_000, 3], 1, 2, 1_500));
    expect(lotsTakenAt([['a', 1_000], ['b', 3]], 1, 2, 1_500)).toEqual([749, 1]);
  });

  it('of an award more than its lots, over any refunds to the whole: shares none negative, the lots first (as far as the award’s floor and the lots go), every lot given up whole (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1_000_000_000 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 1_000_000_000 }), fc.integer({ min: 1, max: amount_max }), fc.array(fc.integer({ min: 1, max: amount_max }), { maxLength: 8 }), (puts, more, whole, cuts) => {
        const lots = puts.map((put, i): [string, number] => [String(i), put]);
        const total = puts.reduce((a, b) => a + b, 0);
        const awarded = total + more;
        const taken = puts.map(() => 0);
        const steps = [...new Set(cuts.map((c) => c % whole))].filter((c) => c > 0).sort((a, b) => a - b);
        let before = 0;
        for (const after of [...steps, whole]) {
          const claw = proportion(awarded, after, whole) - proportion(awarded, before, whole);
          const shares = lotShares(lots, claw, before, after, whole, awarded);
          expect(shares.every((s) => s >= 0)).toBe(true);
          expect(shares.reduce((a, b) => a + b, 0)).toBe(Math.min(proportion(awarded, after, whole), total) - Math.min(proportion(awarded, before, whole), total));
          shares.forEach((s, i) => (taken[i] = taken[i]! + s));
          before = after;
        }
        expect(taken).toEqual(puts);
      }),
    );
  });

  it('over any refunds to the whole, the shares are each claw-back exactly, none negative, and every lot gives up exactly what the sale put in it (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1_000_000_000 }), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: amount_max }), fc.array(fc.integer({ min: 1, max: amount_max }), { maxLength: 8 }), (puts, whole, cuts) => {
        const lots = puts.map((put, i): [string, number] => [String(i), put]);
        const total = puts.reduce((a, b) => a + b, 0);
        const taken = puts.map(() => 0);
        const steps = [...new Set(cuts.map((c) => c % whole))].filter((c) => c > 0).sort((a, b) => a - b);
        let before = 0;
        for (const after of [...steps, whole]) {
          const claw = proportion(total, after, whole) - proportion(total, before, whole);
          const shares = lotShares(lots, claw, before, after, whole);
          expect(shares.every((s) => s >= 0)).toBe(true);
          expect(shares.reduce((a, b) => a + b, 0)).toBe(claw);
          shares.forEach((s, i) => (taken[i] = taken[i]! + s));
          before = after;
        }
        expect(taken).toEqual(puts);
      }),
    );
  });
});
