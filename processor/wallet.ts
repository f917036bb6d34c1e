// Spending the open balance: by a one-time code (OTP) the contact's app requested for an amount,
// or by the contact's 16-digit wallet code. Also what every wallet command shares: the request
// hash and timestamps.

import { createHmac, randomInt } from 'node:crypto';
import { PocketgateError, type ErrorCode } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { SpendInput } from '../core/schemas.ts';
import { claimHash, claimReference, claimReferenceAgain, claimRefused, referenceConflict, referenceHolder, type Claimant } from './claim.ts';
import { journalClaimRefusal, rememberOnShard } from './refusals.ts';
import type { Contacts } from './contacts.ts';
import { hmacKey, type NormalisedCim } from '../core/cim.ts';
import { contactKey, otpIndexKey, otpKey, otpTriesKey } from './hot/keys.ts';
import { counted_rate_limits, guessCountersOf } from './hot/guess.ts';
import type { OtpMode } from './hot/otp.ts';
import { otp_tries_max, otp_tries_ttl_seconds, type GuessKind } from '../core/guesses.ts';
import { referenceSlot, type ReferenceSlot } from './hot/references.ts';
import type { Presenter } from './hot/guess.ts';
import type { SpendCall } from './hot/spend.ts';
import { transactionAccounts } from './journal.ts';
import type { Business, Terminal } from './network.ts';
import { replayOf, shardReply, type Reply } from './shard.ts';
import type { Stores } from './stores.ts';
import { rfc3339, spendTemplates } from './templates.ts';
import { requireWritable } from './redis-health.ts';

export { rfc3339 } from './templates.ts';

/**
 * Refusals a request can get before it claims its reference: a retry of an approved request must
 * not get one instead of its reply, and another body under a held reference is 409 (replayOr).
 */
const refusals_before_claim: ReadonlySet<string> = new Set(['otp_invalid', 'wallet_code_invalid', 'rate_limited', 'validation_failed', 'contact_not_found']);
/** How long after its expiry an OTP's index stays, to answer otp_expired rather than otp_invalid. */
const otp_index_grace_seconds = 3_600;
const otp_issue_attempts_max = 20;
/** Refusals of a code counted as no wrong guess (Spends.walletCode: one no wallet could have), so none is given back. */
const uncounted_refusals = new WeakSet<PocketgateError>();

/**
 * Hash of the parsed request: the same command in other whitespace or key order is the same.
 * Keyed, because the request may carry a card number: an unkeyed digest stored next to the reply
 * gives the PAN back to anyone who tries the ~10^5 numbers its masked first-6/last-4 leave open.
 */
export function requestHash(hmac_key: string, kind: string, input: unknown): string {
  return createHmac('sha256', hmacKey(hmac_key)).update(kind).update('\u0000').update(JSON.stringify(input)).digest('base64url').slice(0, 22);
}

/** A purchase or spend runs in its business's currency; anything else is bad input. */
export function checkCurrency(business: Business, currency: string): void {
  if (currency !== business.currency) {
    throw new PocketgateError('validation_failed', `currency: this business runs in ${business.currency}`, [{ path: 'currency', message: `must be ${business.currency}` }]);
  }
}

/** The merchant's contribution fee rate (basis points) on awards or on spends at its terminals: 0 but on its settle_on, and at the business's own venues. */
export function feeRate(terminal: Terminal, on: Terminal['settle_on']): number {
  return terminal.merchant_id !== null && terminal.settle_on === on ? terminal.fee_bp : 0;
}

export interface Payer {
  readonly contact_id: string;
  readonly method: 'otp' | 'wallet';
  readonly otp: string;
  /** When the wallet code's guess is settled (Contacts.identify): await it with the next round trip. */
  readonly guess_settled: Promise<void>;
}

const no_guess_to_settle: Promise<void> = Promise.resolve();

