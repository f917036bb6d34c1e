// Every command's reply and journal entry, written here once from their types: the templates a
// shard script is given, with holes for what only it knows (hot/template.ts). Their bytes are a
// contract: a replay returns the stored reply byte for byte, and the ledger writer reads the
// entries. Field order is the order below.

import type { Award } from '../core/offer.ts';
import type { AwardHole } from './hot/award.ts';
import type { ExpireHole } from './hot/expire.ts';
import type { PurchaseHole } from './hot/purchase.ts';
import type { RedeemHole } from './hot/redeem.ts';
import type { RefundHole } from './hot/refund.ts';
import type { ReversalHole } from './hot/reversal.ts';
import type { SpendHole } from './hot/spend.ts';
import { Hole, template, type Holed, type Template, type WalletHole } from './hot/template.ts';
import type { JournalEntry } from './journal.ts';

export interface Wallet {
  readonly open: number;
  readonly commerce: number;
}

/** An award as replies and journal entries show it. */
export interface PublicAward {
  readonly offer_id: string;
  readonly scheme_id: string | null;
  readonly kind: Award['kind'];
  readonly amount: number;
  readonly pool: string | null;
  readonly expires_at: string | null;
}

interface Approved {
  readonly id: string;
  readonly status: 'approved';
  readonly reference: string;
}

export interface PurchaseReply extends Approved {
  readonly contact_id: string;
  readonly amount: number;
  readonly currency: string;
  readonly awards: readonly PublicAward[];
  readonly discount: number;
  readonly amount_due: number;
  readonly paid_from_wallet: number;
  readonly created_at: string;
  readonly wallet: Wallet;
}

export interface SpendReply extends Approved {
  readonly contact_id: string;
  readonly spent: number;
  readonly currency: string;
  readonly created_at: string;
  readonly wallet: Wallet;
}

export interface RedemptionReply extends Approved {
  readonly contact_id: string;
  readonly redeemed: number;
  readonly currency: string;
  readonly created_at: string;
  readonly wallet: Wallet;
}

export interface RefundReply extends Approved {
  readonly original_id: string;
  readonly contact_id: string;
  readonly amount: number;
  readonly currency: string;
  /** What of the awards' share left the wallet; award_expired the rest of it, which had expired already. */
  readonly clawed_back: number;
  /** Absent from replies made before 2026-12-03. */
  readonly award_expired?: number;
  readonly returned_to_wallet: number;
  readonly created_at: string;
  readonly wallet: Wallet;
}

export interface ReversalReply extends Approved {
  readonly original_id: string;
  readonly original_kind: 'purchase' | 'spend' | 'redemption';
  readonly contact_id: string;
  readonly currency: string;
  /** A purchase's: what of its awards left the wallet (0 for the others; absent before 2026-12-03, second release). */
  readonly clawed_back?: number;
  /** A purchase's: what of its awards had expired already, not clawed back again (0 for the others; absent before 2026-12-03). */
  readonly award_expired?: number;
  /**
   * What came back into the open balance: a purchase's wallet payment (what refunds had not
   * returned), a spend's amount; 0 for a redemption (absent before 2026-12-06).
   */
  readonly returned_to_wallet?: number;
  readonly created_at: string;
  readonly wallet: Wallet;
}

/** Award and expiry transactions are the processor's own: their replies go to no terminal. */
export interface AwardReversalReply extends Omit<ReversalReply, 'original_kind'> {
  /** A referrer's award, reversed as its referral was undone. */
  readonly original_kind: 'award';
}

export interface AwardReply {
  readonly id: string;
  readonly kind: 'award';
  readonly reason: string;
  readonly reference: string;
  readonly contact_id: string;
  readonly awards: readonly PublicAward[];
  readonly currency: string;
  readonly created_at: string;
  readonly wallet: Wallet;
}

export interface ExpiryReply {
  readonly id: string;
  readonly kind: 'expiry';
  readonly contact_id: string;
  readonly expired: number;
  readonly wallet: Wallet;
}

/** A command's reply and journal entry, with holes among H. */
export interface Templates<H extends string> {
  readonly reply: Template<H | WalletHole>;
  readonly entry: Template<H | WalletHole>;
}

/** What every template names: the transaction, its business and contact, when. */
export interface TransactionFacts {
  readonly id: string;
  readonly business_id: string;
  readonly contact_id: string;
  readonly currency: string;
  readonly now_ms: number;
}

/** A transaction at a terminal under the terminal's reference. */
export interface TerminalFacts extends TransactionFacts {
  readonly terminal_id: string;
  readonly reference: string;
  /** The reference's claim hash (claim.ts claimHash): kept in the ledger so that `rebuild` can claim the reference again. */
  readonly request_hash: string;
  /** Sent by the business's admin key for the terminal, or by a payment processor's callback (processor/network.ts Terminal). */
  readonly made_by?: 'admin' | 'processor' | undefined;
  /** The terminal code a processor's callback named (processor/network.ts Terminal.reported_code). */
  readonly terminal_code?: string | undefined;
}

