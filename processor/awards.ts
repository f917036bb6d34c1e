// Awards beyond a purchase's own script: offer budgets (reserved before the shard script, given
// back when it does not use them) and award transactions of their own (sign-up, referral).

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { PocketgateError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { evaluateSignup, fitDiscounts, resolutionPlaces, resolveAwards, type Award, type Resolution } from '../core/offer.ts';
import { periodKey, readLocalTime } from '../core/local-time.ts';
import { tierAtUtc } from '../core/tier.ts';
import type { Contacts } from './contacts.ts';
import type { AwardCall, AwardCommitted } from './hot/award.ts';
import type { AwardItem } from './hot/award-items.ts';
import type { Expiry } from './expiry.ts';
import type { Template, WalletHole } from './hot/template.ts';
import { budgetKey, capsKey, contactKey, referralsKey } from './hot/keys.ts';
import { referenceSlot, rewards_terminal } from './hot/references.ts';
import { transactionAccounts } from './journal.ts';
import type { Business } from './network.ts';
import type { Offers } from './offers.ts';
import { referralReference, type ReferralIntent } from './referrals.ts';
import { answered, mayGiveBack, shardReply, type Reply, type ShardReply } from './shard.ts';
import type { Stores } from './stores.ts';
import { awardTemplates, publicAward } from './templates.ts';
import { capPeriodsKeptFrom, type CapPeriodsKept } from '../core/cap-periods.ts';

/**
 * Asks of a budget answered 'busy', at most, 1, 2, 4 … 64 ms apart (about 2 s in all), the last
 * final: waited only at a budget's end, while purchases in flight hold what is left, which they
 * settle as soon as their shard scripts answer (within a round of 200 purchases at once, under 1
 * s on a loaded machine: test/budget-exact.test.ts). Past 2 s what is still pending is taken as
 * kept (a gateway that died holding it: budget.lua's window).
 */
const budget_busy_attempts_max = 37;
const budget_busy_wait_ms_max = 64;
const never = async () => false;

/**
 * What the shard call of a transaction the processor makes itself (an award, an expiry) names
 * besides its own arguments: the business, the contact, `reference` on the rewards terminal, the
 * templates and the accounts (no terminal, so no merchant's).
 */
export function rewardsCall<H extends string>(stores: Stores, business: Business, contact_id: string, shard: number, reference: string, id: string, now_ms: number, templates: { reply: Template<H | WalletHole>; entry: Template<H | WalletHole> }) {
  return {
    business_id: business.id,
    slot: referenceSlot(stores.config, rewards_terminal, reference, now_ms),
    contact_id,
    shard,
    id,
    now_ms,
    journal_length_max: stores.config.journal_length_max,
    reply: templates.reply,
    entry: templates.entry,
    accounts: transactionAccounts(business, null, contact_id),
  };
}

export class Awards {
  /** Reservations kept since the last clearKept, by offer and second (keepLater). */
  private readonly kept = new Map<string, { readonly offer_id: string; readonly at_s: number; clear: number }>();

  constructor(
    private readonly stores: Stores,
    private readonly contacts: Contacts,
    private readonly offers: Offers,
    private readonly expiry: Expiry,
  ) {}

  /**
   * Reserve each budgeted award's amount from its offer's budget: the whole award, what is left,
   * or nothing (the award is dropped). Concurrent purchases never take more than the budget. Each
   * award reserved carries the second it was reserved in, which settles it (release, settle).
   * `abandoned`: whether this request will not make the purchase (its reference taken by another
   * body, or this same request made already: a replay); asked when a budget answers 'busy',
   * which is then not asked again.
   */
  async reserve(awards: readonly Award[], abandoned: () => Promise<boolean> = never): Promise<Award[]> {
    if (!awards.some((a) => a.limits?.budget !== undefined)) return [...awards];
    const at_s = Math.floor(this.stores.clock.now() / 1000);
    const grants = await Promise.all(awards.map((a) => (a.limits?.budget === undefined ? a.amount : this.reserveBudget(a.offer_id, a.amount, a.limits.budget, at_s, abandoned))));
    const out: Award[] = [];
    awards.forEach((a, i) => {
      const grant = grants[i]!;
      if (grant <= 0) return;
      const reserved = a.limits?.budget === undefined ? a : { ...a, budget_reserved_s: at_s };
      out.push(grant === a.amount ? reserved : { ...reserved, amount: grant });
    });
    return out;
  }

  /**
   * One award's reservation (budget.lua). 'busy' says the budget falls short only for what
   * purchases in flight hold reserved, which they settle within a round trip or two (kept, or
   * given back when their shard script refused the award): it asks again, backing off, then
   * takes what is left. Granted at once, it would have dropped an award the budget could pay.
   * An abandoned purchase stops asking: replays of a purchase, whose reservation goes out with
   * their claim (one wait for Redis), asked on as long as a new one, held the budget's end in
   * turn, and took it from new purchases at their final ask (a black-box probe, 2026-12-05: 40
   * replays beside a new purchase left it no award in 17 rounds of 30).
   */
  private async reserveBudget(offer_id: string, amount: number, budget: number, at_s: number, abandoned: () => Promise<boolean>): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const final = attempt + 1 >= budget_busy_attempts_max;
      const grant = await this.stores.redis.budgetScript({ mode: 'reserve', offer_id, amount, budget, at_s, final, now_ms: this.stores.clock.now() });
      if (grant >= 0) return grant;
      assert(!final, 'budget.lua answered busy to a final reservation');
      if (await abandoned()) return 0;
      await sleep(Math.min(budget_busy_wait_ms_max, 2 ** attempt));
    }
  }

  /**
   * What `reserve` and then the shard script would leave of `awards` now, changing nothing (a
   * quote): each budgeted award as its budget's remainder allows (budget.lua's rule, read with GET
   * instead of taken with INCRBY), then each per-contact cap as its counter stands (applyAwards's
   * rule in lib.lua, read instead of counted), and under a `best` resolution (`awards` being the
   * candidates) the best-placed admitted award of each group. Both are read in one round trip.
   */
  async preview(awards: readonly Award[], shard: number, contact_id: string, resolution: Resolution = 'all', amount = Number.MAX_SAFE_INTEGER): Promise<Award[]> {
    const caps = awards.map(capOf);
    const counted = caps.filter((c) => c.cap !== '').map((c) => c.cap);
    const budgeted = awards.filter((a) => a.limits?.budget !== undefined);
    if (counted.length === 0 && budgeted.length === 0 && resolution === 'all') return fitDiscounts(awards, amount);
    const { redis } = this.stores;
    const [counts, used] = await Promise.all([
      counted.length === 0 ? [] : redis.hmGet(capsKey(shard, contact_id), counted),
      Promise.all(budgeted.map((a) => redis.get(budgetKey(a.offer_id)))),
    ]);
    const count_of = new Map(counted.map((cap, i) => [cap, Number(counts[i] ?? 0)]));
    const used_of = new Map(budgeted.map((a, i) => [a.offer_id, Number(used[i] ?? 0)]));
    // The budgets first, as a purchase reserves them before its script: what each would be granted.
    const granted: { award: Award; admitted: boolean }[] = [];
    awards.forEach((a, i) => {
      const { cap, limit } = caps[i]!;
      const budget = a.limits?.budget;
      const amount = budget === undefined ? a.amount : Math.min(a.amount, budget - used_of.get(a.offer_id)!);
      if (amount > 0) granted.push({ award: amount === a.amount ? a : { ...a, amount }, admitted: cap === '' || count_of.get(cap)! < limit });
    });
    // Then the script's rule (lib.lua applyAwards): what its cap admits, and of each resolution
    // group only the best admitted, which is resolveAwards leaving out the offers refused.
    const refused = new Set(granted.filter((g) => !g.admitted).map((g) => g.award.offer_id));
    return fitDiscounts(resolveAwards(granted.map((g) => g.award), resolution, refused), amount);
  }

  /** Give back what budgeted awards reserved. */
  async release(awards: readonly Award[]): Promise<void> {
    await this.settleEach(awards, () => 0);
  }

  /**
   * After a shard script: give back the budget of the awards it refused (a cap, a guard), or of
   * all of them when it committed none (`accepted` undefined: a replay, nothing to do), and what
   * an accepted award was not made for (`made`, by accepted index: an instant discount trimmed to
   * what was left of the price, a credit to what the wallet may still hold). Every reservation is settled, kept or not: while pending it
   * makes other purchases wait for it (budget.lua 'busy').
   */
  async settle(awards: readonly Award[], accepted: readonly number[] | undefined, made?: readonly number[]): Promise<void> {
    const kept = new Map((accepted ?? []).map((index, k) => [index, made?.[k]]));
    await this.settleEach(awards, (a, i) => (kept.has(i) ? Math.min(a.amount, kept.get(i) ?? a.amount) : 0));
  }

  /**
   * Each budgeted award's reservation settled: `keep(award, index)` of its amount kept, the rest
   * given back. A give-back is waited for, as before pending reservations were counted (callers
   * report its failure: the budget stays used, never over-awarded). A reservation wholly kept is
   * not: the reply does not wait a round trip (and Redis's fsync) for it, which cost purchases
   * with a budgeted award 27% of their throughput (`npm run profile`, 2026-12-05): keepLater.
   */
  private async settleEach(awards: readonly Award[], keep: (a: Award, i: number) => number): Promise<void> {
    const giving_back: Promise<unknown>[] = [];
    awards.forEach((a, i) => {
      if (a.limits?.budget === undefined) return;
      const give_back = a.amount - keep(a, i);
      assert(give_back >= 0 && give_back <= a.amount, 'a budget given back is within what was reserved');
      if (a.budget_reserved_s === undefined) {
        // Never reserved through reserve() (not made by this code): only what is given back.
        if (give_back > 0) giving_back.push(this.stores.redis.decrBy(budgetKey(a.offer_id), give_back));
        return;
      }
      if (give_back > 0) giving_back.push(this.stores.redis.budgetScript({ mode: 'settle', offer_id: a.offer_id, at_s: a.budget_reserved_s, clear: a.amount, give_back }));
      else this.keepLater(a.offer_id, a.budget_reserved_s, a.amount);
    });
    await Promise.all(giving_back);
  }

  /**
   * A reservation wholly kept, cleared from what is pending with every other one of its offer and
   * second kept in this turn of the event loop: one call for many purchases, not one each (one
   * each cost the gateway 16% more CPU and Redis 19% per purchase, `npm run profile`, 2026-12-05).
   */
  private keepLater(offer_id: string, at_s: number, amount: number): void {
    const key = `${offer_id} ${at_s}`;
    const kept = this.kept.get(key);
    if (kept !== undefined) kept.clear += amount;
    else this.kept.set(key, { offer_id, at_s, clear: amount });
    if (this.kept.size === 1 && kept === undefined) setImmediate(() => this.clearKept());
  }

  private clearKept(): void {
    const batch = [...this.kept.values()];
    this.kept.clear();
    // Not waited for by anyone: failing, its amounts stop counting as pending at the end of
    // budget.lua's window (spent, as kept), nothing to undo.
    for (const k of batch) this.stores.redis.budgetScript({ mode: 'settle', offer_id: k.offer_id, at_s: k.at_s, clear: k.clear, give_back: 0 }).catch(() => {});
  }

  /** Tests only: called at each step of making a referral award (a test kills the process there). */
  onReferralStep: ((step: 'committed' | 'awarded') => void) | undefined;

  /**
   * The referrer's award of `intent` (kept as `member` in the referred contact's shard's outbox),
   * once per referred contact, then the intent out of the outbox. A failure leaves the intent for
   * the sweeper (processor/referrals.ts); making it again replays.
   */
  async referral(business: Business, intent: ReferralIntent, member: string, now_ms: number): Promise<void> {
    this.onReferralStep?.('committed');
    // Their guard (first_purchase) was the referred contact's, and its purchase script decided it
    // (it keeps an intent only on that contact's first purchase); the award script, on the
    // referrer's shard, would read it of the referrer and refuse every referrer who has bought.
    // Their per-contact cap counts in the UTC period of when the award is made, as rebuild and a
    // cap added later count it (the ledger's award transaction names no venue, processor/ledger/
    // replay.ts capTimezone); the evaluation gave it the referred purchase's venue-local period.
    const utc = readLocalTime(now_ms, 'UTC');
    const awards = intent.awards.map((a) => ({
      ...a,
      guard: a.guard === 'first_purchase' ? null : a.guard,
      period_key: a.period_key === null || a.limits?.per_contact === undefined ? a.period_key : periodKey(a.limits.per_contact.period, utc),
    }));
    await this.run(business, intent.referrer_id, referralReference(intent.referred_id, intent.purchase_id), 'referral', awards, now_ms, intent.resolution).catch((err: unknown) => {
      // Its referral undone before it was made (referral-undo.ts marked its reference): never made.
      if (!(err instanceof PocketgateError && err.code === 'already_reversed')) throw err;
    });
    this.onReferralStep?.('awarded');
    await this.stores.redis.zRem(referralsKey(this.contacts.shardOf(intent.referred_id)), member);
  }

  /** Sign-up offers for a contact just created (scheme_id null) or just joined to a scheme. */
  async signup(business: Business, contact_id: string, joined_scheme_id: string | null): Promise<void> {
    const rewards = await this.offers.forBusiness(business);
    if (rewards.compiled.signup_offers === 0) return;
    const shard = this.contacts.shardOf(contact_id);
    // The tier is derived from the value units, as a purchase derives it (never stored: a stored
    // tier would be stale once its period ends).
    const [t, s, m, q, y] = await this.stores.redis.hmGet(contactKey(shard, contact_id), ['t', 's', 'um', 'uq', 'uy']);
    const schemes = new Set([...rewards.auto_schemes, ...(s ? (JSON.parse(s) as string[]) : [])]);
    const now_ms = this.stores.clock.now();
    const tier = tierAtUtc(rewards.tiers, { m, q, y }, now_ms, rewards.tier_unit);
    const evaluation = evaluateSignup(rewards.compiled, { tier, tags: t ? (JSON.parse(t) as string[]) : [], schemes, at_ms: now_ms, joined_scheme_id });
    if (evaluation.awards.length === 0) return;
    // Every candidate with the resolution, as a purchase and a referral give them: the script makes
    // the best award each group's budgets and caps admit, not the winner alone or nothing.
    const resolution = rewards.compiled.resolution;
    const awards = resolution === 'all' ? evaluation.awards : evaluation.candidates;
    await this.run(business, contact_id, `signup:${joined_scheme_id ?? 'created'}:${contact_id}`, 'signup', awards, now_ms, resolution);
  }

  /** `resolution`: the business's when `candidates` are every candidate (the script makes the best admitted of each group); without it each stands alone. */
  private async run(business: Business, contact_id: string, reference: string, reason: string, candidates: readonly Award[], now_ms: number, resolution: Resolution = 'all'): Promise<Reply | undefined> {
    const awards = await this.reserve(candidates);
    if (awards.length === 0) return undefined;
    const shard = this.contacts.shardOf(contact_id);
    const id = newId('txn');
    const templates = awardTemplates({ id, business_id: business.id, contact_id, currency: business.currency, now_ms, reason, reference });
    let out: ShardReply<AwardCommitted>;
    const answer: { outcome?: string } = {};
    let items: readonly AwardItem[] = [];
    try {
      const call: AwardCall = { ...rewardsCall(this.stores, business, contact_id, shard, reference, id, now_ms, templates), awards: awardItems(awards, resolution), caps_kept: capsKeptAt(now_ms) };
      items = call.awards;
      out = await shardReply(this.stores, call, answered(this.stores.redis.awardScript(call), answer));
    } catch (err) {
      // Given back only if the script committed nothing (shard.ts mayGiveBack).
      if (mayGiveBack(answer)) await this.release(awards);
      throw err;
    }
    // Committed: a failure from here on must not give back the budget of the awards it made.
    await this.settle(awards, out.committed?.accepted, out.committed?.made);
    // A referrer's award of a purchase dated back past its validity expires now (Purchases.commit);
    // failing, the sweeper expires it (the award stands: nothing to report to its caller).
    await this.expiry.expireMade(shard, contact_id, items, out.committed?.accepted, now_ms).catch(() => false);
    return out;
  }
}