export class Spends {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
  ) {}

  /** Issue an OTP for `amount`, valid `ttl_seconds`: 6 digits, unique among the business's live OTPs. */
  async issueOtp(business: Business, contact_id: string, amount: number, ttl_seconds: number) {
    const { redis, clock } = this.stores;
    const shard = this.contacts.shardOf(contact_id);
    const owner = await redis.hGet(contactKey(shard, contact_id), 'b');
    if (owner !== business.id) throw new PocketgateError('not_found', `contact ${contact_id} not found`);
    const now_ms = clock.now();
    // To the second the reply shows, rounded up: it lives at least ttl_seconds, and not a moment
    // past the `expires_at` the customer is told (a black-box probe, 2026-12-05: shown rounded
    // down, an OTP spent 0.3 s after its `expires_at` was taken).
    const expires_ms = Math.ceil((now_ms + ttl_seconds * 1000) / 1000) * 1000;
    for (let attempt = 0; attempt < otp_issue_attempts_max; attempt++) {
      const otp = String(randomInt(0, 1_000_000)).padStart(6, '0');
      // NX: a code live for another contact of this business is never handed out twice.
      const ok = await redis.set(otpIndexKey(business.id, otp), contact_id, { NX: true, EX: ttl_seconds + otp_index_grace_seconds });
      if (ok === null) continue;
      const key = otpKey(shard, contact_id);
      // A new OTP starts with its tries (hot/otp.lua): the contact's live OTPs get otp_tries_max more.
      await Promise.all([redis.multi().hSet(key, otp, `${amount}|${expires_ms}`).expire(key, 900 + otp_index_grace_seconds).exec(), redis.del(otpTriesKey(business.id, contact_id))]);
      return { otp, amount, expires_at: rfc3339(expires_ms) };
    }
    throw new PocketgateError('unavailable', 'could not find a free one-time code; try again');
  }

  /**
   * Who pays, by OTP or wallet code, presented at `terminal` from `source`. `named`: the contact
   * the request names by its CIM (a purchase), whose own OTPs the code is then tried against;
   * '' when the code alone names the payer (a spend). Wrong codes are counted (hot/otp.lua,
   * Contacts.identify); past a limit: rate_limited.
   */
  async payer(business: Business, terminal: Terminal, source: string, pay: { otp?: string | undefined; wallet_code?: string | undefined }, now_ms: number, named = ''): Promise<Payer> {
    const presenter = { terminal_id: terminal.id, source };
    if (pay.wallet_code !== undefined) {
      const cim = this.walletCode(pay.wallet_code);
      const { contact_id, guess_settled } = await this.contacts.identify(business.id, cim, presenter, now_ms);
      if (contact_id === null) throw new PocketgateError('wallet_code_invalid', 'no wallet has this code');
      return { contact_id, method: 'wallet', otp: '', guess_settled };
    }
    const otp = pay.otp!;
    const found = await this.otpCheck(business, presenter, otp, named === '' ? 'alone' : 'for', named, now_ms);
    if (found.outcome === 'rate_limited') {
      const refusal = new PocketgateError('rate_limited', 'too many wrong one-time codes from this terminal or address; try again later');
      if (found.counted) counted_rate_limits.add(refusal);
      throw refusal;
    }
    if (found.outcome !== 'ok') throw new PocketgateError('otp_invalid', 'no such one-time code');
    return { contact_id: found.contact_id, method: 'otp', otp, guess_settled: no_guess_to_settle };
  }

  /**
   * The wallet code as the CIM index keys it. One no wallet could have (not 16 digits, or Luhn
   * fails: a digit mistyped) names no wallet, as an unknown one does: 422 wallet_code_invalid
   * (API.md, spends), not 400; refused before any lookup, so it is not counted as a guess (it
   * tells nothing about any wallet).
   */
  private walletCode(code: string): NormalisedCim {
    try {
      return this.contacts.normalise('wallet_code', code, 'wallet_code');
    } catch (err) {
      if (!(err instanceof PocketgateError) || err.code !== 'validation_failed') throw err;
      const refusal = new PocketgateError('wallet_code_invalid', 'no wallet has this code (a wallet code is 16 digits, Luhn-valid)');
      uncounted_refusals.add(refusal);
      throw refusal;
    }
  }

  /** otp.lua; when the contact's OTPs have run out of tries, they are deleted (they die). */
  private async otpCheck(business: Business, presenter: Presenter, code: string, mode: OtpMode, contact_id: string, now_ms: number) {
    const found = await this.stores.redis.otpScript({
      business_id: business.id,
      code,
      mode,
      contact_id,
      tries_max: otp_tries_max,
      tries_ttl_s: otp_tries_ttl_seconds,
      counters: guessCountersOf(business.id, 'otp', presenter, now_ms),
    });
    if (found.outcome === 'otp_invalid' && found.void) await this.stores.redis.del(otpKey(this.contacts.shardOf(contact_id), contact_id));
    return found;
  }

  /**
   * `err` refused a request before its shard script, which is where replays are found otherwise:
   * if the request is a retry of one that was approved, its reply instead. Since the approval its
   * wallet code may have been rotated, its OTP expired and issued again to another contact, the
   * terminal locked out of OTPs: a retry must still get what the first attempt got, not a
   * refusal of a spend that happened. And a request whose reference another request
   * holds is 409 (API.md: "Same reference with a different body"), as it would be had it got as far
   * as its claim: its body names no contact, or a wrong code, but it is still another body.
   */
  /** replayOr below; `guess`: the wrong guess this request counted, given back if its refusal is a repeat's. */
  async replayOr(err: unknown, claimant: Claimant, reference: string, unknown: Unknown = unknown_cim, guess?: CountedGuess): Promise<Reply> {
    return replayOr(this.stores, this.contacts, err, claimant, reference, unknown, guess);
  }

  /**
   * A spend presented at `terminal` from `source` (the client's or peer's address: hot/guess.ts).
   * `presented`: the contact a card or wallet code presented beside the code names (ISO 8583's DE2
   * beside an OTP in DE48), null when it names none: the code must then be that contact's (an OTP
   * spend charged the OTP's owner whatever card DE2 named, an unknown one included: a probe).
   */
  async spend(business: Business, terminal: Terminal, input: SpendInput, source: string, presented?: string | null): Promise<Reply> {
    // Redis refusing writes, hung, or holding no network (emptied: RedisHealth's probeState) takes
    // no transaction: 503 before anything is read or written (OPERATIONS.md).
    await requireWritable(this.stores);
    const { config, clock } = this.stores;
    const now_ms = clock.now();
    // What was presented is the request's too: another card under the reference is another body.
    const hash = requestHash(config.cim_hmac_key, 'spend', presented === undefined ? input : { ...input, presented: presented ?? '' });
    return oneCopyAtATime(`${terminal.id}|${hash}`, () => this.spendOnce(business, terminal, input, source, hash, now_ms, presented));
  }

  /**
   * Whether this very request holds its reference: a retransmission of a wallet-code spend whose
   * code has been rotated since, which only its reference still tells from a purchase by a card
   * (ISO 8583's DE2 carries either; a rebuild probe got 94 for an approved spend's retransmission).
   */
  async holdsReference(terminal: Terminal, input: SpendInput): Promise<boolean> {
    const { config, clock } = this.stores;
    const slot = referenceSlot(config, terminal.id, input.reference, clock.now());
    return (await referenceHolder(this.stores, slot, requestHash(config.cim_hmac_key, 'spend', input)))?.by === 'this';
  }

  private async spendOnce(business: Business, terminal: Terminal, input: SpendInput, source: string, hash: string, now_ms: number, presented: string | null | undefined): Promise<Reply> {
    const slot = referenceSlot(this.stores.config, terminal.id, input.reference, now_ms);
    let payer: Payer;
    try {
      // Inside: another currency under a held reference is another body, 409 (API.md).
      checkCurrency(business, input.currency);
      payer = await this.payer(business, terminal, source, input, now_ms);
      if (presented === null) throw new PocketgateError('contact_not_found', 'the card presented is no contact’s');
      if (presented !== undefined && presented !== payer.contact_id) throw new PocketgateError(payer.method === 'otp' ? 'otp_invalid' : 'wallet_code_invalid', 'the code is not the presented card’s contact’s');
    } catch (err) {
      const guess = spendGuess(business, { terminal_id: terminal.id, source }, input, err, now_ms);
      return this.replayOr(err, { business_id: business.id, slot, hash }, input.reference, unknownCodeOf(input), guess);
    }
    const contact_id = payer.contact_id;
    const [claimed] = await Promise.all([claimReference(this.stores, { business_id: business.id, slot, hash }, contact_id), payer.guess_settled]);
    // This same request came first when its code named no wallet: refused so again (rememberNoContact).
    if (claimed === '') throw unknownCodeOf(input).replayed();
    if (claimed !== contact_id) {
      // This very request came first when its code named another contact (the OTP expired and
      // was issued again since): that contact's reply, never a spend from the wallet it names now.
      const err = new PocketgateError(payer.method === 'otp' ? 'otp_invalid' : 'wallet_code_invalid', 'this code no longer names the wallet it named for this reference');
      return this.replayOr(err, { business_id: business.id, slot, hash }, input.reference);
    }
    // A code the script refuses (used up meanwhile, more than its amount) is no guess: it named
    // the contact, and counting it left 50 spends raced on one right OTP locking their terminal
    // out of OTPs for the day (a black-box probe, 2026-12-06).
    const call = this.spendCall(business, terminal, input, payer, slot, hash, now_ms);
    return shardReply(this.stores, call, this.stores.redis.spendScript(call));
  }

  /** The shard script call of a spend by `payer`, its reference claimed. */
  spendCall(business: Business, terminal: Terminal, input: SpendInput, payer: Payer, slot: ReferenceSlot, hash: string, now_ms: number): SpendCall {
    const contact_id = payer.contact_id;
    const id = newId('txn');
    const request_hash = claimHash(hash);
    const { reply, entry } = spendTemplates({ id, business_id: business.id, terminal_id: terminal.id, made_by: terminal.made_by, reference: input.reference, request_hash, contact_id, currency: business.currency, now_ms, amount: input.amount });
    return {
      business_id: business.id,
      slot,
      contact_id,
      shard: this.contacts.shardOf(contact_id),
      id,
      now_ms,
      journal_length_max: this.stores.config.journal_length_max,
      reply,
      entry,
      amount: input.amount,
      method: payer.method,
      otp: payer.otp,
      fee_bp: feeRate(terminal, 'spend'),
      accounts: transactionAccounts(business, terminal, contact_id),
    };
  }
}

