// A purchase: resolve the CIM, evaluate offers in process, then one shard script that does
// idempotency, awards, the wallet payment (`pay`), journal and stored reply atomically. Nothing
// here waits for PostgreSQL.

import type { NormalisedCim } from '../core/cim.ts';
import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { occurredAtMs, type OccurredWindow } from '../core/occurred.ts';
import { nextLocalDay, readLocalTime, startOfLocalDay, type LocalTime } from '../core/local-time.ts';
import { effectiveTier, periodKeys, purchaseTierKeys, type PeriodKind } from '../core/tier.ts';
import { birthDaysOn, discountOf, evaluatePurchase, fitWallet, isBirthday, type Award, type Evaluation, type PurchaseContext, type ReferrerContext, type Resolution } from '../core/offer.ts';
import { wallet_balance_max } from '../core/money.ts';
import type { PurchaseInput, PurchaseQuoteInput } from '../core/schemas.ts';
import { claimHash, claimReferenceAgain, type Claimant } from './claim.ts';
import type { Contacts, Identified } from './contacts.ts';
import { contactKey, purchaseTimesKey } from './hot/keys.ts';
import type { PurchaseCall, PurchaseCommitted } from './hot/purchase.ts';
import { referenceSlot, type ReferenceSlot } from './hot/references.ts';
import { requireWritable, requireWritableNow } from './redis-health.ts';
import { awardItems, capsKeptAt, type Awards } from './awards.ts';
import type { Expiry } from './expiry.ts';
import { encodeIntent, type ReferralIntent } from './referrals.ts';
import { transactionAccounts } from './journal.ts';
import type { Business, Terminal } from './network.ts';
import type { Offers, Rewards } from './offers.ts';
import { answered, mayGiveBack, readRecord, shardReply, type Reply, type ShardReply } from './shard.ts';
import type { Stores } from './stores.ts';
import { publicAward, purchaseTemplates, type PurchaseReply } from './templates.ts';
import { checkCurrency, cimGuess, claimedNoContact, earlierReply, feeRate, oneCopyAtATime, rememberPaymentRefusal, requestHash, unknown_cim, unknown_none, type Spends } from './wallet.ts';

export type { Reply } from './shard.ts';
export { requestHash } from './wallet.ts';

