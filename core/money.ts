// Money is an integer count of the currency's minor unit. Rates (percentages) are kept in
// basis points so that no float ever touches an amount.

/** The largest amount any message may carry: 12 digits, as ISO 8583 DE4. */
export const amount_max = 999_999_999_999;

/**
 * The most a contact's wallet may hold after an award (open + commerce, as the shard scripts hold
 * them): 15 digits, far below 2^53, so that every balance the scripts compute (Lua numbers are
 * doubles) and every sum of one with an amount stays an exact integer. An award is cut to what
 * fits and not made when nothing does (lib.lua applyAwards, WALLET_BALANCE_MAX there). Refunds
 * and reversals that give money back may pass it: it was there before (README, Money).
 */
export const wallet_balance_max = 999_999_999_999_999;

export function isAmount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= amount_max;
}

/** `percent` (0..100, at most 2 decimals) as basis points (0..10000), or undefined if not exact. */
export function percentToBasisPoints(percent: number): number | undefined {
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) return undefined;
  const bp = Math.round(percent * 100);
  // Reject 5.555: a rate we cannot represent exactly would silently round the business's offer.
  // Exact, not within a tolerance: JSON's 0.07 and 7 / 100 are both the double nearest 0.07
  // (each correctly rounded), while 1e-9 passed a tolerance of 1e-6 and was kept as sent, a
  // fee of 1e-9 percent applied as 0 (an API audit, 2026-12-08).
  if (bp / 100 !== percent) return undefined;
  return bp;
}

/** floor(amount × bp / 10000): an award never exceeds its stated rate. */
export function applyBasisPoints(amount: number, basis_points: number): number {
  const product = amount * basis_points;
  if (Number.isSafeInteger(product)) return Math.floor(product / 10_000);
  return Number((BigInt(amount) * BigInt(basis_points)) / 10_000n);
}

/**
 * floor(amount × part / whole), exact for all amounts up to amount_max: used to share an amount
 * out in proportion (refund claw-backs) without creating money.
 */
export function proportion(amount: number, part: number, whole: number): number {
  if (whole <= 0) throw new RangeError('proportion: whole must be positive');
  const product = amount * part;
  if (Number.isSafeInteger(product)) return Math.floor(product / whole);
  return Number((BigInt(amount) * BigInt(part)) / BigInt(whole));
}

/**
 * ceil(amount × part / whole), exact for all amounts up to amount_max (any part up to amount_max).
 */
function proportionCeil(amount: number, part: number, whole: number): number {
  const numerator = amount * part + whole - 1;
  if (Number.isSafeInteger(numerator)) return Math.floor(numerator / whole);
  return Number((BigInt(amount) * BigInt(part) + BigInt(whole) - 1n) / BigInt(whole));
}

/** Units given one by one at most (lotsTakenAt); past it, by halving. */
const spare_units_max = 64;

/**
 * What claw-backs have taken of each of a purchase's lots (`lots`: field and what the purchase
 * put in it, earliest first) once `refunded` of its `amount` is refunded (claw-back.lua
 * lotsTakenAt, which this mirrors for rebuild's replay and the money model). The lots' units
 * stand in one fixed order, by the refunded amount at which each unit's own floor comes,
 * ceil(k × amount / put) for a lot's kth unit (the earliest lot on a tie), and what is taken is
 * always a prefix of it: whatever the sequence of refunds, no lot's part ever shrinks and every
 * lot gives up exactly what it put in by the whole. How many units: the award's floor,
 * floor(awarded × refunded / amount), as far as the lots hold (a claw-back takes its sale's lots
 * first, before any other money); without `awarded`, the lots' own floor, floor(Σput × refunded /
 * amount), which is the same when the lots are the whole award. So, an award that paid commerce
 * debt or put part of itself in open (instant_redeem) is taken from its lots first: a sale whose
 * award of 1,014 paid 912 of debt (lots of 89 and 13) has both lots taken by a refund of a fifth
 * (202), as a claw-back that finds them takes them (a black-box probe, 2026-12-07: with the lots'
 * own floors, 17 and 2, the rest was noted as found nowhere, and the redemption's reversal that
 * should have moved nothing was refused). (A unit taken from the earliest lot instead of the
 * next in the order, and cut off its later shares, broke the prefix: a sale awarding 1 and 562
 * refunded by 5,016, 2,957 and 2,447 of 10,420 took 2 of the first lot, 561 of the second: CI's
 * fast-check property, seed 658167416.)
 */