/**
 * The reply this same request was given before (its reference held by its hash, its record
 * there; a refusal on its merits thrown, replayed), or undefined: read before anything is counted
 * against what it presents. Another body holding the reference: 409, its code never tried.
 */
export async function earlierReply(stores: Stores, contacts: Pick<Contacts, 'shardOf'>, slot: ReferenceSlot, hash: string): Promise<Reply | undefined> {
  const holder = await referenceHolder(stores, slot, hash);
  if (holder?.by === 'another') throw referenceConflict(slot.reference);
  return holderReply(stores, contacts, slot, holder, unknown_cim);
}

/** A purchase's payment refusals on their merits: a wrong OTP or wallet code, or another contact's. */
const payment_refusals: ReadonlySet<string> = new Set(['otp_invalid', 'wallet_code_invalid']);

/**
 * A purchase refused for its payment (`pay`) after its CIM named `contact_id`. A wrong or another
 * contact's OTP or wallet code is a refusal on its merits: remembered under the reference as a
 * shard script's is (the claim bound to the contact, '-<code>' in its record, journaled:
 * refusals.ts rememberOnShard), so that its repeat is refused the same, replayed, without its code
 * tried again (earlierReply), and another body under the reference is 409 (API.md). Until
 * 2026-12-06 it was decided again: another body under its reference was processed, and three
 * repeats of one wrong OTP voided the customer's OTPs (an idempotency probe). Other refusals
 * (bad input, a limit) are decided again (replayOr).
 */
