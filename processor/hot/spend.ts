// The spend script (spend.lua): its own keys and arguments.

import { otpKey } from './keys.ts';
import { arg, layout, type ValuesOf } from './layout.ts';
import { committedOf, shardScript, type ShardCall } from './shard-script.ts';

const spend_layout = layout(
  { otp: 1 },
  {
    amount: arg.int(),
    method: arg.str<'otp' | 'wallet'>(),
    /** '' for a wallet code. */
    otp: arg.str(),
    /** The contribution fee on this spend, for its record (refunds and reversals give it back). */
    fee: arg.int(),
  },
);

/** A spend's journal entry is complete when Node writes it: its reply has only the wallet's holes. */
export type SpendCall = ShardCall<never> & ValuesOf<typeof spend_layout.args>;

export const spend_script = shardScript({
  files: ['spend.lua'],
  layout: spend_layout,
  keys: (call: SpendCall) => ({ otp: otpKey(call.shard, call.contact_id) }),
  committed: committedOf,
});