export function lotsTakenAt(lots: readonly (readonly [string, number])[], refunded: number, amount: number, awarded?: number): number[] {
  const total = lots.reduce((sum, [, put]) => sum + put, 0);
  const count = awarded === undefined ? proportion(total, refunded, amount) : Math.min(proportion(awarded, refunded, amount), total);
  if (count <= 0) return lots.map(() => 0);
  let taken = unitsBefore(lots, refunded, amount);
  let spare = count - taken.reduce((sum, t) => sum + t, 0);
  if ((spare < 0 || spare >= lots.length) && total <= amount_max) {
    // An award the lots are not all of: from the units whose floor has come at
    // floor(count × amount / total), which are at most `count` and fewer by less than the lots
    // and total / amount, unit by unit as below (claw-back.lua, where halving cost 40 µs a call).
    taken = unitsBefore(lots, proportion(amount, count, total), amount);
    spare = count - taken.reduce((sum, t) => sum + t, 0);
  }
  // Lots past 12 digits by halving too, as the script must (its next-unit division is exact only up to them).
  if (spare < 0 || spare > spare_units_max || lots.some(([, put]) => put > amount_max)) {
    // Lots larger than the sale, many units coming at one refunded amount: the refunded amount
    // whose units reach `count`, found by halving, and its units given in lot order (they come together).
    let lo = 1;
    let hi = amount;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (unitsBefore(lots, mid, amount).reduce((sum, t) => sum + t, 0) >= count) hi = mid;
      else lo = mid + 1;
    }
    taken = unitsBefore(lots, lo - 1, amount);
    spare = count - taken.reduce((sum, t) => sum + t, 0);
    const at_lo = unitsBefore(lots, lo, amount);
    for (let i = 0; i < lots.length && spare > 0; i++) {
      const n = Math.min(spare, at_lo[i]! - taken[i]!);
      taken[i] = taken[i]! + n;
      spare -= n;
    }
    if (spare !== 0) throw new RangeError(`lotsTakenAt: ${spare} units past the lots`);
    return taken;
  }
  // The refunded amount at which a lot's next unit's floor comes: ceil((taken + 1) × amount / put).
  const nextAt = (i: number) => (taken[i]! < lots[i]![1] ? proportionCeil(taken[i]! + 1, amount, lots[i]![1]) : Infinity);
  const next = lots.map((_, i) => nextAt(i));
  for (; spare > 0; spare--) {
    let soonest = 0;
    for (let i = 1; i < lots.length; i++) if (next[i]! < next[soonest]!) soonest = i;
    taken[soonest] = taken[soonest]! + 1;
    next[soonest] = nextAt(soonest);
  }
  return taken;
}

/** Each lot's units whose floor has come once `refunded` of `amount` is refunded: floor(put × refunded / amount). */
function unitsBefore(lots: readonly (readonly [string, number])[], refunded: number, amount: number): number[] {
  return lots.map(([, put]) => Math.min(put, proportion(put, refunded, amount)));
}

/**
 * Each lot's share of a claw-back of `claw` that takes a purchase of `whole` from `before` to
 * `after` refunded (claw-back.lua ownShares): what claw-backs have taken of it at `after` less at
 * `before` (lotsTakenAt, of the award `awarded`). At most the claw-back; past it (an award less
 * than its lots, which no script makes) cut off the earliest lots'.
 */
export function lotShares(lots: readonly (readonly [string, number])[], claw: number, before: number, after: number, whole: number, awarded?: number): number[] {
  const at_before = lotsTakenAt(lots, before, whole, awarded);
  const shares = lotsTakenAt(lots, after, whole, awarded).map((taken, i) => taken - at_before[i]!);
  let over = shares.reduce((sum, s) => sum + s, 0) - claw;
  for (let i = 0; i < shares.length && over > 0; i++) {
    const cut = Math.min(shares[i]!, over);
    shares[i] = shares[i]! - cut;
    over -= cut;
  }
  return shares;
}

/**
 * An integer amount read exactly: a number while it is a safe integer (every amount of one
 * message, every wallet's balance), a bigint past 2^53 − 1 (a report's total across contacts,
 * a balance a refund took past wallet_balance_max). Always in this form, so `===` compares two.
 */
export type ExactAmount = number | bigint;

/** `digits` (an integer as PostgreSQL or Redis writes it) as an ExactAmount. */
export function exactAmount(digits: string | bigint): ExactAmount {
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : BigInt(digits);
}

/** a + b, exactly. */
export function exactSum(a: ExactAmount, b: ExactAmount): ExactAmount {
  if (typeof a === 'number' && typeof b === 'number' && Number.isSafeInteger(a + b)) return a + b;
  return exactAmount(BigInt(a) + BigInt(b));
}

/** a − b, exactly. */
export function exactDifference(a: ExactAmount, b: ExactAmount): ExactAmount {
  return exactSum(a, -b);
}

/** |a|, exactly. */
export function exactAbs(a: ExactAmount): ExactAmount {
  return a < 0 ? -a : a;
}
