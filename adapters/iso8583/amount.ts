// Amounts on the wire are zero-padded digit strings of minor units. They stay integers here:
// n12 tops out at 999 999 999 999, well inside Number's exact range, so no floats or bigint.

import { IsoFormatError } from './format-error.ts';

/** `minor` (a non-negative safe integer) as `length` zero-padded digits, e.g. DE4. */
export function formatAmount(minor: number, length = 12, field = 4): string {
  if (!Number.isSafeInteger(minor) || minor < 0) {
    throw new IsoFormatError(field, 0, 'bad_format', `amount ${String(minor)} is not a non-negative integer of minor units`);
  }
  if (!Number.isInteger(length) || length < 1 || length > 15) throw new RangeError(`amount length ${length} outside 1..15`);
  const digits = String(minor);
  if (digits.length > length) throw new IsoFormatError(field, 0, 'too_long', `amount ${digits} needs more than ${length} digits`);
  return digits.padStart(length, '0');
}

/** Digits (leading zeros allowed, at most 15) as an integer of minor units. */
export function parseAmount(digits: string, field = 4): number {
  if (digits.length === 0) throw new IsoFormatError(field, 0, 'bad_length', 'empty amount');
  if (digits.length > 15) throw new IsoFormatError(field, 0, 'too_long', 'amount longer than 15 digits');
  let v = 0;
  for (let i = 0; i < digits.length; i++) {
    const d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) throw new IsoFormatError(field, i, 'not_numeric', 'amount must be digits');
    v = v * 10 + d;
  }
  return v;
}
