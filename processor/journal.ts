// The journal entry: what the hot path appends to its shard's stream and the ledger writer turns
// into a ledger transaction and its postings.

import type { Accounts } from './hot/accounts.ts';
import type { Business, Terminal } from './network.ts';

// Contact: open, commerce. Business: rewards (funds every award), discounts (instant discounts
// given), spends (wallet money accepted at its own venues), fee_income. Merchant: spends (wallet
// money accepted at its terminals: the business owes it), fees (contribution fees it owes).
export type AccountKind = 'open' | 'commerce' | 'rewards' | 'discounts' | 'spends' | 'fees' | 'fee_income';

/**
 * A journal stream entry's fields as Redis gives them (names and values alternating): `e` the
 * journal entry, `r` the reply sent (JSON each; lib.lua commit writes both); or `x` alone, a
 * refusal (processor/refusals.ts), which only the ledger writer reads.
 */
export function streamEntryFields(fields: readonly string[]): { entry?: string; reply?: string; refusal?: string } {
  const out: { entry?: string; reply?: string; refusal?: string } = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'e') out.entry = fields[i + 1];
    else if (fields[i] === 'r') out.reply = fields[i + 1];
    else if (fields[i] === 'x') out.refusal = fields[i + 1];
  }
  return out;
}

/** A journal entry's awards: its own (entries written before 2026-11-30), or its reply's (a purchase's and an award's leave them to it: templates.ts). */
export function entryAwards(entry: { readonly awards?: readonly unknown[] | undefined }, reply: string | undefined): readonly unknown[] {
  return entry.awards ?? (reply === undefined || reply === '' ? undefined : (JSON.parse(reply) as { awards?: readonly unknown[] }).awards) ?? [];
}

/** [debit account, credit account, amount]: balanced by construction. */
export type Posting = readonly [string, string, number];

export interface JournalEntry {
  readonly id: string;
  readonly kind: 'purchase' | 'redemption' | 'spend' | 'refund' | 'reversal' | 'expiry' | 'award';
  readonly business_id: string;
  readonly terminal_id: string | null;
  /** 'admin': an admin key sent it for the terminal (absent: the terminal itself, or the processor). */
  readonly made_by?: 'admin' | 'processor';
  /** The terminal code a processor's callback named (absent for every other transaction). */
  readonly terminal_code?: string;
  readonly reference: string | null;
  /** A terminal's transactions: the reference's claim hash (processor/claim.ts), for `rebuild`. */
  readonly request_hash?: string;
  readonly contact_id: string | null;
  readonly amount: number;
  readonly currency: string;
  readonly created_at: string;
  /** A purchase's: its occurred_at (the time its offers, caps and tier periods were decided by). */
  readonly occurred_at?: string;
  readonly original_id?: string | null;
  readonly awards?: readonly unknown[];
  readonly discount?: number;
  readonly paid_from_wallet?: number;
  /**
   * A purchase's or an award's: what of its awards paid commerce debt (a claw-back's) before
   * reaching their lots or open, taken off them in the reply's order (lib.lua creditAward); absent
   * when none did, and before 2026-12-07. Its claw-backs share over what the lots were given
   * (awards.ts awardLots).
   */
  readonly settled?: number;
  /**
   * The commerce lots it took from, [lot field, amount] each: a redemption's (its reversal gives
   * them back); a refund's or reversal's claw-back's (null when it took none), which rebuild's
   * replay takes again (claw-back.lua clawBack).
   */
  readonly lots?: readonly (readonly [string, number])[] | null;
  /**
   * A redemption's: the time characters (an id's first 10) from which its reversal settles the
   * notes claw-backs made (claw-back.lua settleOwed), where redeem.lua raised them past the latest
   * note the contact held; null where they are its id's own; absent before 2026-12-07 (its id's).
   */
  readonly since?: string | null;
  /**
   * A refund's or a purchase's (or award's) reversal's: what its claw-back took from open for want
   * of its purchase's redeemed lots, noted for their redemption's reversal (claw-back.lua owedOf),
   * and since 2026-12-07 what it took from open or as debt beyond them (noteWanting);
   * a redemption's reversal's: what it settled of those notes (settleOwed); null for a spend's
   * reversal; absent before 2026-12-06.
   */
  readonly owed?: number | null;
  /**
   * A refund's or a purchase's reversal's: what of its purchase's redeemed lots' shares it took
   * from other lots instead, [lot, other lot, amount] each (claw-back.lua noteInstead), which the
   * redemption's reversal gives back to the other lot; null for none; absent before 2026-12-06.
   */
  readonly instead?: readonly (readonly [string, string, number])[] | null;
  readonly postings: readonly Posting[];
}

export function accountId(owner_id: string, kind: AccountKind, currency: string): string {
  return `${owner_id}:${kind}:${currency}`;
}

/**
 * The accounts a transaction of `contact_id` may post to (hot/accounts.ts): at `terminal`, or at
 * none (the processor's own award and expiry transactions, as at the business's own venues).
 */
export function transactionAccounts(business: Business, terminal: Terminal | null, contact_id: string): Accounts {
  const currency = business.currency;
  const merchant_id = terminal?.merchant_id ?? null;
  return {
    open: accountId(contact_id, 'open', currency),
    commerce: accountId(contact_id, 'commerce', currency),
    rewards: accountId(business.id, 'rewards', currency),
    discounts: accountId(business.id, 'discounts', currency),
    // Wallet money spent at a merchant's terminal is the merchant's; at the business's own venues, the business's.
    spends: accountId(merchant_id ?? business.id, 'spends', currency),
    fees: merchant_id === null ? '' : accountId(merchant_id, 'fees', currency),
    fee_income: accountId(business.id, 'fee_income', currency),
  };
}