export class Purchases {
  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly offers: Offers,
    private readonly spends: Spends,
    private readonly awards: Awards,
    private readonly expiry: Expiry,
    /** Where failures that must not change a committed reply go (the gateway logs them). */
    private readonly report: FailureReport,
  ) {}

  /**
   * `window`: how far from the processor's clock `occurred_at` may be, which the channel the
   * purchase came through decides (terminals: core/occurred.ts terminal_window). `source`: the
   * address it came from, which wrong codes are counted against with the terminal (hot/guess.ts).
   * `source` null: a payment processor's callback, signed, whose codes are not guesses (Contacts.identify).
   * `tokenised`: input.cim as the adapter already hashed it (Contacts.tokenised; input.cim.value
   * is its token).
   */
  async purchase(business: Business, terminal: Terminal, input: PurchaseInput, window: OccurredWindow, source: string | null, tokenised?: NormalisedCim): Promise<Reply> {
    // Copies of one paying from the wallet try its code one after another (wallet.ts oneCopyAtATime).
    const hash = requestHash(this.stores.config.cim_hmac_key, 'purchase', input);
    if (input.pay !== undefined) return oneCopyAtATime(`${terminal.id}|${hash}`, () => this.purchaseOnce(business, terminal, input, window, source, hash, tokenised));
    return this.purchaseOnce(business, terminal, input, window, source, hash, tokenised);
  }

  /** purchase(), `hash` its request hash (computed once, for its copies' key too). */
  private async purchaseOnce(business: Business, terminal: Terminal, input: PurchaseInput, window: OccurredWindow, source: string | null, hash: string, tokenised?: NormalisedCim): Promise<Reply> {
    // Redis refusing writes, hung, or holding no network (emptied: RedisHealth's probeState) takes
    // no transaction: 503 before anything is read or written (OPERATIONS.md).
    await requireWritable(this.stores);
    const { config, clock } = this.stores;
    const cim = tokenised ?? this.contacts.normalise(input.cim.type, input.cim.value, 'cim.value');
    const now_ms = clock.now();
    const request: Request = { business_id: business.id, hash, now_ms, slot: referenceSlot(config, terminal.id, input.reference, now_ms) };
    // A retry of a purchase paying from the wallet is answered before its code is tried: the code
    // is gone once used, and each retry would count a wrong try against the contact's OTPs (the
    // third voids them all, a code the customer just asked for included) or a wrong wallet-code
    // guess at the terminal (a black-box audit's find for spends, 2026-12-03). Read beside the
    // contact's identification; handled now, awaited before the payment.
    const earlier = input.pay === undefined ? undefined : earlierReply(this.stores, this.contacts, request.slot, request.hash);
    earlier?.catch(() => undefined);
    let at_ms: number;
    let identified: Identified;
    try {
      checkCurrency(business, input.currency);
      at_ms = occurredAtMs(input.occurred_at, now_ms, window);
      identified = await this.contacts.identify(business.id, cim, source === null ? null : { terminal_id: terminal.id, source }, now_ms);
      if (identified.contact_id === null) throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
    } catch (err) {
      // A retry of an approved purchase gets its reply, as any retry does, even when its
      // occurred_at has left the window since or its terminal has been locked out of wallet or
      // contact codes since; another body under a held reference is 409; a new one is refused
      // and leaves its reference free, but for a CIM no contact has: a terminal's is remembered
      // (wallet.ts rememberNoContact). A processor's sale is not: its transaction's later events
      // (a clearing of another amount) name the same reference with another body.
      const presenter = source === null ? null : { terminal_id: terminal.id, source };
      return this.spends.replayOr(err, request, input.reference, source !== null ? unknown_cim : unknown_none, cimGuess(business.id, cim, presenter, err, now_ms));
    }
    const contact_id = identified.contact_id;
    const rewards = await this.offers.forBusiness(business);
    const made = () => this.purchaseBy(business, terminal, input, { request, contact_id, at_ms, rewards, identified, earlier, source, now_ms });
    // A tier an offer is held to moves with the contact's own purchases: read with their facts
    // at once, purchases raced by one contact were judged on the tier before any of them (a
    // probe: 72 of 100 given the gold offer where any order of them gives 95). One after
    // another in this process; purchases through other gateways still race.
    return rewards.compiled.needs_tier ? oneContactAtATime(contact_id, made) : made();
  }

  /** purchaseOnce() once its contact is known: the facts and offers, the payment, the shard script. */
  private async purchaseBy(business: Business, terminal: Terminal, input: PurchaseInput, by: PurchaseBy): Promise<Reply> {
    const { request, contact_id, at_ms, rewards, identified, earlier, source, now_ms } = by;
    const evaluated = await this.evaluate(terminal, input, request, contact_id, at_ms, rewards);
    await identified.guess_settled; // went out before the facts' round trip: settled by now
    // A payment from the wallet (none on the callback channel) counts its codes as a terminal's.
    const payer_source = source ?? 'processor';
    const reply = await earlier;
    if (reply !== undefined) return reply;
    let payment: Payment;
    try {
      payment = await this.payment(business, terminal, payer_source, input, contact_id, () => this.discountDue(evaluated, input, contact_id), now_ms);
    } catch (err) {
      // A retry of an approved purchase whose wallet code was rotated since, whose terminal is
      // locked out of OTPs since, or whose discount grew since, gets its reply; a wrong code is
      // remembered under the reference.
      return rememberPaymentRefusal(this.stores, this.contacts, err, request, contact_id);
    }
    const awards = await this.awardsOf(evaluated, payment, { ...request, contact_id });
    const call = this.purchaseCall(business, terminal, input, {
      slot: request.slot, contact_id, shard: evaluated.shard, now_ms, at_ms, local: evaluated.local, rewards: evaluated.rewards, awards, pay: payment.pay, pay_method: payment.pay_method, otp: payment.otp,
      request_hash: claimHash(request.hash),
    });
    // The intent names the purchase (its award's reference does): made once the call has its id.
    const referral = referralOf(business, contact_id, call.id, evaluated.facts.referrer, evaluated.evaluation, evaluated.rewards.compiled.resolution);
    return this.commit(business, referral === undefined ? call : { ...call, referral: referral.member }, awards, referral);
  }

  /**
   * The contact's facts and the offers' evaluation on them. Without a payment nothing left can
   * refuse the request as bad input, so the reference is claimed now, in the same round trip as
   * the facts: one wait for Redis (and its fsync) fewer. With a payment it is claimed once the
   * payment is checked (`awardsOf`). When the business has budgeted offers, the budgets of what the
   * offers award whatever the contact's facts go out in that round trip too (one wait fewer
   * again); what the facts change is settled after (reserveRest).
   */
  private async evaluate(terminal: Terminal, input: PurchaseInput, request: Request, contact_id: string, at_ms: number, rewards: Rewards): Promise<Evaluated> {
    const compiled = rewards.compiled;
    const shard = this.contacts.shardOf(contact_id);
    // Its own object, not a scratch: it lives across the waits, while other purchases run.
    const local = readLocalTime(at_ms, terminal.timezone);
    const claiming = input.pay === undefined ? this.claim(request, contact_id) : undefined;
    const reading = this.facts(contact_id, shard, rewards, at_ms, terminal.timezone, local);
    const abandoned = claiming === undefined ? undefined : this.abandonedBy(claiming, shard, request.slot);
    const early = abandoned === undefined || !compiled.has_budgets ? undefined : this.reserveEarly(offered(evaluatePurchase(compiled, purchaseContext(terminal, input, at_ms, factless(rewards))), compiled.resolution), abandoned);
    // Awaited below or in awardsOf; marked handled now, so that failing while the facts still take
    // their round trips (a birthday's, a referrer's) it is not an unhandled rejection meanwhile.
    early?.catch(() => {});
    let facts: Facts;
    try {
      facts = claiming === undefined ? await reading : (await Promise.all([reading, claiming]))[0];
    } catch (err) {
      if (early !== undefined) await early.then((e) => this.awards.release(e.granted), () => {});
      throw err;
    }
    return { rewards, shard, local, early, abandoned, facts, evaluation: evaluatePurchase(compiled, purchaseContext(terminal, input, at_ms, facts)) };
  }

  /** The evaluation's awards with their budgets reserved, and the reference claimed if `evaluate` did not. */
  private async awardsOf(evaluated: Evaluated, payment: Payment, claim: Claim): Promise<Award[]> {
    const { evaluation, early } = evaluated;
    const candidates = offered(evaluation, evaluated.rewards.compiled.resolution);
    if (early !== undefined) return this.reserveRest(candidates, await early, evaluated.abandoned);
    // Claimed with the facts exactly when `evaluate` made the question of its abandonment.
    const reserving = this.reserve(candidates, evaluated.abandoned !== undefined ? undefined : claim);
    // The wallet code's guess settled (Contacts.identify) in the same wait.
    return payment === no_payment ? reserving : (await Promise.all([reserving, payment.guess_settled]))[0];
  }

  /** The shard script, then what follows its commit; the awards' budgets go back if it refuses. */
  private async commit(business: Business, call: PurchaseCall, awards: readonly Award[], referral: Referral | undefined): Promise<Reply> {
    let reply: ShardReply<PurchaseCommitted>;
    const answer: { outcome?: string } = {};
    try {
      reply = await shardReply(this.stores, call, answered(this.stores.redis.purchaseScript(call), answer));
    } catch (err) {
      // The script committed nothing (a refusal, a replay): the budgets go back. Not once it has
      // committed (DURABILITY=sync's record in PostgreSQL failing after it: the purchase and its
      // awards stand, its retry replays them), nor when its answer never came (it may have). The
      // error is what the terminal must see, even if giving back fails too (then the budgets stay
      // reserved: never over-awarded).
      if (mayGiveBack(answer)) await this.awards.release(awards).catch((e: unknown) => this.report(e, { offers: budgeted(awards) }, 'purchase refused: could not give back its awards’ budget reservations'));
      throw err;
    }
    const committed = reply.committed;
    await this.afterCommit(business, call.contact_id, committed, awards, committed?.first_purchase === true ? referral : undefined, call.now_ms);
    // Dated back past an award's validity (a processor's clearing): its lot expires now, an
    // expiry transaction right after the purchase's, not at the next sweep.
    await this.expiry.expireMade(call.shard, call.contact_id, call.awards, committed?.accepted, call.now_ms).catch((err: unknown) => this.report(err, { contact_id: call.contact_id }, 'purchase approved; could not expire the awards it made already expired; the sweeper does'));
    return reply;
  }

  /**
   * What `purchase` would give this body now, changing nothing: the same contact, facts and
   * evaluation, then each award as its budget and per-contact cap stand (read, not reserved nor
   * counted). The guards the shard script re-checks (first purchase, first of the day) are the
   * facts the evaluation has just read, so they hold here as they would there. A wallet or contact
   * code is a guess as the purchase's is (Contacts.identify, `source` as there): a quote names the
   * contact and shows its wallet, so it must not be a way round the purchase's limit on guesses.
   */
  async quote(business: Business, terminal: Terminal, input: PurchaseQuoteInput, window: OccurredWindow, source: string): Promise<Quote> {
    await requireWritable(this.stores);
    checkCurrency(business, input.currency);
    const cim = this.contacts.normalise(input.cim.type, input.cim.value, 'cim.value');
    const now_ms = this.stores.clock.now();
    const at_ms = occurredAtMs(input.occurred_at, now_ms, window);
    const [{ contact_id, guess_settled }] = await Promise.all([this.contacts.identify(business.id, cim, { terminal_id: terminal.id, source }, now_ms), requireWritableNow(this.stores)]);
    if (contact_id === null) throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
    const rewards = await this.offers.forBusiness(business);
    const shard = this.contacts.shardOf(contact_id);
    // The code's guess settled (Contacts.identify) in the same wait.
    const local = readLocalTime(at_ms, terminal.timezone);
    const [facts, { open, commerce }] = await Promise.all([this.facts(contact_id, shard, rewards, at_ms, terminal.timezone, local), this.contacts.wallet(business, contact_id), guess_settled]);
    const evaluation = evaluatePurchase(rewards.compiled, purchaseContext(terminal, input, at_ms, facts));
    // Credits cut to what the wallet may still hold, as the script cuts them (its read of o and m).
    const awards = fitWallet(await this.awards.preview(offered(evaluation, rewards.compiled.resolution), shard, contact_id, rewards.compiled.resolution, input.amount), wallet_balance_max - open - commerce);
    const discount = discountOf(awards, input.amount);
    return { contact_id, amount: input.amount, currency: business.currency, awards: awards.map(publicAward), discount, amount_due: input.amount - discount, wallet: { open, commerce } };
  }

  /**
   * Whether this request will not make the purchase whose reference claim is `claiming`: another
   * body or a reversal holds the reference (the claim throws), or this same request made it already
   * (a repeat whose record is there: its script will replay it). Asked only when a budget answers
   * 'busy' (Awards.reserve): a replay's reservation goes out with its claim, before it is known to
   * be one, and replays asking a busy budget on held its end in turn and took it from new
   * purchases (a black-box probe, 2026-12-05: 40 replays beside a new purchase left it no award
   * in 17 rounds of 30). A copy still in flight (no record yet) asks on: it may be the one that
   * commits.
   */
  /**
   * The reference claimed for this purchase of `contact_id` (claim.ts claimReferenceAgain). This
   * same request's claim made when no contact had its CIM is its refusal, replayed
   * (wallet.ts rememberNoContact), whoever has the CIM now.
   */
  private async claim(claimant: Claimant, contact_id: string): Promise<{ contact_id: string; repeat: boolean }> {
    const claimed = await claimReferenceAgain(this.stores, claimant, contact_id);
    if (claimed.contact_id === '') throw claimedNoContact();
    return claimed;
  }

  private abandonedBy(claiming: Promise<{ repeat: boolean }>, shard: number, slot: ReferenceSlot): () => Promise<boolean> {
    let abandoned = false;
    return async () => {
      if (abandoned) return true;
      const claimed = await claiming.then((c) => (c.repeat ? 'repeat' : 'new'), () => 'refused' as const);
      if (claimed === 'new') return false;
      abandoned = claimed === 'refused' || (await readRecord(this.stores, shard, slot).catch(() => undefined)) !== undefined;
      return abandoned;
    };
  }

  /** Budgeted awards reserved before the contact's facts are known: what was tried, what was granted. */
  private reserveEarly(candidates: readonly Award[], abandoned: () => Promise<boolean>): Promise<{ tried: ReadonlySet<string>; granted: Award[] }> | undefined {
    const budgeted = candidates.filter((a) => a.limits?.budget !== undefined);
    if (budgeted.length === 0) return undefined;
    return this.awards.reserve(budgeted, abandoned).then((granted) => ({ tried: new Set(budgeted.map((a) => a.offer_id)), granted }));
  }

  /**
   * The awards as the contact's facts decided them, with the budgets reserved early: an award
   * reserved early takes what was granted (up to its amount; nothing if the budget was spent), one
   * the facts brought reserves now (the extra round trip only they cost), and what was reserved
   * early for an award the facts took away goes back at once. Never more than a budget holds: every
   * award's amount was reserved before the shard script sees it.
   */
  private async reserveRest(awards: readonly Award[], early: { tried: ReadonlySet<string>; granted: readonly Award[] }, abandoned?: () => Promise<boolean>): Promise<Award[]> {
    const left = new Map(early.granted.map((a) => [a.offer_id, a]));
    const out: Award[] = [];
    const rest: Award[] = [];
    for (const a of awards) {
      if (a.limits?.budget === undefined) out.push(a);
      else if (!early.tried.has(a.offer_id)) rest.push(a);
      else {
        const granted = left.get(a.offer_id);
        left.delete(a.offer_id);
        if (granted === undefined) continue; // its budget was spent
        const amount = Math.min(granted.amount, a.amount);
        // As the facts decided it, settled by the early reservation's second (budget.lua).
        out.push({ ...a, amount, budget_reserved_s: granted.budget_reserved_s });
        if (granted.amount > amount) left.set(a.offer_id, { ...granted, amount: granted.amount - amount });
      }
    }
    const releasing = this.awards.release([...left.values()]);
    releasing.catch(() => {}); // awaited below, after the reservation's round trip: handled meanwhile
    const reserved = rest.length === 0 ? [] : await this.awards.reserve(rest, abandoned).catch(async (err: unknown) => {
      await releasing.catch(() => {});
      await this.awards.release(out).catch(() => {});
      throw err;
    });
    await releasing;
    if (reserved.length === 0) return out;
    // In the evaluation's order (offer creation order), as without an early reservation and as a
    // quote shows them: the reply must not depend on which budgets were reserved when.
    const by_offer = new Map([...out, ...reserved].map((a) => [a.offer_id, a]));
    return awards.flatMap((a) => by_offer.get(a.offer_id) ?? []);
  }

  /**
   * The discount a wallet payment must leave room for: the evaluation's, unless a payment would not
   * fit it; then what caps and budgets leave of it now, as a quote shows it (Awards.preview, one
   * round trip on that path only): a discount a cap or a spent budget already refuses is not due,
   * and a POS paying the amount due that the quote showed must not be refused for it.
   */
  private async discountDue(evaluated: Evaluated, input: PurchaseInput, contact_id: string): Promise<number> {
    const { evaluation, rewards, shard } = evaluated;
    if (input.pay === undefined || input.pay.amount <= input.amount - evaluation.discount) return evaluation.discount;
    const resolution = rewards.compiled.resolution;
    return discountOf(await this.awards.preview(offered(evaluation, resolution), shard, contact_id, resolution, input.amount), input.amount);
  }

  /** Paying from the wallet (`pay`): the OTP or wallet code must be this contact's. */
  private async payment(business: Business, terminal: Terminal, source: string, input: PurchaseInput, contact_id: string, discountDue: () => Promise<number>, now_ms: number): Promise<Payment> {
    if (input.pay === undefined) return no_payment;
    const pay = input.pay.amount;
    const discount = pay > input.amount ? 0 : await discountDue();
    if (pay > input.amount - discount) {
      throw new PocketgateError('validation_failed', 'pay.amount: more than the amount due', [{ path: 'pay.amount', message: `at most ${input.amount - discount}` }]);
    }
    // The OTP is tried against this contact's own OTPs (hot/otp.lua 'for').
    const payer = await this.spends.payer(business, terminal, source, input.pay, now_ms, contact_id);
    if (payer.contact_id !== contact_id) throw new PocketgateError(payer.method === 'otp' ? 'otp_invalid' : 'wallet_code_invalid', 'the wallet paying is not the purchasing contact’s');
    return { pay, pay_method: payer.method, otp: payer.otp, guess_settled: payer.guess_settled };
  }

  /**
   * Reserve the awards' budgets; with `claim`, claim the reference too. A purchase with a payment
   * claims it only now, as a spend does: one refused for its payment (bad input among it) leaves
   * its reference free, as the contract wants of bad input. The reservation goes out in the same
   * round trip (one wait for Redis's fsync instead of two) and is given back if the reference
   * turns out taken.
   */
  private async reserve(candidates: readonly Award[], claim: Claim | undefined): Promise<Award[]> {
    if (claim === undefined) return this.awards.reserve(candidates);
    const claiming = this.claim(claim, claim.contact_id);
    claiming.catch(() => {}); // awaited below, after the reservation went out with it: handled meanwhile
    const reserving = this.awards.reserve(candidates, this.abandonedBy(claiming, this.contacts.shardOf(claim.contact_id), claim.slot));
    try {
      await claiming;
    } catch (err) {
      await reserving.then((reserved) => this.awards.release(reserved), () => {});
      throw err;
    }
    return reserving;
  }

  /** The purchase's shard script call: its reply and journal entry templates, fees, accounts, tier units and awards. */
  purchaseCall(business: Business, terminal: Terminal, input: PurchaseInput, p: PurchaseFacts): PurchaseCall {
    const { slot, contact_id, shard, now_ms, at_ms, local, rewards, awards, pay } = p;
    const currency = business.currency;
    const id = newId('txn');
    const { reply, entry } = purchaseTemplates({ id, business_id: business.id, terminal_id: terminal.id, made_by: terminal.made_by, terminal_code: terminal.reported_code, reference: input.reference, request_hash: p.request_hash, contact_id, currency, now_ms, at_ms, amount: input.amount, pay });
    return {
      business_id: business.id,
      slot,
      contact_id,
      shard,
      id,
      now_ms,
      journal_length_max: this.stores.config.journal_length_max,
      reply,
      entry,
      pay,
      pay_method: p.pay_method,
      otp: p.otp,
      amount: input.amount,
      at_ms,
      birth_days: birthDaysOn(local),
      fee_bp: feeRate(terminal, 'award'),
      // A contribution fee on spends is charged where the payment is: here, on `pay`.
      pay_fee_bp: feeRate(terminal, 'spend'),
      accounts: transactionAccounts(business, terminal, contact_id),
      tier_units: tierUnits(input.amount, rewards),
      periods: tierPeriods(local, rewards),
      referral: p.referral ?? '',
      awards: awardItems(awards, rewards.compiled.resolution),
      caps_kept: capsKeptAt(now_ms),
    };
  }

  /**
   * What follows a committed purchase: giving back the budget its script did not use, and the
   * referrer's award of the intent the script kept (`referral`, its outbox member). The reply is
   * committed and is what the terminal gets: a failure here is reported, never thrown (a 5xx would
   * tell the terminal the purchase failed when it stands, and a rejected promise left unhandled
   * ends the process). Awaited, so that no Redis call outlives its request. A budget not given
   * back stays reserved, so an offer may stop awarding a little before its budget, never after
   * it; a referral award not made stays in the outbox, and the sweeper makes it.
   */
  private async afterCommit(business: Business, contact_id: string, committed: PurchaseCommitted | undefined, awards: readonly Award[], referral: Referral | undefined, now_ms: number): Promise<void> {
    const settling = this.awards.settle(awards, committed?.accepted, committed?.made).catch((err: unknown) => this.report(err, { contact_id, offers: budgeted(awards) }, 'purchase approved; could not give back the budget its refused awards reserved'));
    const referring = referral === undefined
      ? undefined
      : this.awards.referral(business, referral.intent, referral.member, now_ms).catch((err: unknown) => this.report(err, { contact_id, referrer_id: referral.intent.referrer_id }, 'purchase approved; the referrer’s award was not made now; the referral sweeper makes it'));
    await settling;
    await referring;
  }

  /**
   * What the rewards engine must know of the contact, read only when some offer needs it.
   * `local`: `at_ms` at the venue (`timezone`).
   */
  private async facts(contact_id: string, shard: number, rewards: Rewards, at_ms: number, timezone: string, local: LocalTime): Promise<Facts> {
    const c = rewards.compiled;
    if (!(c.needs_profile || c.needs_schemes || c.needs_birthday || c.needs_first_purchase || c.needs_referrer)) {
      return factless(rewards);
    }
    const [t, s, d, fp, rf, um, uq, uy] = await this.stores.redis.hmGet(contactKey(shard, contact_id), ['t', 's', 'd', 'fp', 'rf', 'um', 'uq', 'uy']);
    // On the contact's birthday only (a round trip more, one day a year): its purchases of the day.
    const birthday = c.needs_birthday && d !== null && d !== undefined && isBirthday(d, local);
    const purchased_on_that_day = birthday && (await purchasedThatDay(this.stores, shard, contact_id, at_ms, timezone));
    // The tier held at the purchase's time: the stored tier could be from a period that has ended.
    const tier_keys = rewards.tiers.length === 0 ? undefined : purchaseTierKeys(at_ms, timezone, local);
    const tier = tier_keys === undefined ? null : effectiveTier(rewards.tiers, { m: um, q: uq, y: uy }, tier_keys, rewards.tier_unit);
    const schemes = withMemberships(rewards.auto_schemes, s);
    const first_purchase = fp === null || fp === undefined;
    let referrer: ReferrerContext | null = null;
    if (c.needs_referrer && first_purchase && rf !== null && rf !== undefined) {
      const [rt, rs, rm, rq, ry] = await this.stores.redis.hmGet(contactKey(this.contacts.shardOf(rf), rf), ['t', 's', 'um', 'uq', 'uy']);
      const referrer_tier = tier_keys === undefined ? null : effectiveTier(rewards.tiers, { m: rm, q: rq, y: ry }, tier_keys, rewards.tier_unit);
      referrer = { contact_id: rf, tier: referrer_tier, tags: parseTags(rt), schemes: withMemberships(rewards.auto_schemes, rs) };
    }
    return {
      tier,
      tags: parseTags(t),
      schemes,
      birth_date: d ?? null,
      first_purchase,
      purchased_on_that_day,
      referrer,
    };
  }
}