let caps_kept_hour: { readonly hour: number; readonly kept: CapPeriodsKept } | undefined;

/** capPeriodsKeptFrom(now_ms), computed once an hour: every purchase names it, it moves once a day. */
export function capsKeptAt(now_ms: number): CapPeriodsKept {
  const hour = Math.floor(now_ms / 3_600_000);
  if (caps_kept_hour?.hour !== hour) caps_kept_hour = { hour, kept: capPeriodsKeptFrom(now_ms) };
  return caps_kept_hour.kept;
}

const no_offers: ReadonlySet<string> = new Set();

/** Lot field of an award: sorting fields sorts lots by expiry (never-expiring last). */
export function lotField(expires_at: string | null, pool: string | null): string {
  const expiry = expires_at === null ? '9999999999999' : String(Date.parse(expires_at)).padStart(13, '0');
  return `${expiry}|${pool ?? ''}`;
}

/**
 * The commerce lots a transaction's awards (its reply's, as stored) went into, [lot field,
 * amount] each, fields once, earliest expiry first: those that expire, and those that never do of
 * the offers `commerce_offers` (a discount is no credit; an instant_redeem award names no expiry
 * either, and went into the open balance: the reply does not tell the two apart, the offer as it
 * is now does). A claw-back of it takes them first and writes off what of them expired
 * (claw-back.lua). Each lot at what the awards put in it: `settled` (the entry's, journal.ts) is
 * what of them paid commerce debt first, taken off the credits in the reply's order, an
 * instant_redeem's included (lib.lua creditAward). Counted at the awards' amounts until
 * 2026-12-07, a sale whose award paid 912 of debt (lots of 89 and 13) had its lots shared as if
 * they held 1,001 and 13: a refund of a fifth noted 200 and 2 taken from open for them, and the
 * redemption's reversal was refused 422 where it should move nothing (a black-box probe).
 */
