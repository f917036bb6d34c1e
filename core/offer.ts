// Offers: compiled once when they are loaded, evaluated in process for every purchase (and for
// every sign-up). Pure: no I/O, no clock; everything about the contact that the rules read comes
// in the context, and everything the caller must still enforce atomically (per-contact caps,
// budgets, "first purchase" races) goes out with each award.
//
// Goals
//   spend           the whole purchase.
//   product         the items matching conditions.products; percent of the matching items'
//                   total, or the fixed amount once if any item matches.
//   happy_hour      the whole purchase, inside conditions.days_of_week / time_from–time_to in the
//                   venue's timezone. (Day and time conditions are honoured on every purchase
//                   goal, so a happy_hour without them behaves as spend.)
//   birthday        on the contact's birthday (Feb 29 → Feb 28 in common years) in the venue's
//                   timezone, first purchase of that local day only.
//   first_purchase  the contact's first purchase ever.
//   referral        awards the REFERRER, on the referred contact's first purchase.
//   signup          never on purchases: evaluateSignup, when a contact is created or joins a scheme.
//
// Conditions (all must hold; an empty or missing list does not restrict)
//   min_amount      compared with the award's base: the matching items' total for `product`,
//                   the purchase amount otherwise.
//   merchants, venues  the terminal's merchant / venue.
//   products        {skus, families, brands, types}: an item matches when, for every list given,
//                   its field is in that list (brand AND type; any value within one list). On
//                   goals other than `product` it requires at least one matching item, and the
//                   award is still on the whole purchase.
//   days_of_week, time_from, time_to  ISO days 1 = Monday … 7 = Sunday, "HH:MM" local to the
//                   venue; from inclusive, to exclusive. A window whose end is before its start
//                   crosses midnight (22:00–02:00) and belongs to the day it starts on: Friday
//                   22:00–02:00 includes Saturday 01:30. time_from alone runs to midnight,
//                   time_to alone from midnight; equal times mean the whole day.
//   tiers, tags     the contact's tier is one of `tiers`; the contact has at least one of `tags`.
//   scheme_id       the contact is a member of the scheme (ctx.schemes, which the caller fills
//                   with the contact's schemes plus every `auto` scheme of the business).
//   valid_from / valid_to  from inclusive, to exclusive, on the purchase time.
// For `referral` the contact conditions (scheme, tiers, tags) are the referrer's, since the
// referrer is who is rewarded; the purchase conditions are the referred purchase's.
//
// Resolution (`all`, `best`, `best_per_scheme`) is applied per beneficiary: the purchasing
// contact's awards compete among themselves, the referrer's among themselves (a referral bonus
// never suppresses the buyer's cashback, nor the other way round).
//
// Caps, budgets and the order of work. Resolution runs on the candidate awards BEFORE per-contact
// caps and budgets, which only the caller can check (atomically, in Redis). Each award carries
// what that needs: `limits` (the offer's per_contact {count, period} and budget), `period_key`
// (the venue-local day / ISO week / month the per-contact count belongs to) and a `guard` for the
// facts that were read before the atomic step and may have changed since (first purchase, first
// purchase of the day, once per contact).
//
// If a cap, budget or guard refuses the award that won its resolution group, `awards` alone has
// nothing to put in its place. Purchases fall back to the next best (processor/purchase.ts): the
// evaluation also returns every candidate (`candidates`, before resolution), and the purchase
// script is given them all with their places (`resolutionPlaces`), taking per group the
// best-placed award its caps and guards admit; the quote's preview does the same. In `all` mode
// every award is its own group, so there is never anything to fall back to. Whatever is refused,
// recompute the discount of what is finally awarded with `discountOf(awards, amount)`.
//
// Amounts. Percent awards are floor(base × rate), never above the stated rate; then max_award;
// an instant discount never exceeds its base (the matching items, or the purchase). Every award is
// computed on the undiscounted base: a cashback is not reduced by an instant discount of the same
// purchase. Awards to someone who is not at the till (the referrer, a contact signing up) are
// credits: their kind is 'cashback' whatever the offer says.

import { applyBasisPoints, percentToBasisPoints } from './money.ts';
import type { OfferInput } from './schemas.ts';
import { isLeapYear, isoUtc, newLocalTime, nextLocalDay, periodKey, readLocalTime, startOfLocalDay, type LocalTime } from './local-time.ts';

export type Resolution = 'all' | 'best' | 'best_per_scheme';
export type Goal = OfferInput['goal'];
export type OfferLimits = NonNullable<OfferInput['limits']>;

export interface Offer extends OfferInput {
  readonly id: string;
  readonly created_at: string;
}

/**
 * A fact the caller read before its atomic step, which that step must check again:
 * - 'first_purchase': the contact has no purchase recorded yet (first_purchase and referral goals);
 * - 'first_of_day': the contact has no purchase (not reversed) in [`guard_since_ms`,
 *   `guard_before_ms`), the purchase's local day at the venue (birthday);
 * - 'once': this offer has never awarded this contact (signup).
 */
export type Guard = 'first_purchase' | 'first_of_day' | 'once';

