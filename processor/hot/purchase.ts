// The purchase script (purchase.lua): its own keys and arguments, and what it answers when it
// commits.

import type { PeriodKind } from '../../core/tier.ts';
import { accountsArg } from './accounts.ts';
import { award_items, caps_kept } from './award-items.ts';
import { intsAt, textAt } from './define.ts';
import { capsKey, expiryKey, feeCarriesKey, otpKey, purchaseTimesKey, referralsKey } from './keys.ts';
import { arg, layout, type ValuesOf } from './layout.ts';
import { shardScript, type Committed, type ShardCall } from './shard-script.ts';

/** The holes purchase.lua fills in the reply and journal entry (besides the wallet). */
export type PurchaseHole = 'awards' | 'discount' | 'due' | 'postings' | 'settled';

const purchase_layout = layout(
  { otp: 1, caps: 1, expiry: 1, referrals: 1, times: 1, fee_carries: 1 },
  {
    /** Paid from the open balance (0: none), by 'otp' or 'wallet' ('' without), with this OTP ('' without). */
    pay: arg.int(),
    pay_method: arg.str<'otp' | 'wallet' | ''>(),
    otp: arg.str(),
    amount: arg.int(),
    /** The purchase's time (occurred_at): a birthday purchase is kept by it (KEY.times). */
    at_ms: arg.int(),
    /**
     * The birth dates ('MM-DD', '|' between two; core/offer.ts birthDaysOn) whose birthday the
     * purchase's local day is: a purchase on the contact's birthday is kept by its time (KEY.times).
     */
    birth_days: arg.str(),
    /** The contribution fee in basis points: of the awards (settle_on award), or of the payment (settle_on spend); 0 for the other. */
    fee_bp: arg.int(),
    pay_fee_bp: arg.int(),
    accounts: accountsArg('open', 'commerce', 'rewards', 'discounts', 'spends', 'fees', 'fee_income'),
    /** Tier value units, added to the current period of each kind the business's tiers use. */
    tier_units: arg.int(),
    periods: arg.list({ kind: arg.str<PeriodKind>(), current: arg.str(), previous: arg.str(), next: arg.str() }, 3),
    /**
     * The referral intent to keep in the shard's outbox if this is the contact's first purchase
     * ('' for none): the referrer's award, made after (another shard), is then never lost.
     */
    referral: arg.str(),
    awards: award_items,
    caps_kept,
  },
);

export type PurchaseCall = ShardCall<PurchaseHole> & ValuesOf<typeof purchase_layout.args>;

export interface PurchaseCommitted extends Committed {
  readonly first_purchase: boolean;
  /** Indexes of the awards the script accepted (the others' guard or cap refused them). */
  readonly accepted: readonly number[];
  /** What each accepted award was made for (an instant discount may be less than its amount: lib.lua applyAwards). */
  readonly made: readonly number[];
}

export const purchase_script = shardScript({
  files: ['purchase.lua'],
  layout: purchase_layout,
  keys: (call: PurchaseCall) => ({ otp: otpKey(call.shard, call.contact_id), caps: capsKey(call.shard, call.contact_id), expiry: expiryKey(call.shard), referrals: referralsKey(call.shard), times: purchaseTimesKey(call.shard, call.contact_id), fee_carries: feeCarriesKey(call.shard) }),
  committed: (answer): PurchaseCommitted => ({
    outcome: 'ok',
    reply: textAt(answer, 1),
    journal_id: textAt(answer, 2),
    first_purchase: answer[3] === 1,
    accepted: intsAt(answer, 4),
    made: intsAt(answer, 5),
  }),
});