/**
 * Whether the contact has a purchase (not reversed) on the local day at `timezone` that holds
 * `at_ms`: the birthday guard's fact, as lib.lua applyAwards checks it again.
 */
async function purchasedThatDay(stores: Stores, shard: number, contact_id: string, at_ms: number, timezone: string): Promise<boolean> {
  const since = startOfLocalDay(at_ms, timezone);
  const before = nextLocalDay(since, timezone);
  return (await stores.redis.zCount(purchaseTimesKey(shard, contact_id), since, `(${before}`)) > 0;
}

/** A quote: what a purchase of this body would award and take off now (API: POST /v1/purchases/quote). */
export type Quote = Pick<PurchaseReply, 'contact_id' | 'amount' | 'currency' | 'awards' | 'discount' | 'amount_due' | 'wallet'>;

/**
 * The awards a purchase reserves budgets for and gives the script: the winners, or, under a `best`
 * resolution, every candidate of the evaluation, so that the script can make the next best of a
 * group whose winner its cap or guard refuses (core/offer.ts resolutionPlaces); the budgets of
 * those it does not make go back after it (Awards.settle).
 */
function offered(evaluation: Evaluation, resolution: Resolution): readonly Award[] {
  return resolution === 'all' ? evaluation.awards : evaluation.candidates;
}