export interface Award {
  readonly offer_id: string;
  readonly scheme_id: string | null;
  readonly kind: 'cashback' | 'instant_discount';
  readonly amount: number;
  readonly pool: string | null;
  readonly expires_at: string | null;
  /** Lands in the open balance instead of the commerce balance. */
  readonly instant_redeem: boolean;
  readonly goal: Goal;
  /** Who receives it: the contact of the context, or that contact's referrer. */
  readonly beneficiary: 'contact' | 'referrer';
  /** The referrer's contact id for `beneficiary: 'referrer'`; null otherwise. */
  readonly referrer_id: string | null;
  /** The offer's caps, for the caller to enforce atomically; null when it has none. */
  readonly limits: OfferLimits | null;
  /**
   * The per-contact period this award counts in, when limits.per_contact is set: 'd2026-06-01',
   * 'w2026-23' (ISO week), 'm2026-06' in the venue's timezone (UTC for sign-ups), or 'l'.
   */
  readonly period_key: string | null;
  readonly guard: Guard | null;
  /** For guard 'first_of_day': the first instant (UTC ms) of the purchase's local day; else 0. */
  readonly guard_since_ms: number;
  /** For guard 'first_of_day': the first instant (UTC ms) of the next local day; else 0. */
  readonly guard_before_ms: number;
  /** Position of the offer in creation order: breaks ties (the older offer wins). */
  readonly rank: number;
  /** Set by the processor once the budget is reserved: the second it was reserved in, which settles it (processor/hot/budget.ts). */
  readonly budget_reserved_s?: number;
}

export interface PurchaseItem {
  readonly sku: string;
  readonly family?: string | undefined;
  readonly brand?: string | undefined;
  readonly type?: string | undefined;
  readonly quantity: number;
  /** The line's amount in minor units (all lines add up to the purchase amount). */
  readonly amount: number;
}

/** What the contact conditions (scheme, tiers, tags) read. */
export interface ContactFacts {
  readonly tier: string | null;
  readonly tags: readonly string[];
  /** The contact's scheme ids, including every `auto` scheme of the business. */
  readonly schemes: ReadonlySet<string>;
}

export interface ReferrerContext extends ContactFacts {
  readonly contact_id: string;
}

export interface PurchaseContext extends ContactFacts {
  readonly amount: number;
  /** The purchase's lines; [] when the terminal sent none (product offers then never match). */
  readonly items: readonly PurchaseItem[];
  readonly merchant_id: string | null;
  readonly venue_id: string;
  /** The venue's IANA timezone: day/time conditions, birthdays and cap periods are read in it. */
  readonly timezone: string;
  /** The purchase time (occurred_at, or now). */
  readonly at_ms: number;
  /** 'YYYY-MM-DD' or null when unknown. */
  readonly birth_date: string | null;
  /** True only when it is KNOWN that the contact has never purchased before this purchase. */
  readonly first_purchase: boolean;
  /**
   * Whether the contact has an earlier purchase (not reversed) on the purchase's local day. Only
   * the birthday offers ask (first purchase of that day), so a caller need know it only on the
   * contact's birthday; false on any other day changes nothing.
   */
  readonly purchased_on_that_day: boolean;
  /** The contact's referrer, or null when the contact was not referred (or it is not loaded). */
  readonly referrer: ReferrerContext | null;
}

export interface SignupContext extends ContactFacts {
  readonly at_ms: number;
  /**
   * null: the contact has just been created (promotions and the offers of the schemes in
   * `schemes`, e.g. auto schemes, award). A scheme id: the contact has just joined that scheme
   * (only that scheme's signup offers award).
   */
  readonly joined_scheme_id: string | null;
}

export interface Evaluation {
  /** The contact's awards after resolution, in offer creation order. */
  readonly awards: readonly Award[];
  /** Sum of the instant discounts in `awards`, never more than the purchase amount. */
  readonly discount: number;
  /** Every award the contact qualified for, before resolution (=== awards in `all` mode). */
  readonly candidates: readonly Award[];
  /** Awards to the referrer (referral goal), resolved on their own. */
  readonly referrer_awards: readonly Award[];
  readonly referrer_candidates: readonly Award[];
}

interface ProductFilter {
  readonly skus: ReadonlySet<string> | undefined;
  readonly families: ReadonlySet<string> | undefined;
  readonly brands: ReadonlySet<string> | undefined;
  readonly types: ReadonlySet<string> | undefined;
}

interface CompiledOffer {
  readonly offer: Offer;
  readonly rank: number;
  readonly goal: Goal;
  readonly kind: 'cashback' | 'instant_discount';
  readonly scheme_id: string | null;
  readonly basis_points: number | undefined; // set for percent awards
  readonly fixed: number; // set for fixed awards
  readonly min_amount: number;
  readonly max_award: number;
  readonly merchants: ReadonlySet<string> | undefined;
  readonly venues: ReadonlySet<string> | undefined;
  readonly tiers: ReadonlySet<string> | undefined;
  readonly tags: readonly string[] | undefined;
  readonly products: ProductFilter | undefined;
  /** Has a day or time condition. */
  readonly timed: boolean;
  /** Bit d (1..7) set when ISO day d is allowed. */
  readonly dow_mask: number;
  /** Minutes since local midnight; from inclusive, to exclusive (to may be < from: crosses midnight). */
  readonly from_min: number;
  readonly to_min: number;
  readonly from_ms: number;
  readonly to_ms: number;
  readonly validity_ms: number | undefined;
  readonly limits: OfferLimits | null;
  readonly per_contact_period: 'day' | 'week' | 'month' | 'lifetime' | null;
  readonly pool: string | null;
  readonly instant_redeem: boolean;
  /** Evaluation stamp: an offer reached through several index keys is evaluated once. */
  seen: number;
}

