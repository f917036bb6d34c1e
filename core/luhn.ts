// Luhn (mod 10) check digits, for card numbers and wallet codes.

export function luhnValid(digits: string): boolean {
  if (digits.length < 2) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** The digit that makes `partial + digit` Luhn-valid. */
export function luhnCheckDigit(partial: string): string {
  let sum = 0;
  let double = true; // the check digit itself will sit in the undoubled position
  for (let i = partial.length - 1; i >= 0; i--) {
    let d = partial.charCodeAt(i) - 48;
    if (d < 0 || d > 9) throw new RangeError('luhnCheckDigit: digits only');
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return String((10 - (sum % 10)) % 10);
}

/** Digits grouped by single spaces or hyphens, as a card number is printed or typed by hand. */
const digit_run = /\d(?:[ -]?\d)*/g;

/**
 * Whether free text holds what reads as a card number: a run of 13 to 19 digits, grouped or not,
 * that passes Luhn and that no further digit continues. Card numbers are never stored (a card CIM
 * keeps a keyed hash and a masked form), so a name or a tag holding one is refused, not kept.
 */
export function holdsCardNumber(text: string): boolean {
  for (const [run] of text.matchAll(digit_run)) {
    const digits = run.replace(/[ -]/g, '');
    if (digits.length >= 13 && digits.length <= 19 && luhnValid(digits)) return true;
  }
  return false;
}
