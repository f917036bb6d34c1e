// DE54 additional amounts: up to six 20-character blocks of account type n2, amount type n2,
// currency n3, sign C/D, amount n12 (minor units). Pocketgate uses amount types 01/02 (open and
// commerce balances on 0110) and 90/91 (total awarded / instant discount on 0210).

import { formatAmount, parseAmount } from './amount.ts';
import { IsoFormatError } from './format-error.ts';

export type AmountSign = 'C' | 'D';

export interface AdditionalAmount {
  /** n2, e.g. '00' */
  accountType: string;
  /** n2, e.g. '01' open balance, '90' total awarded */
  amountType: string;
  /** n3 ISO 4217 numeric, e.g. '978' */
  currency: string;
  sign: AmountSign;
  /** minor units, 0..999 999 999 999 */
  amount: number;
}

/** The largest amount a block carries (n12). */
export const additional_amount_max = 999_999_999_999;

/**
 * The amounts a block can carry. One past n12 (a wallet or an award total of a currency with
 * three decimals, say) is left out rather than failing the whole reply: the transaction it
 * describes stands, and a 30 would tell the terminal otherwise. The HTTP API shows its figure.
 */
export function carried(list: readonly AdditionalAmount[]): AdditionalAmount[] {
  return list.filter((a) => a.amount <= additional_amount_max);
}

export const ADDITIONAL_AMOUNT_BLOCK = 20;
export const MAX_ADDITIONAL_AMOUNTS = 6; // DE54 is an...120

function digitsOf(value: unknown, length: number, at: number, what: string): string {
  if (typeof value !== 'string') throw new IsoFormatError(54, at, 'bad_type', `${what} must be a string`);
  if (value.length !== length) throw new IsoFormatError(54, at, 'bad_length', `${what} must be ${length} digits`);
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) throw new IsoFormatError(54, at + i, 'not_numeric', `${what} must be digits`);
  }
  return value;
}

export function encodeAdditionalAmounts(list: readonly AdditionalAmount[]): string {
  if (list.length > MAX_ADDITIONAL_AMOUNTS) {
    throw new IsoFormatError(54, MAX_ADDITIONAL_AMOUNTS * ADDITIONAL_AMOUNT_BLOCK, 'too_long', `${list.length} blocks, at most ${MAX_ADDITIONAL_AMOUNTS}`);
  }
  let out = '';
  for (let k = 0; k < list.length; k++) {
    const a = list[k]!;
    const at = k * ADDITIONAL_AMOUNT_BLOCK;
    out += digitsOf(a.accountType, 2, at, 'account type');
    out += digitsOf(a.amountType, 2, at + 2, 'amount type');
    out += digitsOf(a.currency, 3, at + 4, 'currency');
    if (a.sign !== 'C' && a.sign !== 'D') throw new IsoFormatError(54, at + 7, 'bad_charset', 'sign must be C or D');
    out += a.sign;
    try {
      out += formatAmount(a.amount, 12, 54);
    } catch (e) {
      if (e instanceof IsoFormatError) throw new IsoFormatError(54, at + 8, e.reason, e.message);
      throw e;
    }
  }
  return out;
}

export function decodeAdditionalAmounts(value: string): AdditionalAmount[] {
  if (value.length % ADDITIONAL_AMOUNT_BLOCK !== 0) {
    throw new IsoFormatError(54, value.length - (value.length % ADDITIONAL_AMOUNT_BLOCK), 'bad_length', `${value.length} characters is not a whole number of 20-character blocks`);
  }
  if (value.length > MAX_ADDITIONAL_AMOUNTS * ADDITIONAL_AMOUNT_BLOCK) {
    throw new IsoFormatError(54, MAX_ADDITIONAL_AMOUNTS * ADDITIONAL_AMOUNT_BLOCK, 'too_long', 'more than 6 blocks');
  }
  const out: AdditionalAmount[] = [];
  for (let at = 0; at < value.length; at += ADDITIONAL_AMOUNT_BLOCK) {
    const accountType = digitsOf(value.slice(at, at + 2), 2, at, 'account type');
    const amountType = digitsOf(value.slice(at + 2, at + 4), 2, at + 2, 'amount type');
    const currency = digitsOf(value.slice(at + 4, at + 7), 3, at + 4, 'currency');
    const sign = value[at + 7];
    if (sign !== 'C' && sign !== 'D') throw new IsoFormatError(54, at + 7, 'bad_charset', 'sign must be C or D');
    const digits = digitsOf(value.slice(at + 8, at + 20), 12, at + 8, 'amount');
    out.push({ accountType, amountType, currency, sign, amount: parseAmount(digits, 54) });
  }
  return out;
}