type Bucket = CompiledOffer[];

interface OfferIndex {
  /** Purchase offers restricted by nothing indexable: always candidates. */
  readonly always: Bucket;
  readonly by_venue: Map<string, Bucket>;
  readonly by_merchant: Map<string, Bucket>;
  readonly by_sku: Map<string, Bucket>;
  readonly by_family: Map<string, Bucket>;
  readonly by_brand: Map<string, Bucket>;
  readonly by_type: Map<string, Bucket>;
  readonly by_tier: Map<string, Bucket>;
  readonly by_tag: Map<string, Bucket>;
  readonly by_scheme: Map<string, Bucket>;
  /** by_dow[d] for ISO day d (1..7); index 0 unused. */
  readonly by_dow: readonly Bucket[];
  readonly dow_count: number;
  /** Situational goals: scanned only when the situation arises (rarely). */
  readonly birthday: Bucket;
  readonly first_purchase: Bucket;
  readonly referral: Bucket;
  readonly signup: Bucket;
}

export interface CompiledOffers {
  readonly resolution: Resolution;
  /** Active offers that can award on a purchase (all goals but signup). */
  readonly purchase_offers: number;
  readonly signup_offers: number;
  /** Some offer reads the contact's tier or tags: if none does, the caller need not load them. */
  readonly needs_profile: boolean;
  /** Some offer belongs to a scheme: ctx.schemes matters. */
  readonly needs_schemes: boolean;
  /** Some offer has goal birthday: ctx.birth_date and ctx.purchased_on_that_day matter. */
  readonly needs_birthday: boolean;
  /** Some offer has goal first_purchase or referral: ctx.first_purchase matters. */
  readonly needs_first_purchase: boolean;
  /** Some offer has goal referral: ctx.referrer matters (only on a first purchase). */
  readonly needs_referrer: boolean;
  /** Some offer reads the purchase's items. */
  readonly needs_items: boolean;
  /** Some purchase offer has a budget: its award must be reserved before the shard script. */
  readonly has_budgets: boolean;
  /** Some purchase offer is held to tiers: ctx.tier matters, and moves with the contact's own purchases. */
  readonly needs_tier: boolean;
  readonly index: OfferIndex;
}

const day_ms = 86_400_000;
const all_days = 0b1111_1110;

function setOf(list: readonly string[] | undefined): ReadonlySet<string> | undefined {
  return list === undefined || list.length === 0 ? undefined : new Set(list);
}

function minutesOf(hhmm: string | undefined, otherwise: number): number {
  if (hhmm === undefined) return otherwise;
  const minutes = Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  return Number.isFinite(minutes) ? Math.min(minutes, 1440) : otherwise;
}

function timestampOf(s: string | undefined | null, otherwise: number): number {
  return s === undefined || s === null ? otherwise : Date.parse(s);
}

function add(map: Map<string, Bucket>, key: string, o: CompiledOffer): void {
  const bucket = map.get(key);
  if (bucket === undefined) map.set(key, [o]);
  else bucket.push(o);
}

function compileOne(offer: Offer, rank: number): CompiledOffer | undefined {
  const c = offer.conditions ?? {};
  const p = c.products;
  const products: ProductFilter | undefined =
    p === undefined ? undefined : { skus: setOf(p.skus), families: setOf(p.families), brands: setOf(p.brands), types: setOf(p.types) };
  const has_products = products !== undefined && (products.skus ?? products.families ?? products.brands ?? products.types) !== undefined;
  let dow_mask = 0;
  for (const d of c.days_of_week ?? []) if (Number.isInteger(d) && d >= 1 && d <= 7) dow_mask |= 1 << d;
  const days_given = c.days_of_week !== undefined && c.days_of_week.length > 0;
  if (!days_given) dow_mask = all_days;
  const from_min = minutesOf(c.time_from, 0);
  const to_min = minutesOf(c.time_to, 1440);
  const from_ms = timestampOf(offer.valid_from, Number.NEGATIVE_INFINITY);
  const to_ms = timestampOf(offer.valid_to, Number.POSITIVE_INFINITY);
  if (Number.isNaN(from_ms) || Number.isNaN(to_ms)) return undefined; // unreadable window: never valid
  const basis_points = 'percent' in offer.award ? percentToBasisPoints(offer.award.percent) : undefined;
  const limits = offer.limits ?? null;
  return {
    offer,
    rank,
    goal: offer.goal,
    kind: offer.kind,
    scheme_id: offer.scheme_id ?? null,
    basis_points: basis_points ?? ('percent' in offer.award ? 0 : undefined),
    fixed: 'fixed' in offer.award ? offer.award.fixed : 0,
    min_amount: c.min_amount ?? 0,
    max_award: offer.max_award ?? Number.MAX_SAFE_INTEGER,
    merchants: setOf(c.merchants),
    venues: setOf(c.venues),
    tiers: setOf(c.tiers),
    tags: c.tags !== undefined && c.tags.length > 0 ? c.tags : undefined,
    products: has_products ? products : undefined,
    timed: days_given || c.time_from !== undefined || c.time_to !== undefined,
    dow_mask,
    from_min,
    to_min,
    from_ms,
    to_ms,
    validity_ms: offer.validity_days === undefined ? undefined : offer.validity_days * day_ms,
    limits,
    per_contact_period: limits?.per_contact?.period ?? null,
    pool: offer.pool ?? null,
    instant_redeem: offer.instant_redeem ?? false,
    seen: 0,
  };
}