export async function rememberPaymentRefusal(stores: Stores, contacts: Pick<Contacts, 'shardOf'>, err: unknown, claimant: Claimant, contact_id: string): Promise<Reply> {
  if (!(err instanceof PocketgateError) || !payment_refusals.has(err.code)) return replayOr(stores, contacts, err, claimant, claimant.slot.reference, unknown_none);
  const claimed = await claimReferenceAgain(stores, claimant, contact_id);
  if (claimed.contact_id === '') throw claimedNoContact();
  const shard = contacts.shardOf(claimed.contact_id);
  // A copy: its first's reply, or refusal (thrown, replayed).
  const earlier = claimed.repeat ? await replayOf(stores, shard, claimant.slot) : undefined;
  if (earlier !== undefined) return earlier;
  // A first arrival, or a copy whose first has written no record yet (on its way, or killed
  // between its claim and its record): remembered now where no record is, journaled again by a
  // copy (the ledger keeps one row a request). A record there (a copy approved meanwhile) answers.
  const request = { business_id: claimant.business_id, slot: claimant.slot, request_hash: claimHash(claimant.hash), contact_id: claimed.contact_id, repeat: claimed.repeat };
  if (!(await rememberOnShard(stores, shard, request, err.code))) {
    const reply = await replayOf(stores, shard, claimant.slot);
    if (reply !== undefined) return reply;
  }
  // Answered as its record answers its repeats (the code alone, as a script's refusal is).
  const refusal = new PocketgateError(err.code);
  refusal.replayed = claimed.repeat;
  throw refusal;
}