/**
 * What the offers read: the purchase itself and the contact's facts. One literal, not spreads of
 * the two: V8 builds `{ ...a, ...b }` in its slow runtime path, into a dictionary-mode object that
 * every read in the evaluation then pays for (1.5–4 µs a copy on Node 20, measured).
 */
function purchaseContext(terminal: Terminal, input: PurchaseQuoteInput, at_ms: number, facts: Facts): PurchaseContext {
  return {
    amount: input.amount,
    items: input.items ?? [],
    merchant_id: terminal.merchant_id,
    venue_id: terminal.venue_id,
    timezone: terminal.timezone,
    at_ms,
    tier: facts.tier,
    tags: facts.tags,
    schemes: facts.schemes,
    birth_date: facts.birth_date,
    first_purchase: facts.first_purchase,
    purchased_on_that_day: facts.purchased_on_that_day,
    referrer: facts.referrer,
  };
}

interface Payment {
  /** Paid from the open balance (0: no payment), by 'otp' or 'wallet' ('' without), with this OTP ('' without). */
  readonly pay: number;
  readonly pay_method: 'otp' | 'wallet' | '';
  readonly otp: string;
  /** When the wallet code's guess is settled (Contacts.identify). */
  readonly guess_settled: Promise<void>;
}

const no_payment: Payment = { pay: 0, pay_method: '', otp: '', guess_settled: Promise.resolve() };