/** Files a purchase offer under its most selective indexable condition (exactly one family). */
function indexOne(ix: OfferIndex, o: CompiledOffer): void {
  if (o.venues !== undefined) {
    for (const v of o.venues) add(ix.by_venue, v, o);
    return;
  }
  if (o.merchants !== undefined) {
    for (const m of o.merchants) add(ix.by_merchant, m, o);
    return;
  }
  const p = o.products;
  if (p !== undefined) {
    // Every given list must match, so any one of them finds every candidate.
    const [map, keys] =
      p.skus !== undefined ? [ix.by_sku, p.skus] : p.families !== undefined ? [ix.by_family, p.families] : p.brands !== undefined ? [ix.by_brand, p.brands] : [ix.by_type, p.types!];
    for (const k of keys) add(map, k, o);
    return;
  }
  if (o.tiers !== undefined) {
    for (const t of o.tiers) add(ix.by_tier, t, o);
    return;
  }
  if (o.tags !== undefined) {
    for (const t of new Set(o.tags)) add(ix.by_tag, t, o);
    return;
  }
  if (o.scheme_id !== null) {
    add(ix.by_scheme, o.scheme_id, o);
    return;
  }
  if (o.timed) {
    // A window crossing midnight also runs in the early hours of the next day.
    let mask = o.dow_mask;
    if (o.from_min > o.to_min) mask |= ((o.dow_mask << 1) & all_days) | ((o.dow_mask >> 7) & 1 ? 1 << 1 : 0);
    if ((mask & all_days) !== all_days) {
      for (let d = 1; d <= 7; d++) if (mask & (1 << d)) ix.by_dow[d]!.push(o);
      return;
    }
  }
  ix.always.push(o);
}

function emptyIndex(): OfferIndex {
  return {
    always: [],
    by_venue: new Map(),
    by_merchant: new Map(),
    by_sku: new Map(),
    by_family: new Map(),
    by_brand: new Map(),
    by_type: new Map(),
    by_tier: new Map(),
    by_tag: new Map(),
    by_scheme: new Map(),
    by_dow: [[], [], [], [], [], [], [], []],
    dow_count: 0,
    birthday: [],
    first_purchase: [],
    referral: [],
    signup: [],
  };
}

export function compileOffers(offers: readonly Offer[], resolution: Resolution): CompiledOffers {
  // Oldest first, so awards are listed in the order the offers were made and `best` breaks ties
  // the same way in every process. created_at has whole seconds only: offers made in the same
  // second keep the caller's order (a stable sort), and Offers.list gives them in creation
  // order at full precision. (Breaking those ties by id would order them at random.)
  const sorted = offers.filter((o) => o.active !== false);
  sorted.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
  const ix = emptyIndex();
  let purchase_offers = 0;
  let needs_profile = false;
  let needs_schemes = false;
  let needs_items = false;
  let has_budgets = false;
  let needs_tier = false;
  let rank = 0;
  for (const offer of sorted) {
    const o = compileOne(offer, rank++);
    if (o === undefined) continue;
    if (o.tiers !== undefined || o.tags !== undefined) needs_profile = true;
    if (o.scheme_id !== null) needs_schemes = true;
    switch (o.goal) {
      case 'signup':
        ix.signup.push(o);
        continue;
      case 'birthday':
        ix.birthday.push(o);
        break;
      case 'first_purchase':
        ix.first_purchase.push(o);
        break;
      case 'referral':
        ix.referral.push(o);
        break;
      default:
        indexOne(ix, o);
        break;
    }
    purchase_offers++;
    if (o.products !== undefined || o.goal === 'product') needs_items = true;
    if (o.limits?.budget !== undefined) has_budgets = true;
    if (o.tiers !== undefined) needs_tier = true;
  }
  let dow_count = 0;
  for (const b of ix.by_dow) dow_count += b.length;
  return {
    resolution,
    purchase_offers,
    signup_offers: ix.signup.length,
    needs_profile,
    needs_schemes,
    needs_birthday: ix.birthday.length > 0,
    needs_first_purchase: ix.first_purchase.length > 0 || ix.referral.length > 0,
    needs_referrer: ix.referral.length > 0,
    needs_items,
    has_budgets,
    needs_tier,
    index: { ...ix, dow_count },
  };
}

// ---------------------------------------------------------------------------------------------
// Evaluation. Synchronous, so module-level scratch state is safe: the stamp that dedups offers
// reached through several index keys, the lazily computed local time, the candidates found.

