// Redis key layout. Every key a shard script touches carries the contact's shard hash tag
// `{s<n>}`, so each script touches one Redis Cluster slot; the CIM index and reference claims
// are read with single-key commands and need no tag; OTP keys carry their business's tag.
//
// Names are short on purpose: with millions of contacts, every byte of key name is paid for
// once per key in Redis memory.

/** Contact hash: business, balances and the profile fields offers read. */
export function contactKey(shard: number, contact_id: string): string {
  return `c:{s${shard}}:${contact_id}`;
}

/** CIM index bucket: a hash of token bits → contact id bytes (see cim-index.ts). */
export function cimBucketKey(bucket: number): string {
  return `i:${bucket}`;
}

// Reference claims and transaction records live in bucketed hashes: hot/references.ts.

/**
 * What refunds and reversals have done to a transaction so far (refunded, clawed back, returned,
 * reversed) and, for a redemption, the lots it took: kept while the hot window remembers it.
 */
export function stateKey(shard: number, transaction_id: string): string {
  return `v:{s${shard}}:${transaction_id}`;
}

/** The contact's commerce lots: '<expiry ms>|<pool>' → amount. */
export function lotsKey(shard: number, contact_id: string): string {
  return `l:{s${shard}}:${contact_id}`;
}

/**
 * The contact's lots in expiry order, kept once it holds many (lib.lua indexLots): a sorted set,
 * score the lot's expiry ms, member its lots field.
 */
export function lotOrderKey(shard: number, contact_id: string): string {
  return `lx:{s${shard}}:${contact_id}`;
}

/**
 * What expired of the contact's lots and no claw-back has written off yet: lot field → amount.
 * expire.lua writes it; refund.lua and reversal.lua take from it (claw-back.lua), so that a
 * refund or reversal does not take an award back a second time after its expiry took it. Kept
 * expired_lots_kept_ms after the contact's latest expiry.
 */
export function expiredLotsKey(shard: number, contact_id: string): string {
  return `xl:{s${shard}}:${contact_id}`;
}

/**
 * How long after a lot expired a refund or reversal of the purchase that awarded it still finds
 * what expired, and leaves it out of what it claws back: 90 days, a common retail returns
 * window (a decision, README). A refund later than that claws the award back as if it had not expired (into
 * commerce debt if the wallet lacks it): past it, what expired cannot be told from what was
 * redeemed, and a refunded purchase's award is never left in the wallet.
 */
export const expired_lots_kept_ms = 90 * 86_400_000;

/**
 * What claw-backs owe a redemption's reversal (claw-back.lua owedOf): what they took from open
 * because their sale's lots had been redeemed, '<claw-back id without txn_><lot field>' →
 * amount (before 2026-12-06: the lot field alone). A redemption's reversal (reversal.lua)
 * settles what was noted since it was made, leaving that much in open instead of moving it back
 * into the lot: given back whole, an award clawed back came back to life (a purchase reversed,
 * then its redemption: a black-box probe, 2026-12-05). Kept owed_lots_kept_ms after its latest
 * note; rebuild writes it again from the ledger (replay.ts).
 */
export function owedLotsKey(shard: number, contact_id: string): string {
  return `lo:{s${shard}}:${contact_id}`;
}

/** How long what claw-backs found gone of a contact's lots is kept (claw-back.lua OWED_LOTS_KEPT_MS, the same): as what expired is. */
export const owed_lots_kept_ms = expired_lots_kept_ms;

/** Lots a contact holds at most without their order kept (lib.lua LOTS_UNINDEXED_MAX, the same). */
export const lots_unordered_max = 64;

/**
 * The contact's purchases on its birthday of the last purchase_times_kept_ms, not reversed: a
 * sorted set of transaction ids by occurred_at (ms), for the birthday offers' "first purchase of
 * that day" (lib.lua applyAwards). Written by purchase.lua, a reversal takes its purchase out.
 */
export function purchaseTimesKey(shard: number, contact_id: string): string {
  return `h:{s${shard}}:${contact_id}`;
}

/**
 * How long a purchase stays in purchaseTimesKey (purchase.lua's times_kept_ms): a purchase may be
 * dated up to 35 days back (core/occurred.ts callback_window), and a local day lasts 25 hours at most.
 */
export const purchase_times_kept_ms = 37 * 86_400_000;

/** The contact's live OTPs: code → '<amount>|<expires ms>'. */
export function otpKey(shard: number, contact_id: string): string {
  return `p:{s${shard}}:${contact_id}`;
}

/**
 * OTP index: business + code → contact id (codes are unique among a business's live OTPs).
 * Tagged by business, as the count of wrong codes is: one script reads both (hot/otp.lua).
 */
export function otpIndexKey(business_id: string, code: string): string {
  return `o:{${business_id}}:${code}`;
}

/**
 * Wrong guesses of one kind (o OTP, c code, d ISO DE2) by one subject (terminal, source, or
 * both) in one clock window (core/guesses.ts). Tagged by business, as the OTP index is: one
 * script reads both (hot/otp.lua).
 */