/** A purchase request's idempotency: its hash, its reference's place in the hot window, when it came. */
interface Request extends Claimant {
  readonly now_ms: number;
}

/** A reference to claim for a contact (claim.ts claimReference). */
interface Claim extends Claimant {
  readonly contact_id: string;
}

/** What the offers read of the contact (Purchases.facts). */
type Facts = Omit<PurchaseContext, 'amount' | 'items' | 'merchant_id' | 'venue_id' | 'timezone' | 'at_ms'>;

/** Purchases.evaluate's outcome. */
/** What purchaseOnce knows once its contact is: what purchaseBy goes on from. */
interface PurchaseBy {
  readonly request: Request;
  readonly contact_id: string;
  readonly at_ms: number;
  readonly rewards: Rewards;
  readonly identified: Identified;
  /** The reply an earlier copy was given (a purchase paying from the wallet), read beside the identification. */
  readonly earlier: Promise<Reply | undefined> | undefined;
  readonly source: string | null;
  readonly now_ms: number;
}

/**
 * Each contact's purchases chained in this process, for businesses whose offers are held to tiers
 * (oneContactAtATime): the last of them, and how many there are (running or waiting). Bounded by
 * the requests in flight; an entry goes with its last purchase.
 */
const contact_purchases = new Map<string, { last: Promise<unknown>; count: number }>();
/**
 * Purchases of one contact chained at most; one more runs at once, judged as they all were before
 * (on a tier read before the others' units): a contact that a whole shop's tills share (a house
 * account) must not queue them without bound, each waiting for all before it (the review).
 */
