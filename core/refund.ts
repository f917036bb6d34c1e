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
  /** Of the fee's two parts: given back through the merchant's carry (lib.lua returnFee), which may add a unit. */
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
    fee_back: proportion(s.fee_whole, after, s.amount) - proportion(s.fee_whole, s.refunded, s.amount),
    fee_rem_back: proportion(s.fee_rem, after, s.amount) - proportion(s.fee_rem, s.refunded, s.amount),
  };
}
