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

/** Digit groups joined by single spaces (no-break ones too), hyphens or dots, as a card number is printed or typed. */
const digit_run = /\d+(?:[ \u00a0.-]\d+)*/g;
const digit_group = /\d+/g;

/**
 * The card networks' leading digits (ISO/IEC 7812 issuer numbers in use): Visa 4, Mastercard
 * 51–55 and 2221–2720, Maestro 50 and 56–58, American Express 34 and 37, Diners 300–305, 36,
 * 38 and 39, JCB 3528–3589, Discover, UnionPay and Maestro 6. A digit run starting otherwise (a
 * date 2025…, a timestamp 17…) reads as no card number.
 */
const network_prefix = /^(?:4|5|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720|3[4789]|30[0-5]|36|35(?:2[89]|[3-8]\d)|6)/;

function readsAsCardNumber(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && network_prefix.test(digits) && luhnValid(digits);
}

/**
 * Whether free text holds what reads as a card number: 13 to 19 digits with a card network's
 * leading digits that pass Luhn, written whole or in groups, alone or followed or led by other
 * groups (an expiry date, a security code: the groups that make it are looked for within the
 * run). A run of digits with no separator is read whole: 20 and more of them are an id, not a
 * card. Card numbers are never stored (a card CIM keeps a keyed hash and a masked form), so a
 * name or a tag holding one is refused, not kept. Bounded: at most 19 digits a window, over a
 * text the schemas bound.
 */
export function holdsCardNumber(text: string): boolean {
  for (const [run] of text.matchAll(digit_run)) {
    const groups = [...run.matchAll(digit_group)].map(([g]) => g);
    for (let first = 0; first < groups.length; first++) {
      let digits = '';
      for (let last = first; last < groups.length && digits.length + groups[last]!.length <= 19; last++) {
        digits += groups[last]!;
        if (readsAsCardNumber(digits)) return true;
      }
    }
  }
  return false;
}
