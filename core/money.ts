// Money is an integer count of the currency's minor unit. Rates (percentages) are kept in
// basis points so that no float ever touches an amount.

/** The largest amount any message may carry: 12 digits, as ISO 8583 DE4. */
export const amount_max = 999_999_999_999;

export function isAmount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= amount_max;
}

/** `percent` (0..100, at most 2 decimals) as basis points (0..10000), or undefined if not exact. */
export function percentToBasisPoints(percent: number): number | undefined {
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) return undefined;
  const bp = Math.round(percent * 100);
  // Reject 5.555: a rate we cannot represent exactly would silently round the business's offer.
  if (Math.abs(bp - percent * 100) > 1e-6) return undefined;
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