const contact_chained_max = 32;

/** `run` once the contact's purchases chained before it in this process have ended, whatever their outcome. */
async function oneContactAtATime<T>(contact_id: string, run: () => Promise<T>): Promise<T> {
  let chain = contact_purchases.get(contact_id);
  if (chain !== undefined && chain.count >= contact_chained_max) return run();
  const mine = chain === undefined ? run() : chain.last.then(run, run);
  if (chain === undefined) contact_purchases.set(contact_id, (chain = { last: mine, count: 0 }));
  chain.count++;
  chain.last = mine.catch(() => undefined);
  try {
    return await mine;
  } finally {
    if (--chain.count === 0) contact_purchases.delete(contact_id);
  }
}

interface Evaluated {
  readonly rewards: Rewards;
  readonly shard: number;
  /** The purchase's time at the venue. */
  readonly local: LocalTime;
  /** The budgets reserved before the facts were known (Purchases.reserveEarly). */
  readonly early: Promise<{ tried: ReadonlySet<string>; granted: Award[] }> | undefined;
  /** Whether this request will not make the purchase (Purchases.abandonedBy), when its reference was claimed with the facts. */
  readonly abandoned: (() => Promise<boolean>) | undefined;
  readonly facts: Facts;
  readonly evaluation: Evaluation;
}