/**
 * Where a journal entry came from, `made_by` and `terminal_code`: present only for an admin's call and a
 * processor's (the terminal code where its event named one), so a terminal's own entries keep their bytes.
 */
function origin(t: TerminalFacts): { made_by?: 'admin' | 'processor'; terminal_code?: string } {
  return {
    ...(t.made_by === undefined ? {} : { made_by: t.made_by }),
    ...(t.terminal_code === undefined ? {} : { terminal_code: t.terminal_code }),
  };
}

/** Replies' timestamps: to the second. */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Journal entries' timestamps: to the millisecond. */
function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function publicAward(a: Award): PublicAward {
  return { offer_id: a.offer_id, scheme_id: a.scheme_id, kind: a.kind, amount: a.amount, pool: a.pool, expires_at: a.expires_at };
}

// Holes are made once: each checks its name when it is made.
const wallet = Hole.wallet;
const postings = Hole.list('postings');
const purchase = { awards: Hole.list('awards'), discount: Hole.json('discount'), due: Hole.json('due'), settled: Hole.optional('settled') };

export function purchaseTemplates(t: TerminalFacts & { readonly amount: number; readonly pay: number; readonly at_ms: number }): Templates<PurchaseHole> {
  const { awards, discount, settled } = purchase;
  const reply = {
    id: t.id, status: 'approved', reference: t.reference, contact_id: t.contact_id, amount: t.amount, currency: t.currency, awards, discount,
    amount_due: purchase.due, paid_from_wallet: t.pay, created_at: rfc3339(t.now_ms), wallet,
  } satisfies Holed<PurchaseReply, 'awards' | 'discount' | 'amount_due' | 'wallet', PurchaseHole | WalletHole>;
  // The awards are the reply's alone: with several they were the larger part of an entry, and the
  // entry and the reply travel together (the stream, the AOF, the ledger writer's reads). Whoever
  // reads an entry takes its awards from the reply when it has none (writer.ts, transactions.ts).
  const entry = {
    id: t.id, kind: 'purchase', business_id: t.business_id, terminal_id: t.terminal_id, ...origin(t), reference: t.reference, request_hash: t.request_hash, contact_id: t.contact_id,
    amount: t.amount, currency: t.currency, created_at: iso(t.now_ms), occurred_at: iso(t.at_ms), discount, paid_from_wallet: t.pay, postings, settled,
  } satisfies Holed<JournalEntry, 'discount' | 'postings' | 'settled', PurchaseHole>;
  return { reply: template(reply), entry: template(entry) };
}

/** Node decides a spend's amount; its postings are the script's, which charges the fee (lib.lua chargeFee). */
export function spendTemplates(t: TerminalFacts & { readonly amount: number }): Templates<SpendHole> {
  const reply = {
    id: t.id, status: 'approved', reference: t.reference, contact_id: t.contact_id, spent: t.amount, currency: t.currency, created_at: rfc3339(t.now_ms), wallet,
  } satisfies Holed<SpendReply, 'wallet', WalletHole>;
  const entry = {
    id: t.id, kind: 'spend', business_id: t.business_id, terminal_id: t.terminal_id, ...origin(t), reference: t.reference, request_hash: t.request_hash, contact_id: t.contact_id,
    amount: t.amount, currency: t.currency, created_at: iso(t.now_ms), postings,
  } satisfies Holed<JournalEntry, 'postings', SpendHole>;
  return { reply: template(reply), entry: template(entry) };
}

/** The amount is the script's to decide (everything eligible when none is given). */
const redeemed = Hole.json('redeemed');
const lots = Hole.json('lots');
const since = Hole.json('since');

export function redemptionTemplates(t: TerminalFacts): Templates<RedeemHole> {
  const reply = {
    id: t.id, status: 'approved', reference: t.reference, contact_id: t.contact_id, redeemed, currency: t.currency, created_at: rfc3339(t.now_ms), wallet,
  } satisfies Holed<RedemptionReply, 'redeemed' | 'wallet', RedeemHole | WalletHole>;
  const entry = {
    id: t.id, kind: 'redemption', business_id: t.business_id, terminal_id: t.terminal_id, ...origin(t), reference: t.reference, request_hash: t.request_hash, contact_id: t.contact_id,
    amount: redeemed, currency: t.currency, created_at: iso(t.now_ms), lots, since, postings,
  } satisfies Holed<JournalEntry, 'amount' | 'lots' | 'since' | 'postings', RedeemHole>;
  return { reply: template(reply), entry: template(entry) };
}

/** The script reads the original and decides the amount and shares: holes for all of them. */
const original_id = Hole.str('original');
const amount = Hole.json('amount');
const refund = { clawed: Hole.json('clawed'), returned: Hole.json('returned') };
const award_expired = Hole.json('expired');
/** What a claw-back noted owed, or a redemption's reversal settled (journal.ts JournalEntry.owed): rebuild's replay does the same. */
const owed = Hole.json('owed');
/** What a claw-back took from other lots for its sale's redeemed ones (journal.ts JournalEntry.instead). */
const instead = Hole.json('instead');

