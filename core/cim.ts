// Customer Identification Media: normalisation, masking and the index token.
//
// Every CIM is indexed by an HMAC token, never by its value: a card number (PAN) must never be
// stored, and hashing the others too keeps index keys short and fixed-size. The token binds the
// business and the type, so the same phone in two businesses gives two unrelated tokens.

import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { cardNumberSpans, luhnValid } from './luhn.ts';
import { holdsUnstorable, unstorable_message } from './storable.ts';

export const cim_types = ['card', 'phone', 'email', 'loyalty_id', 'gift_pass', 'wallet_code', 'contact_code'] as const;
export type CimType = (typeof cim_types)[number];

/** Types a contact can be given through the API; wallet and contact codes are issued by us. */
export const assignable_cim_types = ['card', 'phone', 'email', 'loyalty_id', 'gift_pass'] as const;
export type AssignableCimType = (typeof assignable_cim_types)[number];

export interface NormalisedCim {
  readonly type: CimType;
  readonly value: string; // normalised; for cards the PAN itself: callers must hash it and drop it
  readonly masked: string;
  /**
   * The index token, when an adapter hashed the CIM as it arrived (a callback's card number):
   * `value` is then the token too, never the PAN; an email's or a phone's stays itself
   * (Contacts.tokenised).
   */
  readonly token?: string;
}

export type CimResult = NormalisedCim | { readonly error: string };

const value_length_max = 254; // RFC 5321 caps an email path at 254; nothing else is longer

const all_digits = /^[0-9]+$/;

function digitsOnly(value: string, allowed_separators: string): string | undefined {
  // Most values come without separators: keep the string rather than build it char by char.
  if (all_digits.test(value)) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c >= '0' && c <= '9') out += c;
    else if (!allowed_separators.includes(c)) return undefined;
  }
  return out;
}

/**
 * First 6 and last 4 digits of a card number (API.md), the most PCI DSS allows to show, from 15
 * digits (an American Express card keeps 5 hidden). Below 15 that leaves too few hidden (a
 * 12-digit PAN would keep 2, ten candidates after the Luhn check), so shorter numbers show their
 * last 4 only.
 */
export function maskPan(pan: string): string {
  if (pan.length < 15) return `${'*'.repeat(pan.length - 4)}${pan.slice(-4)}`;
  return `${pan.slice(0, 6)}${'*'.repeat(pan.length - 10)}${pan.slice(-4)}`;
}

/**
 * `text` with what reads as a card number masked (maskPan): written whole or grouped as cards are
 * printed, by the rules names and tags are refused by (core/luhn.ts cardNumberSpans), and every
 * other run of 12 to 19 digits that passes Luhn. What a problem's detail echoes of a request (an
 * id in a path, a query's value) or a log line's path never holds a card number an integrator put
 * where an id goes (`GET /v1/contacts/<PAN>` answered it whole in its 404: an API audit,
 * 2026-12-04; grouped, "5556-8909-6278-9609", until 2026-12-06: a PAN probe). A longer run is
 * left alone: no card number is longer.
 */
export function maskCardNumbers(text: string): string {
  let out = '';
  let at = 0;
  for (const span of cardNumberSpans(text)) {
    out += text.slice(at, span.start) + maskPan(span.digits);
    at = span.end;
  }
  out += text.slice(at);
  return out.replace(/(?<!\d)\d{12,19}(?!\d)/g, (run) => (luhnValid(run) ? maskPan(run) : run));
}

/**
 * Two characters shown at each end, counted in code points: cut in UTF-16 units, an emoji at an
 * end left half a surrogate pair, which PostgreSQL's JSON refused (a 500 that failed a whole
 * import) or stored as U+FFFD.
 */
function maskText(value: string): string {
  const chars = Array.from(value);
  if (chars.length <= 4) return '*'.repeat(chars.length);
  return `${chars.slice(0, 2).join('')}${'*'.repeat(chars.length - 4)}${chars.slice(-2).join('')}`;
}

/**
 * "+44 (0)20 7946 0958": the "(0)" after the country code is the trunk prefix, dialled only from
 * inside the country and not part of the E.164 number; kept, it made the same phone a second
 * contact. Only right after the country code, and not where the 0 is part of the number itself
 * (Italy and the Vatican +39, San Marino +378, Côte d'Ivoire +225): there "(0)" is read as 0.
 */
const trunk_zero = /^(\+|00)\s*(\d{1,3})[\s-]*\(0\)/;
const zero_kept_countries: ReadonlySet<string> = new Set(['39', '378', '225']);

/** "(+44) 20 7946 0958": the country code in brackets, as some print it, is the country code (a contacts probe). */
const bracketed_country = /^\((\+|00)\s*(\d{1,3})\)/;