/** A referrer's award to make once the purchase commits as the contact's first. */
interface Referral {
  readonly intent: ReferralIntent;
  readonly member: string;
}

/** What a purchase's shard script call is built from, besides the business, terminal and input. */
export interface PurchaseFacts {
  readonly slot: ReferenceSlot;
  readonly contact_id: string;
  readonly shard: number;
  readonly now_ms: number;
  readonly at_ms: number;
  /** `at_ms` at the terminal's venue (readLocalTime). */
  readonly local: LocalTime;
  readonly rewards: Rewards;
  readonly awards: readonly Award[];
  readonly pay: number;
  readonly pay_method: 'otp' | 'wallet' | '';
  readonly otp: string;
  /** The reference's claim hash (claim.ts claimHash). */
  readonly request_hash: string;
  /** The referral intent (processor/referrals.ts) the script keeps if this is the first purchase. */
  readonly referral?: string | undefined;
}

/**
 * The referrer's award as an intent the purchase's script keeps with the purchase if it is the
 * first (the script decides that atomically), made after it: processor/referrals.ts. Under a
 * `best` resolution, with every candidate, so that the award script falls back to the next best
 * of a group whose winner the referrer's cap refuses, as a purchase's script does.
 */
function referralOf(business: Business, contact_id: string, purchase_id: string, referrer: ReferrerContext | null, evaluation: Evaluation, resolution: Resolution): Referral | undefined {
  const awards = resolution === 'all' ? evaluation.referrer_awards : evaluation.referrer_candidates;
  if (referrer === null || awards.length === 0) return undefined;
  const intent: ReferralIntent = { business_id: business.id, referrer_id: referrer.contact_id, referred_id: contact_id, purchase_id, awards, ...(resolution === 'all' ? {} : { resolution }) };
  return { intent, member: encodeIntent(intent) };
}