export function refundTemplates(t: TerminalFacts): Templates<RefundHole> {
  const reply = {
    id: t.id, status: 'approved', reference: t.reference, original_id, contact_id: t.contact_id, amount, currency: t.currency,
    clawed_back: refund.clawed, award_expired, returned_to_wallet: refund.returned, created_at: rfc3339(t.now_ms), wallet,
  } satisfies Holed<RefundReply, 'original_id' | 'amount' | 'clawed_back' | 'award_expired' | 'returned_to_wallet' | 'wallet', RefundHole | WalletHole>;
  const entry = {
    id: t.id, kind: 'refund', business_id: t.business_id, terminal_id: t.terminal_id, ...origin(t), reference: t.reference, request_hash: t.request_hash, contact_id: t.contact_id,
    amount, currency: t.currency, original_id, created_at: iso(t.now_ms), lots, owed, instead, postings,
  } satisfies Holed<JournalEntry, 'amount' | 'original_id' | 'lots' | 'owed' | 'instead' | 'postings', RefundHole>;
  return { reply: template(reply), entry: template(entry) };
}

/** The script reads the original and decides everything: its id, kind and amount are holes. */
const original_kind = Hole.str('kind');

export function reversalTemplates(t: TerminalFacts): Templates<ReversalHole> {
  const reply = {
    id: t.id, status: 'approved', reference: t.reference, original_id, original_kind, contact_id: t.contact_id,
    currency: t.currency, clawed_back: refund.clawed, award_expired, returned_to_wallet: refund.returned, created_at: rfc3339(t.now_ms), wallet,
  } satisfies Holed<ReversalReply, 'original_id' | 'original_kind' | 'clawed_back' | 'award_expired' | 'returned_to_wallet' | 'wallet', ReversalHole | WalletHole>;
  const entry = {
    id: t.id, kind: 'reversal', business_id: t.business_id, terminal_id: t.terminal_id, ...origin(t), reference: t.reference, request_hash: t.request_hash, contact_id: t.contact_id,
    amount, currency: t.currency, original_id, created_at: iso(t.now_ms), lots, owed, instead, postings,
  } satisfies Holed<JournalEntry, 'amount' | 'original_id' | 'lots' | 'owed' | 'instead' | 'postings', ReversalHole>;
  return { reply: template(reply), entry: template(entry) };
}

/**
 * The reversal of a referrer's award as its referral is undone (processor/referral-undo.ts): the
 * processor's own, as the award was, so no terminal and no claim (its record alone makes it once).
 */
export function awardReversalTemplates(t: TransactionFacts & { readonly reference: string }): Templates<ReversalHole> {
  const reply = {
    id: t.id, status: 'approved', reference: t.reference, original_id, original_kind, contact_id: t.contact_id,
    currency: t.currency, clawed_back: refund.clawed, award_expired, created_at: rfc3339(t.now_ms), wallet,
  } satisfies Holed<AwardReversalReply, 'original_id' | 'original_kind' | 'clawed_back' | 'award_expired' | 'wallet', ReversalHole | WalletHole>;
  const entry = {
    id: t.id, kind: 'reversal', business_id: t.business_id, terminal_id: null, reference: t.reference, contact_id: t.contact_id,
    amount, currency: t.currency, original_id, created_at: iso(t.now_ms), lots, owed, instead, postings,
  } satisfies Holed<JournalEntry, 'amount' | 'original_id' | 'lots' | 'owed' | 'instead' | 'postings', ReversalHole>;
  return { reply: template(reply), entry: template(entry) };
}

/** `reason`: 'signup' or 'referral'; `reference` the processor's own (one award per reference). */
export function awardTemplates(t: TransactionFacts & { readonly reason: string; readonly reference: string }): Templates<AwardHole> {
  const { awards, settled } = purchase;
  const reply = {
    id: t.id, kind: 'award', reason: t.reason, reference: t.reference, contact_id: t.contact_id, awards, currency: t.currency, created_at: rfc3339(t.now_ms), wallet,
  } satisfies Holed<AwardReply, 'awards' | 'wallet', AwardHole | WalletHole>;
  // As a purchase's: the awards are the reply's alone, and readers take them from there.
  const entry = {
    id: t.id, kind: 'award', business_id: t.business_id, terminal_id: null, reference: t.reference, contact_id: t.contact_id,
    amount, currency: t.currency, created_at: iso(t.now_ms), postings, settled,
  } satisfies Holed<JournalEntry, 'amount' | 'postings' | 'settled', AwardHole>;
  return { reply: template(reply), entry: template(entry) };
}

export function expiryTemplates(t: TransactionFacts & { readonly reference: string }): Templates<ExpireHole> {
  const reply = { id: t.id, kind: 'expiry', contact_id: t.contact_id, expired: amount, wallet } satisfies Holed<ExpiryReply, 'expired' | 'wallet', ExpireHole | WalletHole>;
  const entry = {
    id: t.id, kind: 'expiry', business_id: t.business_id, terminal_id: null, reference: t.reference, contact_id: t.contact_id,
    amount, currency: t.currency, created_at: iso(t.now_ms), postings,
  } satisfies Holed<JournalEntry, 'amount' | 'postings', ExpireHole>;
  return { reply: template(reply), entry: template(entry) };
}