let epoch = 0;
let local_epoch = -1;
const local: LocalTime = newLocalTime();
let day_start_ms = 0;
let day_end_ms = 0;
const scratch: Award[] = [];
const empty: readonly Award[] = Object.freeze([]);
const no_awards: Evaluation = Object.freeze({ awards: empty, discount: 0, candidates: empty, referrer_awards: empty, referrer_candidates: empty });

// Offers share a few validity periods: each expiry string is made once per purchase time.
let expiry_at = Number.NaN;
const expiries = new Map<number, string>();

function expiresAt(at_ms: number, validity_ms: number): string {
  if (at_ms !== expiry_at) {
    expiries.clear();
    expiry_at = at_ms;
  }
  let s = expiries.get(validity_ms);
  if (s === undefined) {
    // Whole seconds, as the transaction's created_at is written (its second, the milliseconds
    // dropped): an award of 90 days expires 90 days after the created_at its reply shows. Until
    // 2026-12-04 it was rounded up, one second later than that but on a whole second (a
    // black-box probe). A quote and the purchase made at once after it name the same expiry
    // (TERMINAL.md) unless a second ends in between. Written as the contract writes timestamps,
    // and as the wallet lists the same expiry: '…:05Z'.
    s = isoUtc(Math.floor((at_ms + validity_ms) / 1000) * 1000).replace('.000Z', 'Z');
    expiries.set(validity_ms, s);
  }
  return s;
}

// Per-contact period keys of the current evaluation, made once each.
let period_epoch = -1;
let day_key: string | null = null;
let week_key: string | null = null;
let month_key: string | null = null;

function periodKeyOf(period: 'day' | 'week' | 'month' | 'lifetime', ctx: PurchaseContext): string {
  if (period === 'lifetime') return 'l';
  if (period_epoch !== epoch) {
    period_epoch = epoch;
    day_key = week_key = month_key = null;
  }
  switch (period) {
    case 'day':
      return (day_key ??= periodKey('day', localOf(ctx)));
    case 'week':
      return (week_key ??= periodKey('week', localOf(ctx)));
    case 'month':
      return (month_key ??= periodKey('month', localOf(ctx)));
  }
}

function localOf(ctx: PurchaseContext): LocalTime {
  if (local_epoch !== epoch) {
    readLocalTime(ctx.at_ms, ctx.timezone, local);
    local_epoch = epoch;
  }
  return local;
}

function inWindow(o: CompiledOffer, t: LocalTime): boolean {
  const m = t.minute;
  const from = o.from_min;
  const to = o.to_min;
  let day = t.dow;
  if (from < to) {
    if (m < from || m >= to) return false;
  } else if (from > to) {
    if (m < to) day = day === 1 ? 7 : day - 1; // the early hours belong to yesterday's window
    else if (m < from) return false;
  }
  return (o.dow_mask & (1 << day)) !== 0;
}

function hasAnyTag(wanted: readonly string[], tags: readonly string[]): boolean {
  for (let i = 0; i < wanted.length; i++) if (tags.includes(wanted[i]!)) return true;
  return false;
}

function admitsContact(o: CompiledOffer, who: ContactFacts): boolean {
  if (o.scheme_id !== null && !who.schemes.has(o.scheme_id)) return false;
  if (o.tiers !== undefined && (who.tier === null || !o.tiers.has(who.tier))) return false;
  if (o.tags !== undefined && !hasAnyTag(o.tags, who.tags)) return false;
  return true;
}

function itemMatches(p: ProductFilter, item: PurchaseItem): boolean {
  if (p.skus !== undefined && !p.skus.has(item.sku)) return false;
  if (p.families !== undefined && (item.family === undefined || !p.families.has(item.family))) return false;
  if (p.brands !== undefined && (item.brand === undefined || !p.brands.has(item.brand))) return false;
  if (p.types !== undefined && (item.type === undefined || !p.types.has(item.type))) return false;
  return true;
}

/** The amount the award is computed on, or -1 when the purchase does not qualify. */
function baseOf(o: CompiledOffer, ctx: PurchaseContext): number {
  let base = ctx.amount;
  const p = o.products;
  if (p !== undefined) {
    let total = 0;
    let any = false;
    const items = ctx.items;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (itemMatches(p, item)) {
        any = true;
        total += item.amount;
      }
    }
    if (!any) return -1;
    if (o.goal === 'product') base = total;
  } else if (o.goal === 'product') {
    // A product offer without a product list applies to every item, and needs items.
    const items = ctx.items;
    if (items.length === 0) return -1;
    let total = 0;
    for (let i = 0; i < items.length; i++) total += items[i]!.amount;
    base = total;
  }
  return base < o.min_amount ? -1 : base;
}

function admitsPurchase(o: CompiledOffer, ctx: PurchaseContext): boolean {
  if (ctx.at_ms < o.from_ms || ctx.at_ms >= o.to_ms) return false;
  if (o.venues !== undefined && !o.venues.has(ctx.venue_id)) return false;
  if (o.merchants !== undefined && (ctx.merchant_id === null || !o.merchants.has(ctx.merchant_id))) return false;
  if (o.timed && !inWindow(o, localOf(ctx))) return false;
  return true;
}