/** A failure after a transaction was committed: reported with what an operator needs, never thrown. */
export type FailureReport = (err: unknown, context: Readonly<Record<string, unknown>>, message: string) => void;

/** Offer ids and amounts of the awards that reserved budget, for a report. */
function budgeted(awards: readonly Award[]): { offer_id: string; amount: number }[] {
  return awards.filter((a) => a.limits?.budget !== undefined).map((a) => ({ offer_id: a.offer_id, amount: a.amount }));
}

const no_tags: readonly string[] = [];

function parseTags(t: string | null | undefined): readonly string[] {
  return t === null || t === undefined ? no_tags : (JSON.parse(t) as string[]);
}

function withMemberships(auto: ReadonlySet<string>, s: string | null | undefined): ReadonlySet<string> {
  if (s === null || s === undefined) return auto;
  return new Set([...auto, ...(JSON.parse(s) as string[])]);
}

/** The facts of a contact that nothing is known of: the offers that award anyway. */
function factless(rewards: Rewards): Facts {
  return { tier: null, tags: no_tags, schemes: rewards.auto_schemes, birth_date: null, first_purchase: false, purchased_on_that_day: false, referrer: null };
}

/** Value units: the amount in major units (the currency's minor units dropped). */
export function tierUnits(amount: number, rewards: Rewards): number {
  // In minor units, the amount itself: value units are the amount in major units, fractions
  // included (effectiveTier compares with min_period_units × tier_unit).
  return rewards.tiers.length === 0 ? 0 : amount;
}

/** The periods of the business's tiers' kinds at `local`, a date in the venue's calendar. */
export function tierPeriods(local: LocalTime, rewards: Rewards): { kind: PeriodKind; current: string; previous: string; next: string }[] {
  if (rewards.tiers.length === 0) return [];
  const keys = periodKeys(local.year, local.month);
  return [...new Set(rewards.tiers.map((x) => x.period[0] as PeriodKind))].map((kind) => ({ kind, current: keys[kind].current, previous: keys[kind].previous, next: keys[kind].next }));
}
