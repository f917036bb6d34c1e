// Refunds and reversals: both act on an earlier transaction of the same terminal, found by its
// reference, on that transaction's contact's shard: in the hot window by the reference's claim
// and record, after it in the ledger.

import assert from 'node:assert/strict';
import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { RefundInput, ReversalInput } from '../core/schemas.ts';
import { claimedByAnother, claimForReversal, claimHash, claimReference, claimRefused, findOriginal, referenceConflict } from './claim.ts';
import type { Contacts } from './contacts.ts';
import type { Expiry } from './expiry.ts';
import { sharedRead } from './in-flight.ts';
import { posLedgerRead } from './ledger-reads.ts';
import { awardLotsArg, type AwardLots, type LedgerOriginalArg } from './hot/original.ts';
import type { RecordKind } from './hot/references.ts';
import { parseRecord, referenceSlot, type ReferenceSlot } from './hot/references.ts';
import { journalClaimRefusal } from './refusals.ts';
import type { RefundCall } from './hot/refund.ts';
import type { ReversalCall } from './hot/reversal.ts';
import { transactionAccounts } from './journal.ts';
import { ledgerOriginal, type LedgerOriginal } from './ledger/originals.ts';
import type { Business, Terminal } from './network.ts';
import type { Offers, Rewards } from './offers.ts';
import type { FailureReport } from './purchase.ts';
import { deferredUndo } from './deferred-undos.ts';
import { giveBackBudgets, readCountedPurchase, undoNeedsCounted, undoOf, type CountedPurchase } from './purchase-undo.ts';
import { awardLots } from './awards.ts';
import { readRecord, shardReply, type Reply } from './shard.ts';
import type { Stores } from './stores.ts';
import { refundTemplates, reversalTemplates, type TerminalFacts } from './templates.ts';
import type { LedgerRead } from './transactions.ts';
import { checkCurrency, feeRate, requestHash } from './wallet.ts';
import { requireWritable } from './redis-health.ts';
import type { ReferralUndos } from './referral-undo.ts';
import { decodeIntent } from './referrals.ts';

/** Where an original is: its contact, and what the ledger has of it when the hot window does not. */
interface Located {
  readonly contact_id: string;
  /** The original as the ledger has it; null in the hot window (the script reads its record). */
  readonly ledger: LedgerOriginalArg | null;
  /** A purchase's lots from the ledger (null in the hot window: read when the script asks). */
  readonly award_lots: AwardLots | null;
}

/** Reads of a reversal's original before its script runs on one that did not change meanwhile. */
const reversal_reads_max = 3;

const originals: ReadonlySet<string> = new Set<RecordKind>(['purchase', 'spend', 'redemption']);

/** The ledger's original as the scripts are given it (hot/original.ts). */
export function ledgerArg(o: LedgerOriginal): LedgerOriginalArg {
  // Another kind (a refund or reversal under the reference) is no original: the scripts refuse it.
  const kind = (originals.has(o.kind) ? o.kind : 'award') as RecordKind;
  return {
    original: { id: o.id, kind, amount: o.amount, awarded: o.awarded, paid: o.paid, discount: o.discount, to_open: o.to_open },
    state: { refunded: o.refunded, clawed: o.clawed, returned: o.returned, discount_returned: o.discount_returned, clawed_open: o.clawed_open, reversed: o.reversed },
    lots: o.lots === '' ? [] : (JSON.parse(o.lots) as [string, number][]),
    since: o.since,
  };
}