function makeAward(
  o: CompiledOffer,
  amount: number,
  at_ms: number,
  beneficiary: 'contact' | 'referrer',
  referrer_id: string | null,
  period_key: string | null,
  guard: Guard | null,
  guard_since_ms: number,
  guard_before_ms = 0,
): Award {
  // Someone not at the till cannot be given a discount: their award is a credit.
  const kind = beneficiary === 'referrer' || o.goal === 'signup' ? 'cashback' : o.kind;
  // Only money in the commerce balance expires: an instant discount is taken off at once, and an
  // instant_redeem award is open money, which never expires.
  const expires = kind === 'cashback' && !o.instant_redeem && o.validity_ms !== undefined;
  return {
    offer_id: o.offer.id,
    scheme_id: o.scheme_id,
    kind,
    amount,
    pool: o.pool,
    expires_at: expires ? expiresAt(at_ms, o.validity_ms!) : null,
    instant_redeem: o.instant_redeem,
    goal: o.goal,
    beneficiary,
    referrer_id,
    limits: o.limits,
    period_key,
    guard,
    guard_since_ms,
    guard_before_ms,
    rank: o.rank,
  };
}

function amountOf(o: CompiledOffer, base: number, discount_cap: boolean): number {
  let amount = o.basis_points !== undefined ? applyBasisPoints(base, o.basis_points) : o.fixed;
  if (amount > o.max_award) amount = o.max_award;
  // A discount never takes more off than what it applies to (the matching items, or the purchase).
  if (discount_cap && o.kind === 'instant_discount' && amount > base) amount = base;
  return amount;
}

/** Evaluates one purchase offer for the contact of `ctx`, pushing its award into scratch. */
function tryOffer(o: CompiledOffer, ctx: PurchaseContext): void {
  if (!admitsPurchase(o, ctx) || !admitsContact(o, ctx)) return;
  const base = baseOf(o, ctx);
  if (base < 0) return;
  const amount = amountOf(o, base, true);
  if (amount <= 0) return;
  const period = o.per_contact_period;
  const period_key = period === null ? null : periodKeyOf(period, ctx);
  let guard: Guard | null = null;
  let since = 0;
  let before = 0;
  if (o.goal === 'first_purchase') guard = 'first_purchase';
  else if (o.goal === 'birthday') {
    guard = 'first_of_day';
    since = day_start_ms;
    before = day_end_ms;
  }
  scratch.push(makeAward(o, amount, ctx.at_ms, 'contact', null, period_key, guard, since, before));
}

function visit(bucket: Bucket | undefined, ctx: PurchaseContext): void {
  if (bucket === undefined) return;
  const stamp = epoch;
  for (let i = 0; i < bucket.length; i++) {
    const o = bucket[i]!;
    if (o.seen === stamp) continue;
    o.seen = stamp;
    tryOffer(o, ctx);
  }
}

/** Scratch → a fresh array in rank (offer creation) order; scratch is left empty. */
function takeScratch(): Award[] {
  const out = scratch.slice();
  scratch.length = 0;
  // Insertion sort: a handful of awards, nearly always already in order.
  for (let i = 1; i < out.length; i++) {
    const a = out[i]!;
    let j = i - 1;
    while (j >= 0 && out[j]!.rank > a.rank) {
      out[j + 1] = out[j]!;
      j--;
    }
    out[j + 1] = a;
  }
  return out;
}

/** Month-day of 'YYYY-MM-DD' is today's local date (a Feb 29 birthday counts on Feb 28 in common years). */
/** Whether `t` (a local date) is the birthday of someone born on `birth_date` (YYYY-MM-DD); 29 February's is 28 February in other years. */
export function isBirthday(birth_date: string, t: LocalTime): boolean {
  if (birth_date.length !== 10) return false;
  const month = Number(birth_date.slice(5, 7));
  const day = Number(birth_date.slice(8, 10));
  if (month === t.month && day === t.day) return true;
  return month === 2 && day === 29 && t.month === 2 && t.day === 28 && !isLeapYear(t.year);
}

/**
 * The birth dates' month and day ('MM-DD', '|' between two) whose birthday `t` is: its own, and on
 * 28 February of a year that is not a leap year 29 February's too (isBirthday).
 */
export function birthDaysOn(t: LocalTime): string {
  const md = `${t.month < 10 ? '0' : ''}${t.month}-${t.day < 10 ? '0' : ''}${t.day}`;
  return t.month === 2 && t.day === 28 && !isLeapYear(t.year) ? `${md}|02-29` : md;
}

