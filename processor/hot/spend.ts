// The spend script (spend.lua): its own keys and arguments.

import { accountsArg } from './accounts.ts';
import { feeCarriesKey, otpKey } from './keys.ts';
import { arg, layout, type ValuesOf } from './layout.ts';
import { committedOf, shardScript, type ShardCall } from './shard-script.ts';

/** The hole spend.lua fills in the journal entry (besides the wallet): the fee is the script's (lib.lua chargeFee). */
export type SpendHole = 'postings';

const spend_layout = layout(
  { otp: 1, fee_carries: 1 },
  {
    amount: arg.int(),
    method: arg.str<'otp' | 'wallet'>(),
    /** '' for a wallet code. */
    otp: arg.str(),
    /** The contribution fee's rate on this spend (settle_on spend), in basis points; 0 for none. */
    fee_bp: arg.int(),
    accounts: accountsArg('open', 'spends', 'fees', 'fee_income'),
  },
);

export type SpendCall = ShardCall<SpendHole> & ValuesOf<typeof spend_layout.args>;

export const spend_script = shardScript({
  files: ['spend.lua'],
  layout: spend_layout,
  keys: (call: SpendCall) => ({ otp: otpKey(call.shard, call.contact_id), fee_carries: feeCarriesKey(call.shard) }),
  committed: committedOf,
});
