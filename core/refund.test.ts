import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { feeGivenBack, feeLeft, refundShares, type RefundState } from './refund.ts';

describe('refund arithmetic', () => {
  it('any sequence of partial refunds takes at most the award, in proportion, and exactly it at the end', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 999_999_999_999 }),
        fc.integer({ min: 0, max: 999_999_999_999 }),
        fc.integer({ min: 0, max: 999_999_999_999 }),
        fc.array(fc.integer({ min: 1, max: 1_000_000 }), { maxLength: 20 }),
        (amount, awarded, paid_raw, weights) => {
          const paid = paid_raw % (amount + 1);
          const discount = Math.floor(amount / 7);
          const fee_whole = Math.floor(awarded / 10);
          const fee_rem = (awarded % 10) * 1000;
          let s: RefundState = { amount, awarded, discount, paid, fee_whole, fee_rem, refunded: 0, clawed: 0, discount_returned: 0, returned: 0 };
          let fee_given = 0;
          let rem_given = 0;
          // Split the amount into parts by the weights; the last refund takes what is left.
          const total_weight = weights.reduce((a, b) => a + b, 0);
          const parts = weights.map((w) => Math.floor((amount * w) / Math.max(total_weight, 1)));
          for (const part of [...parts, 0]) {
            const left = amount - s.refunded;
            const take = part === 0 ? left : Math.min(part, left);
            if (take === 0) continue;
            const shares = refundShares(s, take)!;
            expect(shares.claw).toBeGreaterThanOrEqual(0);
            expect(shares.give).toBeGreaterThanOrEqual(0);
            expect(shares.discount_back).toBeGreaterThanOrEqual(0);
            // The fee back, in 1/10,000ths: never below 0 (a part may be, the carry taking it).
            expect(shares.fee_back * 10_000 + shares.fee_rem_back).toBeGreaterThanOrEqual(0);
            fee_given += shares.fee_back;
            rem_given += shares.fee_rem_back;
            s = {
              ...s,
              refunded: s.refunded + take,
              clawed: s.clawed + shares.claw,
              discount_returned: s.discount_returned + shares.discount_back,
              returned: s.returned + shares.give,
            };
            // In proportion: never ahead of the exact share, never a unit behind.
            expect(BigInt(s.clawed) * BigInt(amount)).toBeLessThanOrEqual(BigInt(awarded) * BigInt(s.refunded));
            expect(BigInt(s.clawed + 1) * BigInt(amount)).toBeGreaterThan(BigInt(awarded) * BigInt(s.refunded));
            expect(s.clawed).toBeLessThanOrEqual(awarded);
            expect(s.returned).toBeLessThanOrEqual(paid);
            // The fee given back so far, in 1/10,000ths, is the refunded share of the whole fee, floored.
            const fee = BigInt(fee_whole) * 10_000n + BigInt(fee_rem);
            expect(BigInt(fee_given) * 10_000n + BigInt(rem_given)).toBe((fee * BigInt(s.refunded)) / BigInt(amount));
          }
          expect(s.refunded).toBe(amount);
          expect(s.clawed).toBe(awarded);
          expect(s.returned).toBe(paid);
          expect(s.discount_returned).toBe(discount);
          expect([fee_given, rem_given]).toEqual([fee_whole, fee_rem]);
        },
      ),
    );
  });

  it('refunds in several parts take, in sum, what one refund of their total takes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 999_999_999_999 }),
        fc.integer({ min: 0, max: 999_999_999_999 }),
        fc.integer({ min: 0, max: 999_999_999_999 }),
        fc.array(fc.integer({ min: 1, max: 999_999_999_999 }), { minLength: 1, maxLength: 12 }),
        (amount, awarded, fee, raw_parts) => {
          const start: RefundState = { amount, awarded, discount: Math.floor(awarded / 3), paid: Math.floor(amount / 2), fee_whole: fee, fee_rem: fee % 10_000, refunded: 0, clawed: 0, discount_returned: 0, returned: 0 };
          let s = start;
          const sum = { claw: 0, discount_back: 0, give: 0, fee_back: 0, fee_rem_back: 0 };
          for (const raw of raw_parts) {
            const left = amount - s.refunded;
            if (left === 0) break;
            const part = 1 + (raw % left);
            const shares = refundShares(s, part)!;
            for (const k of ['claw', 'discount_back', 'give', 'fee_back', 'fee_rem_back'] as const) sum[k] += shares[k];
            s = { ...s, refunded: s.refunded + part, clawed: s.clawed + shares.claw, discount_returned: s.discount_returned + shares.discount_back, returned: s.returned + shares.give };
          }
          expect(sum).toEqual(refundShares(start, s.refunded));
        },
      ),
    );
  });

  it('a partial refund gives back its share of the whole fee, the fraction of a unit through the carry (API audit)', () => {
    // A fee of 10 on a sale of 1,000; 150 refunded: 1.5 back, 1 unit and 5,000 1/10,000ths.
    const s: RefundState = { amount: 1000, awarded: 100, discount: 0, paid: 0, fee_whole: 10, fee_rem: 0, refunded: 0, clawed: 0, discount_returned: 0, returned: 0 };
    expect(refundShares(s, 150)).toMatchObject({ fee_back: 1, fee_rem_back: 5000 });
    // And a reversal after it gives back the rest: 8.5.
    expect(feeLeft(10, 0, 150, 1000)).toEqual([9, -5000]);
    expect(feeGivenBack(10, 0, 0, 0)).toEqual([0, 0]); // a sale of 0 (a fixed award), nothing refunded
  });

  it('refuses refunds beyond the original', () => {
    const s: RefundState = { amount: 1000, awarded: 100, discount: 50, paid: 0, fee_whole: 15, fee_rem: 5000, refunded: 600, clawed: 60, discount_returned: 30, returned: 0 };
    expect(refundShares(s, 401)).toBeUndefined();
    expect(refundShares(s, 0)).toBeUndefined();
    // The fee's parts: 15 - floor(15 × 0.6) = 6, and 5,000 - 3,000.
    expect(refundShares(s, 400)).toEqual({ claw: 40, discount_back: 20, give: 0, fee_back: 6, fee_rem_back: 2000 });
  });
});