export function evaluatePurchase(compiled: CompiledOffers, ctx: PurchaseContext): Evaluation {
  if (compiled.purchase_offers === 0) return no_awards;
  const ix = compiled.index;
  epoch++;
  scratch.length = 0;

  visit(ix.always, ctx);
  if (ix.by_venue.size > 0) visit(ix.by_venue.get(ctx.venue_id), ctx);
  if (ix.by_merchant.size > 0 && ctx.merchant_id !== null) visit(ix.by_merchant.get(ctx.merchant_id), ctx);
  const items = ctx.items;
  if (items.length > 0) {
    const skus = ix.by_sku.size > 0;
    const families = ix.by_family.size > 0;
    const brands = ix.by_brand.size > 0;
    const types = ix.by_type.size > 0;
    if (skus || families || brands || types) {
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        if (skus) visit(ix.by_sku.get(item.sku), ctx);
        if (families && item.family !== undefined) visit(ix.by_family.get(item.family), ctx);
        if (brands && item.brand !== undefined) visit(ix.by_brand.get(item.brand), ctx);
        if (types && item.type !== undefined) visit(ix.by_type.get(item.type), ctx);
      }
    }
  }
  if (ix.by_tier.size > 0 && ctx.tier !== null) visit(ix.by_tier.get(ctx.tier), ctx);
  if (ix.by_tag.size > 0) for (let i = 0; i < ctx.tags.length; i++) visit(ix.by_tag.get(ctx.tags[i]!), ctx);
  if (ix.by_scheme.size > 0 && ctx.schemes.size > 0) {
    if (ctx.schemes.size <= ix.by_scheme.size) for (const s of ctx.schemes) visit(ix.by_scheme.get(s), ctx);
    else for (const [s, bucket] of ix.by_scheme) if (ctx.schemes.has(s)) visit(bucket, ctx);
  }
  if (ix.dow_count > 0) visit(ix.by_dow[localOf(ctx).dow], ctx);
  if (ctx.first_purchase && ix.first_purchase.length > 0) visit(ix.first_purchase, ctx);
  if (ix.birthday.length > 0 && !ctx.purchased_on_that_day && ctx.birth_date !== null && isBirthday(ctx.birth_date, localOf(ctx))) {
    // The day's bounds go with the award: the shard script asks again, atomically, whether the
    // day has a purchase (tryOffer, guard first_of_day).
    day_start_ms = startOfLocalDay(ctx.at_ms, ctx.timezone);
    day_end_ms = nextLocalDay(day_start_ms, ctx.timezone);
    visit(ix.birthday, ctx);
  }

  const candidates = scratch.length === 0 ? empty : takeScratch();
  let referrer_candidates: readonly Award[] = empty;
  if (ctx.first_purchase && ctx.referrer !== null && ix.referral.length > 0) {
    referrer_candidates = referralCandidates(ix.referral, ctx, ctx.referrer);
  }
  if (candidates.length === 0 && referrer_candidates.length === 0) return no_awards;

  const awards = resolveAwards(candidates, compiled.resolution);
  const referrer_awards = resolveAwards(referrer_candidates, compiled.resolution);
  return { awards, discount: discountOf(awards, ctx.amount), candidates, referrer_awards, referrer_candidates };
}

function referralCandidates(bucket: Bucket, ctx: PurchaseContext, referrer: ReferrerContext): readonly Award[] {
  for (const o of bucket) {
    if (!admitsPurchase(o, ctx) || !admitsContact(o, referrer)) continue;
    const base = baseOf(o, ctx);
    if (base < 0) continue;
    const amount = amountOf(o, base, false);
    if (amount <= 0) continue;
    const period = o.per_contact_period;
    const period_key = period === null ? null : periodKeyOf(period, ctx);
    scratch.push(makeAward(o, amount, ctx.at_ms, 'referrer', referrer.contact_id, period_key, 'first_purchase', 0));
  }
  return scratch.length === 0 ? empty : takeScratch();
}

/**
 * Signup awards, when a contact is created (joined_scheme_id null) or joins a scheme. Only the
 * validity window, scheme and the contact's tiers and tags are checked: there is no purchase, so
 * purchase conditions (amounts, merchants, venues, products, days and times) do not apply, a
 * percent award has nothing to be a percent of (it awards nothing: make signup awards fixed), and
 * every award is a credit (kind 'cashback'). Per-contact periods are read in UTC.
 */
export function evaluateSignup(compiled: CompiledOffers, ctx: SignupContext): Evaluation {
  const bucket = compiled.index.signup;
  if (bucket.length === 0) return no_awards;
  scratch.length = 0;
  let lt: LocalTime | undefined;
  for (const o of bucket) {
    if (ctx.at_ms < o.from_ms || ctx.at_ms >= o.to_ms) continue;
    if (ctx.joined_scheme_id !== null ? o.scheme_id !== ctx.joined_scheme_id : o.scheme_id !== null && !ctx.schemes.has(o.scheme_id)) continue;
    if (o.tiers !== undefined && (ctx.tier === null || !o.tiers.has(ctx.tier))) continue;
    if (o.tags !== undefined && !hasAnyTag(o.tags, ctx.tags)) continue;
    const amount = o.basis_points !== undefined ? 0 : Math.min(o.fixed, o.max_award);
    if (amount <= 0) continue;
    const period = o.per_contact_period;
    let period_key: string | null = null;
    if (period !== null) period_key = period === 'lifetime' ? 'l' : periodKey(period, (lt ??= readLocalTime(ctx.at_ms, 'UTC')));
    scratch.push(makeAward(o, amount, ctx.at_ms, 'contact', null, period_key, 'once', 0));
  }
  if (scratch.length === 0) return no_awards;
  const candidates = takeScratch();
  const awards = resolveAwards(candidates, compiled.resolution);
  return { awards, discount: 0, candidates, referrer_awards: empty, referrer_candidates: empty };
}

// ---------------------------------------------------------------------------------------------
// Resolution

