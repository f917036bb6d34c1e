// The refund script (refund-shares.lua, refund.lua): its own keys and arguments.

import { accountsArg } from './accounts.ts';
import { expiredLotsKey, feeCarriesKey, owedLotsKey } from './keys.ts';
import { arg, layout, type ValuesOf } from './layout.ts';
import type { AwardLots, LedgerOriginalArg } from './original.ts';
import { reference_periods, type ReferenceSlot } from './references.ts';
import { committedOf, shardScript, type ShardCall } from './shard-script.ts';

/** The holes refund.lua fills: the original's id, the amount, the shares, the lots its claw-back took, the postings. */
export type RefundHole = 'original' | 'amount' | 'clawed' | 'expired' | 'returned' | 'lots' | 'owed' | 'instead' | 'postings';

const refund_layout = layout(
  { originals: reference_periods, expired_lots: 1, owed_lots: 1, fee_carries: 1 },
  {
    /** null: what is left of the original. */
    amount: arg.optInt(),
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
  },
);

export type RefundCall = ShardCall<RefundHole> & ValuesOf<typeof refund_layout.args> & { readonly original_slot: ReferenceSlot };

export const refund_script = shardScript({
  files: ['refund-shares.lua', 'claw-back.lua', 'refund.lua'],
  layout: refund_layout,
  keys: (call: RefundCall) => ({ originals: call.original_slot.record_keys(call.shard), expired_lots: expiredLotsKey(call.shard, call.contact_id), owed_lots: owedLotsKey(call.shard, call.contact_id), fee_carries: feeCarriesKey(call.shard) }),
  committed: committedOf,
});
