// The birth-date script (birth-date.lua): a contact's birth date and its purchases on that
// birthday, set together, unless a purchase of the contact came since they were read.

import { answerOf, hotScript, unexpected } from './define.ts';
import { contactKey, purchaseTimesKey } from './keys.ts';
import { arg, layout } from './layout.ts';

/** Purchases on one birthday kept at most: a day's purchases at a till, with room to spare. */
export const birthday_purchases_max = 1_000;

const birth_date_layout = layout(
  { contact: 1, times: 1 },
  { birth_date: arg.str(), purchases: arg.str(), reversals: arg.str(), times_kept_ms: arg.int(), times: arg.list({ id: arg.str(), at_ms: arg.int() }, birthday_purchases_max) },
);

export interface BirthDateCall {
  readonly shard: number;
  readonly contact_id: string;
  /** YYYY-MM-DD, or null for none. */
  readonly birth_date: string | null;
  /** The contact's purchase count (fp) as read before `times`: '' for none. */
  readonly purchases: string;
  /** Its count of purchases reversed (rv, only ever counted up) read with `purchases`: '' for none. */
  readonly reversals: string;
  /** Its purchases on the birthday, not reversed: transaction id and occurred_at (ms). */
  readonly times: readonly { readonly id: string; readonly at_ms: number }[];
  /**
   * How long the purchases' set is kept from now (purchase.lua keeps it purchase_times_kept_ms
   * after the latest): relative, as the scripts' PEXPIRE, on the gateway's clock.
   */
  readonly times_kept_ms: number;
}

/** 'ok': set; 'stale': a purchase or reversal of the contact came since `purchases` was read. */
export const birth_date_script = hotScript({
  files: ['birth-date.lua'],
  layouts: [birth_date_layout],
  parseCommand(parser, call: BirthDateCall) {
    birth_date_layout.pushKeys(parser, { contact: contactKey(call.shard, call.contact_id), times: purchaseTimesKey(call.shard, call.contact_id) });
    birth_date_layout.pushArgs(parser, { ...call, birth_date: call.birth_date ?? '' });
  },
  transformReply(raw): 'ok' | 'stale' {
    const answer = answerOf(raw);
    if (answer[0] === 'ok' || answer[0] === 'stale') return answer[0];
    throw unexpected(raw);
  },
});
