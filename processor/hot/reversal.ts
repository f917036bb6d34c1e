// The reversal script (reversal.lua): its own keys and arguments.

import { accountsArg } from './accounts.ts';
import { arg, layout, type ValuesOf } from './layout.ts';
import type { LedgerOriginalArg } from './original.ts';
import { reference_periods, type ReferenceSlot } from './references.ts';
import { committedOf, shardScript, type ShardCall } from './shard-script.ts';

/** The holes reversal.lua fills: the original's id, kind and amount, the postings. */
export type ReversalHole = 'original' | 'kind' | 'amount' | 'postings';

const reversal_layout = layout(
  { originals: reference_periods },
  {
    accounts: accountsArg('commerce', 'open', 'rewards', 'spends', 'discounts', 'fees', 'fee_income'),
    /** The original's reference's record field (in its record hashes, the keys `originals`). */
    original_field: arg.bytes(),
    /** The original as the ledger has it; null in the hot window, where the script reads its record. */
    ledger: arg.json<LedgerOriginalArg>(),
  },
);

export type ReversalCall = ShardCall<ReversalHole> & ValuesOf<typeof reversal_layout.args> & { readonly original_slot: ReferenceSlot };

export const reversal_script = shardScript({
  files: ['reversal.lua'],
  layout: reversal_layout,
  keys: (call: ReversalCall) => ({ originals: call.original_slot.record_keys(call.shard) }),
  committed: committedOf,
});
