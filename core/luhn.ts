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

/**
 * Digit groups joined by single spaces (no-break ones too), hyphens, dots, underscores or slashes,
 * as a card number is printed or typed (underscores and slashes passed until 2026-12-06: a probe).
 */
const digit_run = /\d+(?:[ \u00a0._/-]\d+)*/g;
const digit_group = /\d+/g;
const non_ascii = /[^\u0000-\u007f]/u;
const other_digit = /[^\u0000-\u007f]/gu;
const decimal_digit = /^\p{Nd}$/u;

/**
 * `text` with the decimal digits of other scripts in the Basic Multilingual Plane (full-width ４,
 * Arabic-Indic ٤, Devanagari ४…) written as ASCII ones, one character for one, so that positions
 * in it are positions in `text`: a card number typed in full-width digits, as a Japanese keyboard
 * types them, passed as a name until 2026-12-06 (a probe).
 */
function asciiDigits(text: string): string {
  if (!non_ascii.test(text)) return text;
  return text.replace(other_digit, (c) => (decimal_digit.test(c) ? String(digitValue(c.charCodeAt(0))) : c));
}

/** A decimal digit's value: Unicode gives each script's ten in a row from its zero. */
function digitValue(code: number): number {
  let zero = code;
  while (code - zero < 9 && decimal_digit.test(String.fromCharCode(zero - 1))) zero--;
  return code - zero;
}

/**
 * Leading digits no card is issued under, and that dates and timestamps have: 0 and 1 (ISO/IEC
 * 7812's reserved and airline ranges; milliseconds since 1970 until 2033), and 20 (a year 20xx).
 * Every other leading digit is some network's (Mir 2200–2204, Mastercard 2221–2720, Amex, Diners
 * and JCB 3, Visa 4, Mastercard and Maestro 5, Discover, UnionPay and RuPay 6 and 8, Troy 9792).
 */
const no_network_prefix = /^(?:0|1|20)/;

function readsAsCardNumber(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && !no_network_prefix.test(digits) && luhnValid(digits);
}

/**
 * The ways a card number is written in groups: fours with a shorter last group (Visa, Mastercard
 * and most: 4-4-4-4, 4-4-4-4-3, 4-4-4-1…), and American Express's and Diners' 4-6-5 and 4-6-4.
 * Groups of other sizes (a phone number's 3-3-4, a date's 2-2-4) make no card number together.
 */
function cardGrouping(lengths: readonly number[]): boolean {
  if (lengths.length === 3 && lengths[0] === 4 && lengths[1] === 6 && (lengths[2] === 5 || lengths[2] === 4)) return true;
  return lengths.slice(0, -1).every((n) => n === 4) && lengths.at(-1)! >= 1 && lengths.at(-1)! <= 4;
}

/** A card number found in text: where it starts and ends (exclusive), and its digits. */
export interface CardNumberSpan {
  readonly start: number;
  readonly end: number;
  readonly digits: string;
}

/**
 * What in free text reads as a card number: 13 to 19 digits, under a leading digit some network
 * issues cards with, that pass Luhn; written whole, or grouped as cards are printed
 * (cardGrouping), alone or beside other groups (an expiry date, a security code). A run of 20
 * digits and more with no separator is an id, and a run led by `+` a phone number. Card numbers
 * are never stored (a card CIM keeps a keyed hash and a masked form), so a name or a tag holding
 * one is refused, not kept, and a problem or a log masks it (core/cim.ts maskCardNumbers). Bounded
 * by the caller: the schemas check text within their length.
 */
export function cardNumberSpans(written: string): CardNumberSpan[] {
  const spans: CardNumberSpan[] = [];
  const text = asciiDigits(written);
  for (const match of text.matchAll(digit_run)) {
    if (text[match.index - 1] === '+') continue;
    const groups = [...match[0].matchAll(digit_group)].map((g) => ({ digits: g[0], start: match.index + g.index }));
    for (let first = 0; first < groups.length; first++) {
      const head = groups[first]!;
      if (readsAsCardNumber(head.digits)) {
        spans.push({ start: head.start, end: head.start + head.digits.length, digits: head.digits });
        continue;
      }
      for (let last = first + 1, digits = head.digits; last < groups.length && digits.length + groups[last]!.digits.length <= 19; last++) {
        const tail = groups[last]!;
        digits += tail.digits;
        if (!cardGrouping(groups.slice(first, last + 1).map((g) => g.digits.length)) || !readsAsCardNumber(digits)) continue;
        spans.push({ start: head.start, end: tail.start + tail.digits.length, digits });
        first = last; // the outer loop goes on after it
        break;
      }
    }
  }
  return spans;
}

/** Whether free text holds what reads as a card number (cardNumberSpans). */
export function holdsCardNumber(text: string): boolean {
  return cardNumberSpans(text).length > 0;
}
