// The tier-units script (tier-units.lua): a contact's units counters set from its purchases in the
// ledger, unless a purchase or reversal of the contact came since they were read.

import { answerOf, hotScript, unexpected } from './define.ts';
import { contactKey, deferredUndosKey } from './keys.ts';
import { arg, layout } from './layout.ts';

/** A contact's reversals whose purchase's units are still to be given back, at most (each a reversal while the ledger could not be read). */
export const pending_undos_max = 1_000;

const tier_units_layout = layout(
  { contact: 1, deferred: 1 },
  { purchases: arg.str(), reversals: arg.str(), pending: arg.list({ reversal: arg.str() }, pending_undos_max), units: arg.list({ field: arg.str(), value: arg.str() }, 3) },
);

export interface TierUnitsCall {
  readonly shard: number;
  readonly contact_id: string;
  /** The contact's purchase count (fp) as read before the ledger was: '' for none. */
  readonly purchases: string;
  /** Its count of purchases reversed (rv) read with `purchases`: '' for none. */
  readonly reversals: string;
  /** The contact's reversals with a deferred undo (deferred-undos.ts), counted as not reversed yet. */
  readonly pending: readonly { readonly reversal: string }[];
  /** 'um' | 'uq' | 'uy' and '<period key>|<units>|<previous units>', or '' to take the field off. */
  readonly units: readonly { readonly field: string; readonly value: string }[];
}

/** 'ok': set (or the contact is gone); 'stale': a purchase or reversal of the contact came since `purchases` was read, or a pending undo was given back. */
export const tier_units_script = hotScript({
  files: ['tier-units.lua'],
  layouts: [tier_units_layout],
  parseCommand(parser, call: TierUnitsCall) {
    tier_units_layout.pushKeys(parser, { contact: contactKey(call.shard, call.contact_id), deferred: deferredUndosKey(call.shard) });
    tier_units_layout.pushArgs(parser, call);
  },
  transformReply(raw): 'ok' | 'stale' {
    const answer = answerOf(raw);
    if (answer[0] === 'ok' || answer[0] === 'stale') return answer[0];
    throw unexpected(raw);
  },
});
