// A referral undone (API.md: a reversal voids a purchase "as if it never happened"): when a
// reversal leaves the referred contact with no purchase, the referrer's award of its first
// purchase is reversed on the referrer's shard, with reversal.lua as a terminal's reversal of a
// purchase: its lots clawed back (commerce, then open, then debt), its cap counts and budget given
// back. The reversal is the processor's own transaction, under the reference
// `referral-undo:<referred>:<purchase>` (referrals.ts), made once by its record.
//
// The award may not be made yet (the gateway or the sweeper is about to make it): the reversal's
// script then marks the award's reference, and the award script refuses it when it comes
// (lib.lua prologue, as an original reversed before it arrives); the award's intent is then done.

import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { awardLots } from './awards.ts';
import type { Contacts } from './contacts.ts';
import { awardLotsArg, type LedgerOriginalArg } from './hot/original.ts';
import { referralsKey, stateKey } from './hot/keys.ts';
import { parseRecord, referenceSlot, rewards_terminal, type ReferenceSlot } from './hot/references.ts';
import type { PurchaseUndo, ReversalCall } from './hot/reversal.ts';
import { transactionAccounts } from './journal.ts';
import { ledgerAward } from './ledger/originals.ts';
import { posLedgerRead } from './ledger-reads.ts';
import type { Business } from './network.ts';
import type { Offers } from './offers.ts';
import { giveBackBudgets, readCountedPurchase, undoOf, type CountedPurchase } from './purchase-undo.ts';
import { referralReference, referralUndoReference, type ReferralUndo } from './referrals.ts';
import { ledgerArg } from './refund.ts';
import { readRecord, shardReply } from './shard.ts';
import type { Stores } from './stores.ts';
import { awardReversalTemplates } from './templates.ts';

/** Reads of the award before its reversal's script runs on one that did not change meanwhile. */
const undo_reads_max = 3;

/** The award as found before the script: its id, and what the ledger has of it outside the hot window. */
interface FoundAward {
  readonly id: string;
  readonly ledger: LedgerOriginalArg | null;
  readonly counted: CountedPurchase;
  readonly reversed: boolean;
}

