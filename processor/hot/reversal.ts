// The reversal script (reversal.lua): its own keys and arguments.

import type { PeriodKind } from '../../core/tier.ts';
import { accountsArg } from './accounts.ts';
import { capsKey, deferredUndosKey, expiredLotsKey, expiryKey, feeCarriesKey, owedLotsKey, purchaseTimesKey, referralsKey } from './keys.ts';
import { arg, layout, type ValuesOf } from './layout.ts';
import type { AwardLots, LedgerOriginalArg } from './original.ts';
import { reference_periods, type ReferenceSlot } from './references.ts';
import { textAt } from './define.ts';
import { committedOf, shardScript, type Committed, type ShardCall } from './shard-script.ts';

/** The holes reversal.lua fills: the original's id, kind and amount, what its claw-back took and had expired, the lots it took, the postings. */
export type ReversalHole = 'original' | 'kind' | 'amount' | 'clawed' | 'expired' | 'returned' | 'lots' | 'owed' | 'instead' | 'postings';

/**
 * What a purchase counted that its reversal gives back (reversal.lua undoPurchase), as Node read
 * it from the purchase's journal entry or ledger row: `original` names the purchase it was read
 * for (the script answers stale for any other).
 */
export interface PurchaseUndo {
  readonly original: string;
  /** The cap counters its awards counted in (awards.ts capFieldAt). */
  readonly caps: readonly string[];
  /** Its tier units, taken from each period kind's counter where that still holds its period. */
  readonly units: number;
  readonly periods: readonly { readonly kind: PeriodKind; readonly current: string; readonly next: string }[];
  /**
   * What it counted could not be read now (the ledger down): the deferral the script keeps, so
   * that it is given back once the ledger answers (processor/deferred-undos.ts); caps and units
   * are then empty.
   */
  readonly deferred?: string;
  /**
   * `original` is a referrer's award, reversed as its referral is undone (processor/referral-undo.ts):
   * only then does the script reverse an award. `caps` its cap counters; no units.
   */
  readonly award?: true;
}

/** Committed; `referral_undo`: the intent the reversal kept in the outbox, its purchase having been the contact's referring first (reversal.lua undoReferral). */
export interface ReversalCommitted extends Committed {
  readonly referral_undo: string | undefined;
}

const reversal_layout = layout(
  { originals: reference_periods, caps: 1, expiry: 1, times: 1, deferred: 1, expired_lots: 1, owed_lots: 1, fee_carries: 1, referrals: 1 },
  {
    accounts: accountsArg('commerce', 'open', 'rewards', 'spends', 'discounts', 'fees', 'fee_income'),
    /** The terminal's merchant's fee rate (basis points) and what it settles on ('' at the business's own venues): the original's fee is given back from its amounts (lib.lua feeBaseOf). */
    fee_bp: arg.int(),
    fee_on: arg.str<'award' | 'spend' | ''>(),
    /** The original's reference's record field (in its record hashes, the keys `originals`). */
    original_field: arg.bytes(),
    /** The original as the ledger has it; null in the hot window, where the script reads its record. */
    ledger: arg.json<LedgerOriginalArg>(),
    /** A purchase's lots: its claw-back takes them first and writes off what of them expired; null until the script answers stale for want of them. */
    award_lots: arg.json<AwardLots>(),
    /** A purchase's: what it counted; null when Node found no purchase (the script then answers stale if it finds one). */
    undo: arg.json<PurchaseUndo>(),
  },
);

export type ReversalCall = ShardCall<ReversalHole> & ValuesOf<typeof reversal_layout.args> & { readonly original_slot: ReferenceSlot };

export const reversal_script = shardScript({
  files: ['counted.lua', 'refund-shares.lua', 'claw-back.lua', 'reversal.lua'],
  layout: reversal_layout,
  keys: (call: ReversalCall) => ({
    originals: call.original_slot.record_keys(call.shard),
    caps: capsKey(call.shard, call.contact_id),
    expiry: expiryKey(call.shard),
    times: purchaseTimesKey(call.shard, call.contact_id),
    deferred: deferredUndosKey(call.shard),
    expired_lots: expiredLotsKey(call.shard, call.contact_id),
    owed_lots: owedLotsKey(call.shard, call.contact_id),
    fee_carries: feeCarriesKey(call.shard),
    referrals: referralsKey(call.shard),
  }),
  committed: (answer): ReversalCommitted => {
    const referral_undo = textAt(answer, 3);
    return { ...committedOf(answer), referral_undo: referral_undo === '' ? undefined : referral_undo };
  },
});
