// The redemption script (redeem.lua): its own keys and arguments.

import { accountsArg } from './accounts.ts';
import { stateKey } from './keys.ts';
import { arg, layout, type ValuesOf } from './layout.ts';
import { committedOf, shardScript, type ShardCall } from './shard-script.ts';

/** The holes redeem.lua fills: the amount it redeemed, the lots it took, the posting. */
export type RedeemHole = 'redeemed' | 'lots' | 'postings';

const redeem_layout = layout(
  { state: 1 },
  {
    /** null: everything eligible. */
    amount: arg.optInt(),
    /** The terminal's merchant code: pools named after it redeem here ('' at the business's own venues). */
    merchant_code: arg.str(),
    accounts: accountsArg('commerce', 'open'),
  },
);

export type RedeemCall = ShardCall<RedeemHole> & ValuesOf<typeof redeem_layout.args>;

export const redeem_script = shardScript({
  files: ['redeem.lua'],
  layout: redeem_layout,
  // The redemption's own state: the lots it took, which its reversal gives back.
  keys: (call: RedeemCall) => ({ state: stateKey(call.shard, call.id) }),
  committed: committedOf,
});