// An email as people write one: one "@", no white space, control or RFC 5322 special character
// (which only a quoted local part may hold), a domain of non-empty dot-separated labels. Looser,
// `a@b@example.com`, `a\tb@x.com`, `a@x..com` and `x@example.com.` (another CIM than
// `x@example.com`) were taken as CIMs (a contacts probe, 2026-12-07).
const email_local = /^[^\s\p{Cc}"(),:;<>@[\\\]]+$/u;
const email_domain = /^(?:[^\s\p{Cc}"(),:;<>@[\\\].]+\.)+[^\s\p{Cc}"(),:;<>@[\\\].]+$/u;

function withoutTrunkZero(phone: string): string {
  const m = trunk_zero.exec(phone);
  if (m === null || zero_kept_countries.has(m[2]!)) return phone;
  return `${m[1]}${m[2]}${phone.slice(m[0].length)}`;
}

export function normaliseCim(type: string, raw: unknown): CimResult {
  if (typeof raw !== 'string') return { error: 'must be a string' };
  if (raw.length === 0 || raw.length > value_length_max) return { error: `must be 1 to ${value_length_max} characters` };
  // A query string's value is no JSON body's, which parseJsonText checked: an email with a U+0000
  // reached PostgreSQL's look-up by details, whose refusal read as an outage (a 503; a probe).
  if (holdsUnstorable(raw)) return { error: unstorable_message };
  switch (type) {
    case 'card': {
      const pan = digitsOnly(raw, ' -');
      if (pan === undefined || pan.length < 12 || pan.length > 19) return { error: 'card must be 12 to 19 digits' };
      if (!luhnValid(pan)) return { error: 'card number fails the Luhn check' };
      return { type, value: pan, masked: maskPan(pan) };
    }
    case 'phone': {
      const trimmed = withoutTrunkZero(raw.trim().replace(bracketed_country, '$1$2'));
      const international = trimmed.startsWith('+') ? trimmed.slice(1) : trimmed.startsWith('00') ? trimmed.slice(2) : undefined;
      if (international === undefined) return { error: 'phone must be in international form (E.164, +<country><number>)' };
      const digits = digitsOnly(international, ' -().');
      // Seven digits in all: Niue (+683) and Tokelau (+690) number their lines in four.
      if (digits === undefined || digits.length < 7 || digits.length > 15 || digits[0] === '0') {
        return { error: 'phone must be E.164: + then 7 to 15 digits' };
      }
      const value = `+${digits}`;
      return { type, value, masked: `+${'*'.repeat(digits.length - 4)}${digits.slice(-4)}` };
    }
    case 'email': {
      const value = raw.trim().toLowerCase();
      const at = value.indexOf('@');
      if (at < 1 || at !== value.lastIndexOf('@') || !email_local.test(value.slice(0, at)) || !email_domain.test(value.slice(at + 1))) {
        return { error: 'email must look like name@domain.tld' };
      }
      return { type, value, masked: `${maskText(value.slice(0, at))}${value.slice(at)}` };
    }
    case 'loyalty_id':
    case 'gift_pass': {
      const value = raw.trim();
      if (value.length === 0 || value.length > 64) return { error: `${type} must be 1 to 64 characters` };
      return { type, value, masked: maskText(value) };
    }
    case 'wallet_code': {
      const code = digitsOnly(raw, ' -');
      if (code === undefined || code.length !== 16 || !luhnValid(code)) return { error: 'wallet_code must be 16 digits, Luhn-valid' };
      return { type, value: code, masked: `************${code.slice(-4)}` };
    }
    case 'contact_code': {
      const value = raw.trim().toUpperCase();
      if (value.length === 0 || value.length > 32) return { error: 'contact_code must be 1 to 32 characters' };
      return { type, value, masked: value };
    }
    default:
      return { error: `type must be one of ${cim_types.join(', ')}` };
  }
}

// The key as a KeyObject, made once: handing createHmac the string makes it import the key on
// every call, a quarter of a token's cost (an import makes four tokens per contact). The request
// hash and the reference's field use it too: with the CIM's token, three HMACs per purchase.
let key_text: string | undefined;
let key_object: KeyObject | undefined;

export function hmacKey(hmac_key: string): KeyObject {
  if (hmac_key !== key_text) {
    key_object = createSecretKey(Buffer.from(hmac_key, 'utf8'));
    key_text = hmac_key;
  }
  return key_object!;
}

/**
 * The index token of a contact's email or phone on file (its details, not a CIM): a token no CIM
 * has, for its hint in the CIM index (processor/detail-hints.ts).
 */
export function detailToken(hmac_key: string, business_id: string, type: 'email' | 'phone', value: string): string {
  return indexToken(hmac_key, business_id, `${type} on file`, value);
}

/** The index token of a normalised CIM: HMAC-SHA256 over business, type and value, 128 bits. */
export function cimToken(hmac_key: string, business_id: string, type: CimType, value: string): string {
  return indexToken(hmac_key, business_id, type, value);
}

function indexToken(hmac_key: string, business_id: string, kind: string, value: string): string {
  return createHmac('sha256', hmacKey(hmac_key)).update(`${business_id}\u0000${kind}\u0000${value}`).digest('base64url').slice(0, 22);
}