export function awardLots(awards: readonly unknown[], commerce_offers: ReadonlySet<string> = no_offers, settled = 0): [string, number][] {
  const lots = new Map<string, number>();
  let debt = settled;
  for (const a of awards as { offer_id?: unknown; kind?: unknown; amount?: unknown; pool?: unknown; expires_at?: unknown }[]) {
    if (a.kind === 'instant_discount' || typeof a.amount !== 'number') continue;
    const settle = Math.min(debt, a.amount);
    debt -= settle;
    const never = a.expires_at === null && typeof a.offer_id === 'string' && commerce_offers.has(a.offer_id);
    if ((typeof a.expires_at !== 'string' && !never) || a.amount === settle) continue;
    const field = lotField(typeof a.expires_at === 'string' ? a.expires_at : null, typeof a.pool === 'string' ? a.pool : null);
    lots.set(field, (lots.get(field) ?? 0) + a.amount - settle);
  }
  // Earliest expiry first: the order a claw-back takes and writes them off in, whatever the reply's order.
  return [...lots].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * Awards as the shard scripts check and apply them (hot/award-items.ts). `resolution`: the
 * business's, when `awards` are a purchase's candidates (every award its offers gave, not only the
 * winners): the script then makes, per group, the best-placed one it admits. Without it each
 * award stands alone.
 */
export function awardItems(awards: readonly Award[], resolution: Resolution = 'all'): AwardItem[] {
  const places = resolutionPlaces(awards, resolution);
  return awards.map((a, i) => {
    const kind = a.kind === 'instant_discount' ? 'd' : a.instant_redeem ? 'o' : 'c';
    const { cap, limit } = capOf(a);
    const { group, place } = places[i]!;
    return { kind, amount: a.amount, lot: lotField(a.expires_at, a.pool), guard: a.guard ?? '', since: a.guard_since_ms, before: a.guard_before_ms ?? 0, cap, limit, json: JSON.stringify(publicAward(a)), group, place };
  });
}

/**
 * The cap counter an award of `offer_id` made at `at_ms` at a venue in `timezone` counted in, by
 * the offer's per-contact limit as it is now ('' for none): capOf's field, from what the ledger
 * or journal holds of a transaction (rebuild's replay, a reversal giving the count back).
 */
export function capFieldAt(offer_id: string, per_contact: { readonly period: 'day' | 'week' | 'month' | 'lifetime' } | null | undefined, at_ms: number, timezone: string): string {
  if (per_contact === null || per_contact === undefined) return '';
  return `${offer_id}|${periodKey(per_contact.period, readLocalTime(at_ms, timezone))}`;
}

/** The contact's cap counter an award counts in ('' for none: no per-contact cap) and its limit. */
function capOf(a: Award): { cap: string; limit: number } {
  const per_contact = a.limits?.per_contact;
  if (a.guard === 'once') return { cap: `${a.offer_id}|once`, limit: 1 };
  return { cap: per_contact !== undefined && a.period_key !== null ? `${a.offer_id}|${a.period_key}` : '', limit: per_contact?.count ?? 0 };
}
