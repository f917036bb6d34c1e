// The expiry script (expire.lua): its own keys and arguments.

import { accountsArg } from './accounts.ts';
import { expiredLotsKey, expiryKey } from './keys.ts';
import { arg, layout, type ValuesOf } from './layout.ts';
import { committedOf, shardScript, type ShardCall } from './shard-script.ts';

/** The holes expire.lua fills: the amount expired, its posting. */
export type ExpireHole = 'amount' | 'postings';

const expire_layout = layout(
  { expiry: 1, expired_lots: 1 },
  {
    /** The contact, as the shard's expiry index names it. */
    contact_id: arg.str(),
    accounts: accountsArg('commerce', 'rewards'),
    /** Lots expired per call at most, of a contact that keeps its lots in order (lib.lua indexLots). */
    lots_max: arg.int(),
    /** How long what expired of a lot is remembered (keys.ts expiredLotsKey): expired_lots_kept_ms. */
    expired_kept_ms: arg.int(),
  },
);

/**
 * Lots one expiry takes out at most: Redis runs one script at a time, so one call must not hold it
 * for all of a contact's thousands of lots; the sweeper calls again for the rest. Within what
 * Lua's unpack spreads (lib.lua LOTS_WRITE_BATCH).
 */
export const expire_lots_max = 1_000;

export type ExpireCall = ShardCall<ExpireHole> & ValuesOf<typeof expire_layout.args>;

export const expire_script = shardScript({
  files: ['expire.lua'],
  layout: expire_layout,
  keys: (call: ExpireCall) => ({ expiry: expiryKey(call.shard), expired_lots: expiredLotsKey(call.shard, call.contact_id) }),
  committed: committedOf,
  // No lot had expired (the index was ahead of the lots).
  may_be_empty: true,
});