export class Refunds {
  /** The ledger's reads of originals in flight (ledgerOriginal). */
  private readonly original_reads = new Map<string, Promise<LedgerOriginal | undefined>>();

  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly offers: Offers,
    private readonly expiry: Expiry,
    private readonly referral_undos: ReferralUndos,
    private readonly report: FailureReport,
  ) {}

  async refund(business: Business, terminal: Terminal, input: RefundInput): Promise<Reply> {
    // Redis refusing writes, hung, or holding no network (emptied: RedisHealth's probeState) takes
    // no transaction: 503 before anything is read or written (OPERATIONS.md).
    await requireWritable(this.stores);
    if (input.currency !== undefined) checkCurrency(business, input.currency);
    // The same refund with or without its currency named is one body (hashed as before it was read).
    const { currency: _named, ...refund } = input;
    const hash = requestHash(this.stores.config.cim_hmac_key, 'refund', refund);
    const now_ms = this.stores.clock.now();
    const original_slot = referenceSlot(this.stores.config, terminal.id, input.original_reference, now_ms);
    const original = await this.locate(business, terminal, original_slot, input.original_reference, now_ms);
    const slot = referenceSlot(this.stores.config, terminal.id, input.reference, now_ms);
    const not_found = `no purchase with reference ${input.original_reference} at this terminal`;
    if (original === undefined) {
      // Remembered under the refund's own reference, as a script's refusal is (API.md: its repeat
      // is answered the same, replayed; another body under it is 409), whatever comes later.
      const repeat = await claimRefused(this.stores, { business_id: business.id, slot, hash });
      await this.journalNotFound(business, slot, hash, repeat);
      throw refused('original_not_found', not_found, repeat);
    }
    // Bound to no contact: this same refund was refused so before, and its original came since.
    if ((await claimReference(this.stores, { business_id: business.id, slot, hash }, original.contact_id)) === '') throw refused('original_not_found', not_found, true);
    const call = this.refundCall(business, terminal, input, { slot, hash }, original_slot, original, now_ms);
    const outcome = await this.stores.redis.refundScript(call);
    if (outcome.outcome !== 'stale') return shardReply(this.stores, call, Promise.resolve(outcome));
    // The script needs the original's lots (claw-back.lua ownLots: the contact holds others, or
    // expired ones remembered): read once (the record it found never changes), and call again.
    const award_lots = await this.awardLotsOf(business, call.shard, original_slot, now_ms);
    const again = await this.stores.redis.refundScript({ ...call, award_lots });
    // Only if its record went (its window ended) between the two calls: nothing was refunded.
    if (again.outcome === 'stale') throw new PocketgateError('unavailable', `the original of reference ${input.original_reference} changed while it was read; try again`);
    return shardReply(this.stores, call, Promise.resolve(again));
  }

  /**
   * The lots of the purchase a hot-window record names (its journal entry or ledger row); none
   * when it cannot be read now (the ledger down): the claw-back then writes nothing off, and
   * takes the award back whole from the earliest lots, as before 2026-12-03.
   */
  private async awardLotsOf(business: Business, shard: number, original_slot: ReferenceSlot, now_ms: number): Promise<AwardLots | null> {
    const record = parseRecord(await readRecord(this.stores, shard, original_slot));
    if (record === undefined) return null;
    const purchase = await readCountedPurchase(this.stores, shard, record.id, this.ledgerRead);
    return awardLotsArg(record.id, purchase === undefined ? [] : awardLots(purchase.awards, (await this.offers.forBusiness(business)).commerce_offers, purchase.settled), now_ms);
  }

  /**
   * The purchase one of `terminals` made under `reference`, if any: where, and its amount; from
   * the hot window's records, else one read of the ledger. For a processor's event whose
   * transaction's earlier event booked a purchase and was killed before its answer was stored
   * (adapters/callbacks/events.ts); `held` where the hot window holds the reference for another
   * kind of transaction only (a refund or reversal the processor named alike). A claim without its
   * record yet (a purchase being made now) cannot be told: 503, retried.
   */
  async purchaseAmong(business: Business, terminals: readonly Terminal[], reference: string): Promise<{ readonly terminal_id: string; readonly amount: number } | 'held' | undefined> {
    const now_ms = this.stores.clock.now();
    const hot = await Promise.all(terminals.map((t) => this.hotPurchase(t, reference, now_ms)));
    const i = hot.findIndex((h) => h !== undefined && h !== null);
    if (i >= 0) return { terminal_id: terminals[i]!.id, amount: hot[i]!.amount };
    if (hot.includes(null)) return 'held';
    if (terminals.length === 0) return undefined;
    try {
      const [row] = await this.ledgerRead(() => this.stores.sql<{ terminal_id: string; amount: string }[]>`
        select terminal_id, amount from ledger_transactions
        where business_id = ${business.id} and reference = ${reference} and kind = 'purchase' and terminal_id = any(${terminals.map((t) => t.id)})
        order by created_at desc limit 1`);
      return row === undefined ? undefined : { terminal_id: row.terminal_id, amount: Number(row.amount) };
    } catch {
      throw new PocketgateError('unavailable', 'the ledger cannot be read now; try again');
    }
  }

  /**
   * Whether the hot window holds `reference` of `terminal` for a transaction that is no purchase
   * (a refund, a reversal, a refusal). A claim with no record yet is one being made now: not held
   * (a refund's look for its bare id answered it 503 beside a sale of that id: a review).
   */
  async heldByOther(terminal: Terminal, reference: string): Promise<boolean> {
    const held = await this.hotClaim(terminal, reference, this.stores.clock.now());
    if (held === undefined) return false;
    if (held === 'refusal') return true;
    const record = parseRecord(held.raw);
    return record !== undefined && record.kind !== 'purchase';
  }

  /**
   * The refund `terminal` made under `reference` that the ledger holds (its id, as a replay), if
   * any: one read of the ledger, bounded as every POS read of it.
   */
  async recordedRefund(business: Business, terminal: Terminal, reference: string): Promise<Reply | undefined> {
    let rows: { id: string }[];
    try {
      rows = await this.ledgerRead(() => this.stores.sql<{ id: string }[]>`
        select id from ledger_transactions
        where business_id = ${business.id} and terminal_id = ${terminal.id} and reference = ${reference} and kind = 'refund'
        order by created_at limit 1`);
    } catch {
      throw new PocketgateError('unavailable', 'the ledger cannot be read now; try again');
    }
    return rows[0] === undefined ? undefined : { status: 201, body: JSON.stringify({ id: rows[0].id }), replayed: true };
  }

  /** The hot window's purchase of `terminal` under `reference`: undefined if the reference is not claimed there, null if claimed by no purchase. */
  private async hotPurchase(terminal: Terminal, reference: string, now_ms: number): Promise<{ readonly amount: number } | null | undefined> {
    const held = await this.hotClaim(terminal, reference, now_ms);
    if (held === undefined) return undefined;
    if (held === 'refusal') return null;
    if (held.raw === undefined) throw new PocketgateError('unavailable', `reference ${reference} is being booked now; try again`);
    const record = parseRecord(held.raw);
    return record?.kind === 'purchase' ? { amount: record.amount } : null;
  }

  /**
   * The hot window's claim of `reference` by `terminal`: undefined if none, 'refusal' for a
   * refused request's, else its record as stored (raw undefined: being written now).
   */
  private async hotClaim(terminal: Terminal, reference: string, now_ms: number): Promise<{ readonly raw: string | undefined } | 'refusal' | undefined> {
    const slot = referenceSlot(this.stores.config, terminal.id, reference, now_ms);
    const claimed = await findOriginal(this.stores, slot);
    if (claimed === undefined) return undefined;
    if (claimed.contact_id === '') return 'refusal';
    return { raw: await readRecord(this.stores, this.contacts.shardOf(claimed.contact_id), slot) };
  }

  /**
   * The original a terminal made under a reference: its contact from the hot window's claim (the
   * script reads its record), else from the ledger, which the script is then given.
   */
  private async locate(business: Business, terminal: Terminal, slot: ReferenceSlot, reference: string, now_ms: number): Promise<Located | undefined> {
    const claimed = await findOriginal(this.stores, slot);
    // Held by a request refused before it named a contact (a CIM no contact has, a refund's own
    // original not found): no transaction there. Taken for one, a refund or reversal of it ran on
    // no contact's shard and was refused contact_not_found (a black-box check, 2026-12-05).
    if (claimed !== undefined) return claimed.contact_id === '' ? undefined : { contact_id: claimed.contact_id, ledger: null, award_lots: null };
    let o: LedgerOriginal | undefined;
    try {
      o = await this.ledgerOriginal(business.id, terminal.id, reference);
    } catch {
      throw new PocketgateError('unavailable', 'the original is older than the hot window and the ledger cannot be read now; try again');
    }
    if (o === undefined) return undefined;
    const lots = o.awards.length === 0 ? [] : awardLots(o.awards, (await this.offers.forBusiness(business)).commerce_offers, o.settled);
    return { contact_id: o.contact_id, ledger: ledgerArg(o), award_lots: awardLotsArg(o.id, lots, now_ms) };
  }

  /**
   * The original from the ledger, for a terminal that waits: bounded as every POS read of it
   * (ledger-reads.ts), and one read for the refunds and reversals of one original asking at once
   * (each was a read of its own: past the bound of 64 in flight, 503). What the read says of
   * earlier refunds only starts the original's state in Redis, which the script reads.
   */
  private ledgerOriginal(business_id: string, terminal_id: string, reference: string): Promise<LedgerOriginal | undefined> {
    const key = `${business_id}\u0000${terminal_id}\u0000${reference}`;
    return sharedRead(this.original_reads, key, () => this.ledgerRead(() => ledgerOriginal(this.stores.sql, business_id, terminal_id, reference)));
  }

  /** This process's bounded read of the ledger (one bound per stores, shared with repeats). */
  private get ledgerRead(): LedgerRead {
    return posLedgerRead(this.stores);
  }

  /**
   * The refund's shard script call. The script reads the original's record and computes the
   * refund's shares from it atomically (hot/refund.lua), so concurrent refunds of one purchase
   * never work from a stale reading: the templates leave holes for the original's id, the amount
   * (what is left, when none is given) and the shares.
   */
  private refundCall(business: Business, terminal: Terminal, input: RefundInput, claimed: Claimed, original_slot: ReferenceSlot, original: Located, now_ms: number): RefundCall {
    const { slot } = claimed;
    const facts = this.facts(business, terminal, input.reference, claimed.hash, original.contact_id, now_ms);
    return { ...this.onOriginal(business, terminal, slot, original_slot, original, facts, refundTemplates(facts)), amount: input.amount ?? null, award_lots: original.award_lots };
  }

  async reverse(business: Business, terminal: Terminal, input: ReversalInput): Promise<Reply> {
    // Redis refusing writes, hung, or holding no network (emptied: RedisHealth's probeState) takes
    // no transaction: 503 before anything is read or written (OPERATIONS.md).
    await requireWritable(this.stores);
    const { config } = this.stores;
    const hash = requestHash(config.cim_hmac_key, 'reversal', input);
    const now_ms = this.stores.clock.now();
    const original_slot = referenceSlot(config, terminal.id, input.original_reference, now_ms);
    const slot = referenceSlot(config, terminal.id, input.reference, now_ms);
    if (input.original_reference === input.reference) return this.selfReversal(business, slot, hash);
    const original = (await this.locate(business, terminal, original_slot, input.original_reference, now_ms)) ?? (await this.reversalBeforeOriginal(business, terminal, input, { slot, hash }, original_slot, now_ms));
    await claimReference(this.stores, { business_id: business.id, slot, hash }, original.contact_id);
    const call = this.reversalCall(business, terminal, input, { slot, hash }, original_slot, original, now_ms);
    const rewards = await this.offers.forBusiness(business);
    // Whether the script needs the purchase's lots (it answered stale for want of them once).
    let lots_wanted = false;
    for (let reads = 1; ; reads++) {
      const needed = undoNeedsCounted(rewards);
      const purchase = await this.purchaseOf(call.shard, original_slot, original, needed || lots_wanted);
      // What it counted is only in the ledger now, which cannot be read: the reversal is approved
      // (the POS path needs only Redis), and what it counted given back once the ledger answers.
      const deferred = purchase !== undefined && purchase.counted === undefined && needed;
      const undo = purchase === undefined
        ? null
        : deferred
          ? deferredUndo({ business_id: business.id, contact_id: original.contact_id, purchase_id: purchase.id, timezone: terminal.timezone })
          : undoOf(purchase.id, purchase.counted, rewards, terminal.timezone);
      const outcome = await this.stores.redis.reversalScript({ ...call, undo, award_lots: original.award_lots ?? awardLotsRead(purchase, rewards, now_ms) });
      if (outcome.outcome === 'stale') {
        // Its original's record arrived between our read and the script, or the script needs the
        // purchase's lots (claw-back.lua ownLots): read it again (once suffices, records never
        // change; bounded all the same).
        if (reads >= reversal_reads_max) throw new PocketgateError('unavailable', `the original of reference ${input.original_reference} kept changing while it was read; try again`);
        lots_wanted = true;
        continue;
      }
      const reply = await shardReply(this.stores, call, Promise.resolve(outcome)).catch(async (err: unknown) => {
        if (outcome.outcome === 'refused' && outcome.code === 'original_not_found' && (await this.noTransaction(call.shard, original_slot, original))) missing_originals.add(err as object);
        throw err;
      });
      if (outcome.outcome === 'ok' && purchase?.counted !== undefined) {
        // Committed: a budget not given back stays used (never over-awarded); reported, the
        // reversal stands.
        await giveBackBudgets(this.stores, purchase.counted, rewards).catch((err: unknown) => this.report(err, { transaction_id: purchase.id, offers: purchase.counted?.awards.map((a) => a.offer_id) }, 'reversal committed: could not give back its purchase’s budgets'));
      }
      // The purchase was the referred contact's last: its referral undone now (reversal.lua
      // undoReferral kept the intent); failing, the sweeper undoes it. Reported, the reversal stands.
      if (outcome.outcome === 'ok' && outcome.referral_undo !== undefined) await this.undoReferral(business, outcome.referral_undo, now_ms);
      // A redemption's lots came back with their expiry: those past it expire now, as they would
      // have had it never happened (API.md), not at the next sweep; failing, the sweep does it.
      if (outcome.outcome === 'ok' && purchase === undefined) {
        await this.expiry.expireDue(call.shard, original.contact_id, now_ms).catch((err: unknown) => this.report(err, { contact_id: original.contact_id }, 'reversal committed: could not expire the lots it gave back'));
      }
      return reply;
    }
  }

  /** The reversal's original not here (yet): remembered, so that the original is refused if it comes late, and the reversal answered 404; or the original that arrived meanwhile. */
  private async reversalBeforeOriginal(business: Business, terminal: Terminal, input: ReversalInput, claimed: Claimed, original_slot: ReferenceSlot, now_ms: number): Promise<Located> {
    const { slot, hash } = claimed;
    // The reversal's own reference taken by another body is 409 and changes nothing (API.md):
    // checked before the mark below, which would refuse an original that may still come.
    if (await claimedByAnother(this.stores, slot, hash)) throw referenceConflict(input.reference);
    // Not here (yet): remember the reversal so that the original is refused if it comes late.
    const outcome = await claimForReversal(this.stores, original_slot, hash);
    // The original arrived between our two reads: reverse it for real.
    const original = outcome === 'arrived' ? await this.locate(business, terminal, original_slot, input.original_reference, now_ms) : undefined;
    if (original !== undefined) return original;
    // Remembered now or by another reversal before, or held by a request refused before it named
    // a contact (a card no contact has, ISO 8583's 14): no transaction to reverse either way, so
    // not found, remembered as such (already_reversed would say one was reversed). The refused
    // one was a bare 404, which ISO 8583 told an advice as 25, where an advice of any other
    // declined original is acknowledged 00 (an ISO probe, 2026-12-06).
    const repeat = await claimRefused(this.stores, { business_id: business.id, slot, hash });
    // The original's mark, which rebuild writes again from the reversal's refusal, only where
    // this reversal made it: a refused original's claim stays its own (its repeat replays it).
    await this.journalNotFound(business, slot, hash, repeat, outcome === 'remembered' ? input.original_reference : undefined);
    const detail = outcome === 'remembered' ? 'it will be refused if it arrives' : 'it was refused';
    throw missingOriginal('original_not_found', `no transaction with reference ${input.original_reference} at this terminal; ${detail}`, repeat);
  }

  private async undoReferral(business: Business, member: string, now_ms: number): Promise<void> {
    const decoded = decodeIntent(member);
    assert(decoded !== undefined && 'undo' in decoded, 'reversal.lua keeps an undo intent');
    const { undo } = decoded;
    await this.referral_undos.undo(business, undo, member, now_ms).catch((err: unknown) =>
      this.report(err, { referred_id: undo.referred_id, referrer_id: undo.referrer_id, purchase_id: undo.purchase_id }, 'reversal committed; the referrer’s award was not reversed now; the referral sweeper reverses it'));
  }

  /**
   * Whether the original a reversal's script refused (original_not_found, first or replayed) is
   * no transaction: its reference claimed, its record not one (on its way and marked, or itself
   * refused, a declined 0200). As missing as one never arrived (ISO 8583 acknowledges an advice of
   * it), not one of a kind no reversal voids (a refund: 25, an advice too). Records never become transactions.
   */
  private async noTransaction(shard: number, original_slot: ReferenceSlot, original: Located): Promise<boolean> {
    return original.ledger === null && parseRecord(await readRecord(this.stores, shard, original_slot)) === undefined;
  }

  /**
   * The original, when it is a purchase, with what it counted (undefined when that cannot be read
   * now, or is not `needed`: a business whose rewards count nothing reverses without it, and
   * without reading the ledger); undefined for another kind, or when its record is not there yet
   * (in flight: the script says stale if it finds it).
   */
  private async purchaseOf(shard: number, original_slot: ReferenceSlot, original: Located, needed: boolean): Promise<{ id: string; counted: CountedPurchase | undefined; read: boolean } | undefined> {
    let id: string;
    if (original.ledger !== null) {
      if (original.ledger.original.kind !== 'purchase') return undefined;
      id = original.ledger.original.id;
    } else {
      const record = await readRecord(this.stores, shard, original_slot);
      const [short_id, kind] = (record ?? '').split('|', 2);
      if (kind !== 'p') return undefined;
      id = `txn_${short_id}`;
    }
    return { id, counted: needed ? await readCountedPurchase(this.stores, shard, id, this.ledgerRead) : undefined, read: needed };
  }

  /**
   * The reversal's shard script call. The script reads the original's record and decides
   * everything from it atomically (hot/reversal.lua), so the templates leave holes for the
   * original's id, kind and amount: nothing read before the script can be stale when it runs.
   */
  private reversalCall(business: Business, terminal: Terminal, input: ReversalInput, claimed: Claimed, original_slot: ReferenceSlot, original: Located, now_ms: number): Omit<ReversalCall, 'undo' | 'award_lots'> {
    const { slot } = claimed;
    const facts = this.facts(business, terminal, input.reference, claimed.hash, original.contact_id, now_ms);
    return this.onOriginal(business, terminal, slot, original_slot, original, facts, reversalTemplates(facts));
  }

  /** What a refund's and a reversal's calls share: the shard call and the original it acts on. */
  private onOriginal<T>(business: Business, terminal: Terminal, slot: ReferenceSlot, original_slot: ReferenceSlot, original: Located, facts: TerminalFacts, templates: { reply: T; entry: T }) {
    const { contact_id } = original;
    return {
      business_id: business.id,
      slot,
      contact_id,
      shard: this.contacts.shardOf(contact_id),
      id: facts.id,
      now_ms: facts.now_ms,
      journal_length_max: this.stores.config.journal_length_max,
      reply: templates.reply,
      entry: templates.entry,
      accounts: transactionAccounts(business, terminal, contact_id),
      // The original's fee is given back from its amounts at its terminal's merchant's rate, which never changes.
      fee_bp: feeRate(terminal, terminal.settle_on),
      fee_on: terminal.merchant_id === null ? ('' as const) : terminal.settle_on,
      original_slot,
      original_field: original_slot.field,
      ledger: original.ledger,
    };
  }

  /**
   * A reversal naming its own reference: the transaction under it is another body's (409), or
   * none could still come (the reversal takes the reference itself), so not found (404, replayed
   * on repeat) and no mark, which would refuse the reversal at its own claim.
   */
  private async selfReversal(business: Business, slot: ReferenceSlot, hash: string): Promise<never> {
    if (await claimedByAnother(this.stores, slot, hash)) throw referenceConflict(slot.reference);
    const repeat = await claimRefused(this.stores, { business_id: business.id, slot, hash });
    await this.journalNotFound(business, slot, hash, repeat);
    throw missingOriginal('original_not_found', `no transaction with reference ${slot.reference} at this terminal to reverse (it is the reversal's own reference)`, repeat);
  }

  /** A refund's or reversal's original not found, journaled (a reversal's names the original it marks). */
  private journalNotFound(business: Business, slot: ReferenceSlot, hash: string, repeat: boolean, original_reference?: string): Promise<void> {
    return journalClaimRefusal(this.stores, { business_id: business.id, slot, request_hash: claimHash(hash), contact_id: '', original_reference, repeat }, 'original_not_found');
  }

  private facts(business: Business, terminal: Terminal, reference: string, hash: string, contact_id: string, now_ms: number): TerminalFacts {
    return { id: newId('txn'), business_id: business.id, terminal_id: terminal.id, made_by: terminal.made_by, terminal_code: terminal.reported_code, reference, request_hash: claimHash(hash), contact_id, currency: business.currency, now_ms };
  }
}