export class ReferralUndos {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly offers: Offers,
  ) {}

  /** Tests only: called at each step of an undo (a test kills the process there): 'kept' before anything, 'reversed' before the intent leaves the outbox. */
  onUndoStep: ((step: 'kept' | 'reversed') => void) | undefined;

  /**
   * Reverse the referrer's award of `undo` (kept as `member` in the referred contact's shard's
   * outbox), or mark its reference if it is not made yet, then take the intent out. A failure
   * leaves the intent for the sweeper (processor/referrals.ts); making it again replays.
   */
  async undo(business: Business, undo: ReferralUndo, member: string, now_ms: number): Promise<void> {
    this.onUndoStep?.('kept');
    const shard = this.contacts.shardOf(undo.referrer_id);
    const slot = (reference: string) => referenceSlot(this.stores.config, rewards_terminal, reference, now_ms);
    const slots = { award: slot(referralReference(undo.referred_id, undo.purchase_id)), legacy: slot(referralReference(undo.referred_id, undefined)) };
    const rewards = await this.offers.forBusiness(business);
    for (let reads = 1; ; reads++) {
      const target = await this.target(business, undo.referrer_id, shard, slots);
      const { award } = target;
      // Named '' when no award was found: the script then marks the reference, or answers stale
      // if the award committed since.
      const undo_arg: PurchaseUndo = award === undefined ? { original: '', caps: [], units: 0, periods: [], award: true } : { ...undoOf(award.id, award.counted, rewards, 'UTC'), units: 0, periods: [], award: true };
      const call = this.call(business, undo, shard, target.slot, award, now_ms);
      const outcome = await this.stores.redis.reversalScript({ ...call, undo: undo_arg, award_lots: award === undefined ? null : awardLotsArg(award.id, awardLots(award.counted.awards, rewards.commerce_offers, award.counted.settled), now_ms) });
      // The award committed between the read and the script: read it again.
      if (outcome.outcome === 'stale') {
        if (reads >= undo_reads_max) throw new PocketgateError('unavailable', `the referral award ${target.slot.reference} kept changing while it was read`);
        continue;
      }
      // Not made (marked: refused when it comes), or reversed already: nothing more to undo.
      const done = outcome.outcome === 'refused' && ((outcome.code === 'original_not_found' && award === undefined) || outcome.code === 'already_reversed');
      if (!done) await shardReply(this.stores, call, Promise.resolve(outcome));
      if (outcome.outcome === 'ok' && award !== undefined) await giveBackBudgets(this.stores, award.counted, rewards);
      break;
    }
    this.onUndoStep?.('reversed');
    await this.stores.redis.zRem(referralsKey(this.contacts.shardOf(undo.referred_id)), member);
  }

  /**
   * What to reverse: the award under its reference; else one made before 2026-12-05 under
   * `referral:<referred>` (a contact referred once then), unless reversed already (a referral
   * undone before); else none, under the award's reference, which the script marks.
   */
  private async target(business: Business, referrer_id: string, shard: number, slots: { readonly award: ReferenceSlot; readonly legacy: ReferenceSlot }): Promise<{ slot: ReferenceSlot; award: FoundAward | undefined }> {
    const award = await this.award(business, referrer_id, shard, slots.award);
    if (award !== undefined) return { slot: slots.award, award };
    const legacy = await this.award(business, referrer_id, shard, slots.legacy);
    if (legacy !== undefined && !legacy.reversed) return { slot: slots.legacy, award: legacy };
    return { slot: slots.award, award: undefined };
  }

  /**
   * The award under its reference: in the hot window by its record, else in the ledger (a bounded
   * read: the reversal's answer waits for it); undefined when it is in neither (not made yet, or
   * never: its caps or budget refused it).
   */
  private async award(business: Business, referrer_id: string, shard: number, slot: ReferenceSlot): Promise<FoundAward | undefined> {
    const read = posLedgerRead(this.stores);
    const record = parseRecord(await readRecord(this.stores, shard, slot));
    let id = record?.kind === 'award' ? record.id : undefined;
    let ledger: LedgerOriginalArg | null = null;
    if (record === undefined) {
      const o = await read(() => ledgerAward(this.stores.sql, business.id, referrer_id, slot.reference));
      if (o === undefined) return undefined;
      id = o.id;
      ledger = ledgerArg(o);
    }
    if (id === undefined) throw new Error(`referral award reference ${slot.reference} holds a ${record?.kind}`);
    const counted = await readCountedPurchase(this.stores, shard, id, read);
    if (counted === undefined) throw new PocketgateError('unavailable', `the referral award ${id} cannot be read now`);
    // Reversed in the hot window (its state) or, past it, in the ledger.
    const reversed = (await this.stores.redis.hGet(stateKey(shard, id), 'rv')) === '1' || ledger?.state.reversed === true;
    return { id, ledger, counted, reversed };
  }

  private call(business: Business, undo: ReferralUndo, shard: number, original_slot: ReferenceSlot, award: FoundAward | undefined, now_ms: number): Omit<ReversalCall, 'undo' | 'award_lots'> {
    const id = newId('txn');
    const reference = referralUndoReference(undo);
    const templates = awardReversalTemplates({ id, business_id: business.id, contact_id: undo.referrer_id, currency: business.currency, now_ms, reference });
    return {
      business_id: business.id,
      slot: referenceSlot(this.stores.config, rewards_terminal, reference, now_ms),
      contact_id: undo.referrer_id,
      shard,
      id,
      now_ms,
      journal_length_max: this.stores.config.journal_length_max,
      reply: templates.reply,
      entry: templates.entry,
      accounts: transactionAccounts(business, null, undo.referrer_id),
      // Awards are charged no fee (award.lua): none to give back.
      fee_bp: 0,
      fee_on: '',
      original_slot,
      original_field: original_slot.field,
      ledger: award?.ledger ?? null,
    };
  }
}
