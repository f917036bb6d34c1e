// Refund arithmetic: what a refund of part of a purchase claws back and gives back.
//
// Shares are cumulative and floored: after refunds totalling R of an original amount A, the
// award clawed back so far is floor(W × R / A). Each refund takes the difference from what was
// taken before, so no sequence of partial refunds ever takes more than the award, and a full
// refund takes exactly the award: rounding never creates or destroys money.

import { proportion } from './money.ts';

export interface RefundState {
  /** The original purchase's amount. */
  readonly amount: number;
  /** Award (cashback) it earned, instant discount it gave, payment it took from the wallet. */
  readonly awarded: number;
  readonly discount: number;
  readonly paid: number;
  /**
   * Its contribution fee's two parts (lib.lua feeParts): whole minor units, and what the floor
   * left in 1/10000 of a unit. What refunds gave back of each is the proportion of `refunded`.
   */
  readonly fee_whole: number;
  readonly fee_rem: number;
  /** Totals of the refunds so far. */
  readonly refunded: number;
  readonly clawed: number;
  readonly discount_returned: number;
  readonly returned: number;
}

export interface RefundShares {
  readonly claw: number;
  /** Discount funding back to the rewards account: the discount is an award, refunded in proportion like the fee on it. */
  readonly discount_back: number;
  readonly give: number;
  /** Of the fee's two parts (feeGivenBack): given back through the merchant's carry (lib.lua returnFee), which may add or take a unit. */
  readonly fee_back: number;
  readonly fee_rem_back: number;
}

/** The shares of a refund of `refund_amount`, or undefined if it would exceed the original. */
export function refundShares(s: RefundState, refund_amount: number): RefundShares | undefined {
  if (!Number.isSafeInteger(refund_amount) || refund_amount <= 0 || s.refunded + refund_amount > s.amount) return undefined;
  const after = s.refunded + refund_amount;
  return {
    claw: proportion(s.awarded, after, s.amount) - s.clawed,
    discount_back: proportion(s.discount, after, s.amount) - s.discount_returned,
    give: proportion(s.paid, after, s.amount) - s.returned,
    ...feeBack(s, after),
  };
}

function feeBack(s: RefundState, after: number): Pick<RefundShares, 'fee_back' | 'fee_rem_back'> {
  const [w_after, r_after] = feeGivenBack(s.fee_whole, s.fee_rem, after, s.amount);
  const [w_before, r_before] = feeGivenBack(s.fee_whole, s.fee_rem, s.refunded, s.amount);
  return { fee_back: w_after - w_before, fee_rem_back: r_after - r_before };
}

/**
 * What refunds totalling `refunded` of an original's `amount` give back of its fee (whole minor
 * units and rem 1/10000ths: lib.lua feeParts): the refunded proportion of the whole fee in
 * 1/10000ths, 10000 × whole + rem, floored, as [w, r] = [the proportion of whole alone, the rest
 * in 1/10000ths]. r may pass 10000, or a refund's difference of it go below 0: the merchant's carry
 * (lib.lua returnFee) takes any. Each part proportioned alone (until 2026-12-04) dropped the
 * fraction of the whole units' share, so that a refund of 15% of a sale whose fee was 10 gave back
 * 1, not 1.5, and the merchant paid 9 on what stood, 85 at 10% (an API audit).
 */
export function feeGivenBack(whole: number, rem: number, refunded: number, amount: number): [number, number] {
  if (refunded === 0) return [0, 0];
  const w = proportion(whole, refunded, amount);
  const share = ((BigInt(whole) * 10_000n + BigInt(rem)) * BigInt(refunded)) / BigInt(amount);
  return [w, Number(share - BigInt(w) * 10_000n)];
}

/** What refunds totalling `refunded` left of the fee's parts: what a reversal gives back. */
export function feeLeft(whole: number, rem: number, refunded: number, amount: number): [number, number] {
  const [w, r] = feeGivenBack(whole, rem, refunded, amount);
  return [whole - w, rem - r];
}