/**
 * The refusals a command remembers under its reference bound to no contact (rememberNoContact):
 * those for what names no contact or wallet, which its repeat is given again, replayed, even once
 * something has that CIM or code (`replayed`).
 */
export interface Unknown {
  readonly codes: ReadonlySet<ErrorCode>;
  readonly replayed: () => PocketgateError;
}
/** A purchase's or redemption's: a CIM no contact has. */
export const unknown_cim: Unknown = { codes: new Set(['contact_not_found']), replayed: claimedNoContact };
/**
 * A processor's sale's: none (EVENTS.md), its transaction's later events (a clearing of another
 * amount) name the same reference with another body. A purchase's payment code, refused after its
 * CIM named a contact, is remembered bound to that contact instead (rememberPaymentRefusal).
 */
export const unknown_none: Unknown = { codes: new Set(), replayed: claimedNoContact };
/** A spend's: an OTP or wallet code that names no wallet (its body has one or the other, so its repeat's refusal follows from it). */
function unknownCodeOf(input: { readonly otp?: string | undefined }): Unknown {
  return input.otp !== undefined ? unknown_otp : unknown_wallet_code;
}
const unknown_otp: Unknown = { codes: new Set(['otp_invalid']), replayed: () => replayedError('otp_invalid', 'no such one-time code') };
const unknown_wallet_code: Unknown = { codes: new Set(['wallet_code_invalid']), replayed: () => replayedError('wallet_code_invalid', 'no wallet has this code') };

function replayedError(code: ErrorCode, detail: string): PocketgateError {
  const err = new PocketgateError(code, detail);
  err.replayed = true;
  return err;
}

/** A wrong code a request counted (otp.lua, Contacts.identify), to give back where the request is a repeat. */
export interface CountedGuess {
  readonly business_id: string;
  readonly kind: GuessKind;
  readonly presenter: Presenter;
  readonly now_ms: number;
}

/**
 * The guess a spend refused with `err` counted: a wrong OTP or wallet code, answered as such or,
 * past the soft limit, 429; none for a code no wallet could have, or a limit that counted nothing.
 */