/** Sum of the instant discounts among `awards`, at most `amount`. */
export function discountOf(awards: readonly Award[], amount: number): number {
  let discount = 0;
  for (let i = 0; i < awards.length; i++) {
    const a = awards[i]!;
    if (a.kind === 'instant_discount') discount += a.amount;
  }
  return discount > amount ? amount : discount;
}

/**
 * `awards` as a purchase makes them with `room` (the price less what the wallet pays) to take
 * off: each instant discount, in order, for what is left of the room, and none once nothing is
 * (lib.lua applyAwards does the same), so that the discounts add up to the purchase's discount.
 */
export function fitDiscounts(awards: readonly Award[], room: number): Award[] {
  const out: Award[] = [];
  let left = room;
  for (const a of awards) {
    if (a.kind !== 'instant_discount') out.push(a);
    else if (left > 0) {
      out.push(a.amount <= left ? a : { ...a, amount: left });
      left -= Math.min(a.amount, left);
    }
  }
  return out;
}

/**
 * `awards` as a purchase makes them into a wallet with `room` left under wallet_balance_max (core/
 * money.ts): each credit (cashback, instant_redeem), in order, for what is left of the room, and
 * none once nothing is (lib.lua applyAwards does the same); instant discounts take nothing from it.
 */
export function fitWallet(awards: readonly Award[], room: number): Award[] {
  const out: Award[] = [];
  let left = room;
  for (const a of awards) {
    if (a.kind === 'instant_discount') out.push(a);
    else if (left > 0) {
      out.push(a.amount <= left ? a : { ...a, amount: left });
      left -= Math.min(a.amount, left);
    }
  }
  return out;
}

/** a beats b: larger amount, or the same amount and the older offer. */
function beats(a: Award, b: Award): boolean {
  return a.amount > b.amount || (a.amount === b.amount && a.rank < b.rank);
}

/**
 * The winners among `candidates` (in rank order, as evaluate* return them) under `resolution`,
 * leaving out the offers in `refused` (those a cap, budget or guard turned down): with `refused`
 * this gives the fallback, i.e. the next best of each group.
 */
export function resolveAwards(candidates: readonly Award[], resolution: Resolution, refused?: ReadonlySet<string>): readonly Award[] {
  const n = candidates.length;
  if (n === 0) return empty;
  if (refused === undefined && (resolution === 'all' || n === 1)) return candidates;
  const admitted = (a: Award): boolean => refused === undefined || !refused.has(a.offer_id);
  if (resolution === 'all') return candidates.filter(admitted);
  if (resolution === 'best') {
    let best: Award | undefined;
    for (let i = 0; i < n; i++) {
      const a = candidates[i]!;
      if (admitted(a) && (best === undefined || beats(a, best))) best = a;
    }
    return best === undefined ? empty : [best];
  }
  // best_per_scheme: promotions (scheme_id null) are one group.
  const winners = new Map<string | null, Award>();
  for (let i = 0; i < n; i++) {
    const a = candidates[i]!;
    if (!admitted(a)) continue;
    const current = winners.get(a.scheme_id);
    if (current === undefined || beats(a, current)) winners.set(a.scheme_id, a);
  }
  const out: Award[] = [];
  for (let i = 0; i < n; i++) {
    const a = candidates[i]!;
    if (winners.get(a.scheme_id) === a) out.push(a);
  }
  return out;
}

export interface AwardGroup {
  /** 'offer:<id>' in `all` mode, 'best', or 'scheme:<id>' / 'promotions' in best_per_scheme. */
  readonly key: string;
  /** Best first: the caller awards the first one its caps admit, or none. */
  readonly ranked: readonly Award[];
}

/**
 * For an atomic step that falls back (the purchase script, the quote's preview): each award's
 * resolution group and its place in it, 1 the best (rankedGroups' order). Group 0 (`all` mode):
 * the award stands alone. The step awards, in each group, the best-placed award its caps, guards
 * and budgets admit, and every admitted award of group 0.
 */
export function resolutionPlaces(awards: readonly Award[], resolution: Resolution): { group: number; place: number }[] {
  if (resolution === 'all') return awards.map(() => ({ group: 0, place: 0 }));
  const out: { group: number; place: number }[] = awards.map(() => ({ group: 0, place: 0 }));
  const index = new Map(awards.map((a, i) => [a, i]));
  rankedGroups(awards, resolution).forEach((g, gi) => g.ranked.forEach((a, pi) => (out[index.get(a)!] = { group: gi + 1, place: pi + 1 })));
  return out;
}

/** The resolution groups of `candidates`, each ranked best first: for a caller that falls back. */
export function rankedGroups(candidates: readonly Award[], resolution: Resolution): AwardGroup[] {
  if (resolution === 'all') return candidates.map((a) => ({ key: `offer:${a.offer_id}`, ranked: [a] }));
  const groups = new Map<string, Award[]>();
  for (const a of candidates) {
    const key = resolution === 'best' ? 'best' : a.scheme_id === null ? 'promotions' : `scheme:${a.scheme_id}`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, [a]);
    else g.push(a);
  }
  const out: AwardGroup[] = [];
  for (const [key, ranked] of groups) out.push({ key, ranked: ranked.sort((a, b) => (beats(a, b) ? -1 : beats(b, a) ? 1 : 0)) });
  return out;
}