/**
 * A purchase's lots as read with what it counted; null when it was not read (the script answers
 * stale if it needs them), none when it could not be read (the ledger down: nothing written off).
 */
function awardLotsRead(purchase: { readonly id: string; readonly counted: CountedPurchase | undefined; readonly read: boolean } | undefined, rewards: Rewards, now_ms: number): AwardLots | null {
  if (purchase === undefined || !purchase.read) return null;
  return awardLotsArg(purchase.id, purchase.counted === undefined ? [] : awardLots(purchase.counted.awards, rewards.commerce_offers, purchase.counted.settled), now_ms);
}

/**
 * Reversals refused because their original is no transaction (not there at all: it is marked, and
 * refused if it comes; on its way; or itself refused, a declined 0200), as opposed to an original
 * that is there but is no purchase, spend or redemption (a refund, say): HTTP answers both 404 original_not_found; ISO 8583 acknowledges an advice of the
 * first (0430 00) and answers the second 25, never 00 for a void that did not happen.
 */
const missing_originals = new WeakSet<object>();

/** Whether `err` refused a reversal whose original is not there (see missing_originals). */
export function originalMissing(err: unknown): boolean {
  return typeof err === 'object' && err !== null && missing_originals.has(err);
}

function missingOriginal(code: 'original_not_found', detail: string, replayed: boolean): PocketgateError {
  const err = refused(code, detail, replayed);
  missing_originals.add(err);
  return err;
}

/** A refusal remembered under the request's reference: `replayed` for a repeat of the request. */
function refused(code: 'original_not_found', detail: string, replayed: boolean): PocketgateError {
  const err = new PocketgateError(code, detail);
  err.replayed = replayed;
  return err;
}

/** The request's reference, claimed: where, and by the request with this hash. */
interface Claimed {
  readonly slot: ReferenceSlot;
  readonly hash: string;
}