export function guessKey(business_id: string, kind: string, scope: string, window: number, subject: string): string {
  return `g:{${business_id}}:${kind}:${scope}:${window}:${subject}`;
}

/** The guesses of a guessKey's counter being looked up now (hot/guess.lua), in its slot. */
export function guessPendingKey(business_id: string, kind: string, scope: string, window: number, subject: string): string {
  return `gp:{${business_id}}:${kind}:${scope}:${window}:${subject}`;
}

/** Wrong tries against one contact's live OTPs (hot/otp.lua), tagged by business with the index. */
export function otpTriesKey(business_id: string, contact_id: string): string {
  return `ot:{${business_id}}:${contact_id}`;
}

/** Transaction id → its journal entry's id, until the ledger has it (replays and read-backs). */
export function transactionKey(shard: number, transaction_id: string): string {
  return `x:{s${shard}}:${transaction_id}`;
}

/** The shard's journal stream, drained into PostgreSQL by the ledger writer. */
export function journalKey(shard: number): string {
  return `j:{s${shard}}`;
}

export const journal_group = 'ledger';

/** Journal entries PostgreSQL refused on their own, set aside for a person to look at. */
export function deadLetterKey(shard: number): string {
  return `dl:{s${shard}}`;
}

/** Pub/sub channel announcing that a business's offers changed. */
export const offers_channel = 'pg:offers';
/** Pub/sub channel announcing the hash of an API key revoked (a terminal's, rotated). */
export const keys_revoked_channel = 'pg:keys-revoked';

/** The contact's per-contact cap counters: '<offer id>|<period key>' → awards so far. */
export function capsKey(shard: number, contact_id: string): string {
  return `k:{s${shard}}:${contact_id}`;
}

/**
 * The shard's contribution fee carries: a merchant's fees account → what the floors of its fees
 * on this shard left, in 1/10000 of a minor unit (lib.lua chargeFee). One field per merchant.
 */
export function feeCarriesKey(shard: number): string {
  return `fc:{s${shard}}`;
}

/** The shard's contacts by the earliest expiry of their commerce lots (sorted set, score ms). */
export function expiryKey(shard: number): string {
  return `e:{s${shard}}`;
}

/**
 * The shard's referral outbox: a sorted set of referral intents (JSON, processor/referrals.ts) by
 * the time their purchase committed (ms). purchase.lua adds one atomically with a referred
 * contact's first purchase; it leaves once the referrer's award (on the referrer's shard) is made.
 */
export function referralsKey(shard: number): string {
  return `q:{s${shard}}`;
}

/**
 * The shard's deferred undos: reversal id → what a purchase reversed while the ledger could not be
 * read had counted is still to be given back (processor/deferred-undos.ts), as JSON naming it.
 */
export function deferredUndosKey(shard: number): string {
  return `ud:{s${shard}}`;
}

/** An offer's budget: the total it has awarded (one key per offer, reserved before the shard script). */
export function budgetKey(offer_id: string): string {
  return `b:{${offer_id}}`;
}

/** Beside an offer's budget: when its spell of busy answers began and last answered (budget.lua). */
export function budgetBusyKey(offer_id: string): string {
  return `bb:{${offer_id}}`;
}

/** Beside an offer's budget: what purchases hold reserved of it now, by the second reserved in (budget.lua). */
export function budgetPendingKey(offer_id: string): string {
  return `bp:{${offer_id}}`;
}

/**
 * The console's traffic counts of a business for one second (gateway/console-stats.ts), kept two
 * minutes: not data, so `rebuild` neither restores them nor counts them as data already there.
 */
export const console_stats_prefix = 'cs:';

export function consoleStatsKey(business_id: string, second: number): string {
  return `${console_stats_prefix}{${business_id}}:${second}`;
}

/**
 * A processor callback's event id, or the processor transaction an event acts on, claimed while
 * one request applies the event (processor/event-claims.ts), a lease of seconds: not data, so
 * `rebuild` neither restores them nor counts them as data already there. Tagged by business; both
 * ids are the processor's own, so its id is in the key too.
 */
export const event_claim_prefix = 'ce:';

export function eventClaimKey(business_id: string, processor_id: string, event_id: string): string {
  return `${event_claim_prefix}{${business_id}}:${processor_id}:e:${event_id}`;
}

export function transactionClaimKey(business_id: string, processor_id: string, transaction_id: string): string {
  return `${event_claim_prefix}{${business_id}}:${processor_id}:t:${transaction_id}`;
}

/**
 * An admin or platform call's reply kept under the client's Idempotency-Key (admin-replies.ts):
 * `scope` is the business's id, or `platform`; `key_hash` the key's SHA-256 (a client's key may be
 * 255 characters).
 */
export function adminReplyKey(scope: string, key_hash: string): string {
  return `ik:${scope}:${key_hash}`;
}

/**
 * A balance inquiry's reply kept under its key (inquiry-replies.ts): `field` is the digest of its
 * terminal and reference that a reference claim's field is (references.ts), so no STAN is readable.
 */
export function inquiryReplyKey(field: Buffer): string {
  return `iq:${field.toString('base64url')}`;
}
