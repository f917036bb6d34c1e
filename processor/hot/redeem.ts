// The redemption script (redeem.lua): its own keys and arguments.

import { accountsArg } from './accounts.ts';
import { owedLotsKey, stateKey } from './keys.ts';
import { arg, layout, type ValuesOf } from './layout.ts';
import { committedOf, shardScript, type ShardCall } from './shard-script.ts';

/** The holes redeem.lua fills: the amount it redeemed, the lots it took, from when its reversal settles notes (null: its own time), the posting. */
export type RedeemHole = 'redeemed' | 'lots' | 'since' | 'postings';

/**
 * Restricted pools one redemption may be given, at most: what a business's offers may name in all
 * (Offers refuses a pool past it), so every business's list fits.
 */
export const restricted_pools_max = 10_000;

const redeem_layout = layout(
  { state: 1, owed_lots: 1 },
  {
    /** null: everything eligible. */
    amount: arg.optInt(),
    /** The terminal's merchant code: pools named after it redeem here ('' at the business's own venues). */
    merchant_code: arg.str(),
    accounts: accountsArg('commerce', 'open'),
    /**
     * The business's pools named after one of its merchant codes (rewards-snapshot.ts): such a
     * pool redeems only at that merchant, any other pool anywhere.
     */
    restricted_pools: arg.list({ pool: arg.str() }, restricted_pools_max),
  },
);

export type RedeemCall = ShardCall<RedeemHole> & ValuesOf<typeof redeem_layout.args>;

export const redeem_script = shardScript({
  files: ['redeem.lua'],
  layout: redeem_layout,
  // The redemption's own state: the lots it took, which its reversal gives back; the contact's
  // claw-backs' notes, past which its reversal's `since` is raised.
  keys: (call: RedeemCall) => ({ state: stateKey(call.shard, call.id), owed_lots: owedLotsKey(call.shard, call.contact_id) }),
  committed: committedOf,
});