function spendGuess(business: Business, presenter: Presenter, input: { readonly otp?: string | undefined }, err: unknown, now_ms: number): CountedGuess | undefined {
  if (!(err instanceof PocketgateError) || uncounted_refusals.has(err)) return undefined;
  if (err.code === 'rate_limited' && !counted_rate_limits.has(err)) return undefined;
  if (err.code !== 'otp_invalid' && err.code !== 'wallet_code_invalid' && err.code !== 'rate_limited') return undefined;
  return { business_id: business.id, kind: input.otp !== undefined ? 'otp' : 'code', presenter, now_ms };
}

/**
 * The guess a purchase or redemption refused with `err` counted: a wallet or contact code, as its
 * CIM, presented at a terminal (Contacts.identify) and naming no one (answered 404, or 429 past
 * the soft limit); none for a limit that counted nothing, or a processor's callback (`presenter` null).
 */
export function cimGuess(business_id: string, cim: NormalisedCim, presenter: Presenter | null, err: unknown, now_ms: number): CountedGuess | undefined {
  if (presenter === null || (cim.type !== 'wallet_code' && cim.type !== 'contact_code')) return undefined;
  if (!(err instanceof PocketgateError)) return undefined;
  if (err.code !== 'contact_not_found' && !(err.code === 'rate_limited' && counted_rate_limits.has(err))) return undefined;
  return { business_id, kind: 'code', presenter, now_ms };
}

/** As Contacts' give-back: should it fail, the guess stays counted and the reply still goes out. */
async function giveBackGuess(stores: Pick<Stores, 'redis'>, guess: CountedGuess): Promise<void> {
  await stores.redis.guessScript({ mode: 'give_back', counters: guessCountersOf(guess.business_id, guess.kind, guess.presenter, guess.now_ms) }).catch(() => undefined);
}

/**
 * Spends.replayOr, for any command that identifies its contact before it claims its reference.
 * A refusal for what names no contact or wallet (`unknown`) is remembered under the reference, as
 * a script's refusal on the merits is (rememberNoContact); the others refused before their script
 * (bad input, a limit, a store down) are decided again, code and all.
 */
export async function replayOr(stores: Stores, contacts: Pick<Contacts, 'shardOf'>, err: unknown, claimant: Claimant, reference: string, unknown: Unknown = unknown_cim, guess?: CountedGuess): Promise<Reply> {
  // A repeat, of an approval or of a refusal, is answered as it was and changes nothing: the wrong
  // guess its code counted again (gone since: an OTP used up or expired, a wallet code rotated,
  // Redis rebuilt without its OTPs; or named no one the first time too) is given back. Counted,
  // twenty retries of one spend refused for its code locked the terminal out of OTP spends for the
  // day (a black-box probe), and a terminal retrying approved spends after a rebuild locked real
  // customers out (a black-box audit, 2026-12-03). Node sent the count first, on the same
  // connection: Redis runs them in that order.
  let reply: Reply;
  try {
    reply = await replayOrRefuse(stores, contacts, err, claimant, reference, unknown);
  } catch (refusal) {
    if (guess !== undefined && refusal instanceof PocketgateError && refusal.replayed) await giveBackGuess(stores, guess);
    throw refusal;
  }
  if (guess !== undefined) await giveBackGuess(stores, guess);
  return reply;
}

async function replayOrRefuse(stores: Stores, contacts: Pick<Contacts, 'shardOf'>, err: unknown, claimant: Claimant, reference: string, unknown: Unknown): Promise<Reply> {
  if (!(err instanceof PocketgateError) || !refusals_before_claim.has(err.code)) throw err;
  const holder = await referenceHolder(stores, claimant.slot, claimant.hash);
  if (holder?.by === 'another') throw referenceConflict(reference);
  const unclaimed = holder === undefined || (holder.by === 'this' && holder.contact_id === '');
  if (unknown.codes.has(err.code) && unclaimed) throw await rememberNoContact(stores, claimant, err);
  const reply = await holderReply(stores, contacts, claimant.slot, holder, unknown);
  if (reply !== undefined) return reply;
  throw err;
}

