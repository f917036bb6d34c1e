// The award script (award.lua): its own keys and arguments, and what it answers when it commits.

import { accountsArg } from './accounts.ts';
import { award_items, caps_kept } from './award-items.ts';
import { intsAt, textAt } from './define.ts';
import { capsKey, expiryKey } from './keys.ts';
import { layout, type ValuesOf } from './layout.ts';
import { shardScript, type Committed, type ShardCall } from './shard-script.ts';

/** The holes award.lua fills: the awards it accepted, their total, their postings. */
export type AwardHole = 'awards' | 'amount' | 'postings' | 'settled';

const award_layout = layout({ caps: 1, expiry: 1 }, { accounts: accountsArg('rewards', 'commerce', 'open'), awards: award_items, caps_kept });

export type AwardCall = ShardCall<AwardHole> & ValuesOf<typeof award_layout.args>;

export interface AwardCommitted extends Committed {
  /** Indexes of the awards the script accepted. */
  readonly accepted: readonly number[];
  /** What each accepted award was made for (less than its amount when cut to what the wallet may hold: lib.lua applyAwards). */
  readonly made: readonly number[];
}

export const award_script = shardScript({
  files: ['award.lua'],
  layout: award_layout,
  keys: (call: AwardCall) => ({ caps: capsKey(call.shard, call.contact_id), expiry: expiryKey(call.shard) }),
  committed: (answer): AwardCommitted => ({ outcome: 'ok', reply: textAt(answer, 1), journal_id: textAt(answer, 2), accepted: intsAt(answer, 3), made: intsAt(answer, 4) }),
  // Every award refused by its guard or cap.
  may_be_empty: true,
});