/** A copy of a request in flight in this process (oneCopyAtATime). */
interface Copy {
  /** The copy after it, waiting for it to be answered: none but where copies came at once. */
  next?: () => void;
  /** Its answer, when it was a 429 for a wrong code counted all the same: its copies get it too. */
  counted_429?: PocketgateError;
}

/**
 * Copies in flight in this process, by terminal and request hash: the last of each (oneCopyAtATime).
 * Bounded by the requests in flight; an entry goes with its last copy.
 */
const copies_in_flight = new Map<string, Copy>();

/**
 * Copies of one request (a spend, a purchase paying from the wallet) run one after another in this
 * process. Sent at once, every copy tried its code at once: 100 copies of a wrong-OTP spend counted
 * up to 20 wrong guesses, the terminal's limit for the day, and three of a purchase paying with a
 * wrong OTP voided the customer's codes (a black-box probe and the review, 2026-12-06). A later
 * copy runs once the one before it is answered, as a repeat: a purchase's is answered from the
 * reference before its code is tried (earlierReply), a spend's gives back the guess its code
 * counted (replayOr); after a 429 for a wrong code counted all the same (never remembered: a
 * limit is decided again), the same 429, its code not tried. Copies in several gateway processes
 * still each try theirs. With no copy in flight it allocates no promise (a spend pays for it).
 */
export async function oneCopyAtATime<T>(key: string, run: () => Promise<T>): Promise<T> {
  const before = copies_in_flight.get(key);
  const mine: Copy = {};
  copies_in_flight.set(key, mine);
  try {
    if (before !== undefined) {
      await new Promise<void>((resolve) => (before.next = resolve));
      if (before.counted_429 !== undefined) throw (mine.counted_429 = new PocketgateError('rate_limited', before.counted_429.message));
    }
    return await run();
  } catch (err) {
    if (err instanceof PocketgateError && counted_rate_limits.has(err)) mine.counted_429 = err;
    throw err;
  } finally {
    if (copies_in_flight.get(key) === mine) copies_in_flight.delete(key);
    mine.next?.();
  }
}

/**
 * A request refused for a CIM no contact has (14 in ISO 8583), remembered under its reference
 * and journaled as a refusal at its claim is (claim.ts claimRefused, refusals.ts): its repeat is
 * answered the same and as replayed, even once a contact has the CIM (claimedNoContact), and
 * another body under the reference is 409 (ISO 8583: 94), as API.md and ISO8583.md want of every
 * repeat. Decided again before 2026-12-05: the repeat of a purchase refused 14 was approved once
 * the card was enrolled, and another body under its reference was processed (two black-box
 * probes). `err` is returned marked replayed for a repeat.
 */
async function rememberNoContact(stores: Stores, claimant: Claimant, err: PocketgateError): Promise<PocketgateError> {
  const repeat = await claimRefused(stores, claimant);
  await journalClaimRefusal(stores, { business_id: claimant.business_id, slot: claimant.slot, request_hash: claimHash(claimant.hash), contact_id: '', repeat }, err.code);
  err.replayed = repeat;
  return err;
}

/**
 * The refusal of a request whose reference it claimed before naming a contact (rememberNoContact),
 * found when its repeat does name one (a contact has its CIM since): contact_not_found, replayed.
 */
export function claimedNoContact(): PocketgateError {
  const err = new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
  err.replayed = true;
  return err;
}

/**
 * An approved request's reply, or the refusal its script gave it (thrown, replayed), where this
 * same request holds the reference bound to a contact; its refusal for naming none (thrown,
 * replayed: rememberNoContact) where it holds it bound to none; else undefined.
 */
async function holderReply(stores: Stores, contacts: Pick<Contacts, 'shardOf'>, slot: ReferenceSlot, holder: Awaited<ReturnType<typeof referenceHolder>>, unknown: Unknown): Promise<Reply | undefined> {
  if (holder?.by !== 'this') return undefined;
  if (holder.contact_id === '') throw unknown.replayed();
  return replayOf(stores, contacts.shardOf(holder.contact_id), slot);
}
