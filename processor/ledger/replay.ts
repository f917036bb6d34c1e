// A contact's hot state derived from its ledger history, for rebuild: the commerce lots (with
// their expiries and pools) and the claw-back debt, purchase history, tier units and per-contact
// cap counters, as the shard scripts (hot/lib.lua) would hold them after the same transactions in
// the same order (journal order: the order the contact's shard applied them). Pure: no I/O.
//
// What the ledger holds and how each is derived:
// - lots: an award into the commerce balance settles debt first and puts the rest into its lot
//   (expires_at and pool of the award, in its reply); a redemption takes the lots its entry names;
//   its reversal gives them back; a claw-back (refund, reversal of a purchase) takes from the lots
//   its entry names (before 2026-12-03: earliest first) what its posting took from the commerce
//   account, the rest being debt; an expiry takes every lot expired at its time.
// - which cashback went to the commerce balance and which to the open one (instant_redeem) is
//   not in the reply: the offer says (as it is now), checked against the transaction's postings.
// - purchase history, tier units and cap periods: a purchase's time is its occurred_at, as the
//   scripts used it (in the ledger since migration 008; before, when it was processed).
// - cap counters: each accepted award of an offer with a per-contact limit (as the offer is now)
//   counts in its period at the venue; sign-up awards once; referral awards in UTC.

import { awardLots, capFieldAt, lotField } from '../awards.ts';
import { expired_lots_kept_ms, owed_lots_kept_ms } from '../hot/keys.ts';
import { lotShares, proportion } from '../../core/money.ts';
import { base32Time, base32TimeMs } from '../../core/ids.ts';
import { TierUnits, type PeriodKind } from '../../core/tier.ts';
import { readLocalTime } from '../../core/local-time.ts';
import { isBirthday } from '../../core/offer.ts';
import type { Posting } from '../journal.ts';

export interface HistoryAward {
  readonly offer_id: string;
  readonly kind: string;
  readonly amount: number;
  readonly pool: string | null;
  readonly expires_at: string | null;
}

/** claw-back.lua WANTING_LOT: the lot of a note of what a claw-back took wanting other lots. */
const wanting_lot = '~';

/** A ledger transaction of the contact, as rebuild reads it. */
export interface HistoryRow {
  readonly id: string;
  readonly kind: string;
  readonly amount: number;
  readonly created_ms: number;
  /** When its offers, caps and tier period were decided: a purchase's occurred_at (created_ms when the ledger has none). */
  readonly at_ms: number;
  readonly original_id: string | null;
  /** A purchase's or award's accepted awards (its reply's). */
  readonly awards: readonly HistoryAward[] | null;
  /** An award transaction's reason: 'signup' or 'referral'. */
  readonly reason: string | null;
  /** The lots a redemption took, or a refund's or reversal's claw-back (null: none, or not recorded, before 2026-12-03): [lot field, amount] each. */
  readonly lots: readonly (readonly [string, number])[] | null;
  /** A redemption's `since`, where redeem.lua raised it past its id's time (journal.ts JournalEntry.since); null or absent: its id's. */
  readonly since?: string | null;
  /** A refund's or reversal's: what of its claw-back had expired already (its reply's award_expired; 0 before 2026-12-03). */
  readonly award_expired: number;
  /**
   * A refund's or reversal's: what its claw-back noted owed (its entry's, claw-back.lua noteOwed);
   * null or absent before 2026-12-06, when a claw-back noted every lack of its purchase's lots.
   */
  readonly owed?: number | null;
  /** A refund's or reversal's: what of its purchase's redeemed lots' shares it took from other lots instead (its entry's, claw-back.lua noteInstead). */
  readonly instead?: readonly (readonly [string, string, number])[] | null;
  /**
   * A purchase's or award's: what of its awards paid commerce debt (its entry's, journal.ts);
   * null or absent when none did, and before 2026-12-07, when its claw-backs counted its lots at
   * the awards' amounts.
   */
  readonly settled?: number | null;
  readonly postings: readonly Posting[];
  /** The venue's timezone (terminal transactions). */
  readonly timezone: string | null;
}

export interface OfferFacts {
  readonly instant_redeem: boolean;
  readonly per_contact: { readonly count: number; readonly period: 'day' | 'week' | 'month' | 'lifetime' } | null;
}

export interface ReplayContext {
  readonly contact_id: string;
  readonly currency: string;
  readonly offers: ReadonlyMap<string, OfferFacts>;
  /**
   * The period kinds of the business's tiers (units counted in minor units); null without tiers.
   * Every purchase counts, whenever the kind came (processor/tier-seed.ts counts those before it).
   */
  readonly tiers: { readonly kinds: readonly PeriodKind[] } | null;
  /** The contact's birth date (YYYY-MM-DD): its purchases on its birthday are kept by time (purchase_times). */
  readonly birth_date?: string | null;
}

export interface ContactHot {
  readonly lots: [string, number][];
  readonly debt: number;
  /** Purchases not reversed (hot/purchase.lua's `fp`): none, and the next purchase is the contact's first. */
  readonly purchases: number;
  /** Its purchases reversed (hot/reversal.lua's `rv`, only ever counted up; birth-date.lua reads it beside `fp`). */
  readonly reversed_purchases: number;
  /** Its purchases on its birthday (the venue's day), not reversed: [transaction id, occurred_at ms] (hot/keys.ts purchaseTimesKey). */
  readonly purchase_times: [string, number][];
  /** When the latest birthday purchase was processed (0: none): the script's PEXPIRE counts from it. */
  readonly purchase_times_kept_from_ms: number;
  /**
   * The purchase that referred (purchase.lua's `rd`): the first made with no purchase standing,
   * until a reversal leaves none standing again (reversal.lua undoReferral); null: none, and the
   * contact's referrer (`rf`) refers with its next first purchase. Which first purchases referred
   * is the hot path's to know (a referrer the offers awarded nothing made no intent): this takes
   * every one as referring, so a reversal after a rebuild may undo a referral that made no award,
   * which finds none to reverse.
   */
  readonly referring: string | null;
  /** 'um' | 'uq' | 'uy' → '<period key>|<units>|<previous units>'. */
  readonly units: [string, string][];
  readonly caps: [string, number][];
  /** The earliest lot expiry that is not "never", for the expiry index; null if none. */
  readonly earliest_expiry: number | null;
  /** What expired of each lot and no claw-back wrote off (hot/keys.ts expiredLotsKey), and until when the script keeps it (0: nothing). */
  readonly expired_lots: [string, number][];
  readonly expired_lots_kept_until_ms: number;
  /** What claw-backs wanted of each lot and found gone, not expired (hot/keys.ts owedLotsKey), and until when the script keeps it (0: nothing). */
  /** When the contact last redeemed: the redemption's id's 10 time characters (the contact's `lr`, redeem.lua); null: never. */
  readonly redeemed_at: string | null;
  readonly owed_lots: [string, number][];
  /** The same key's notes of other lots taken instead (claw-back.lua noteInstead): field → '[[other lot, amount], ...]'. */
  readonly instead_lots: [string, string][];
  readonly owed_lots_kept_until_ms: number;
}

/** What decides the cap counter an accepted award counts in. */
export interface CapFacts {
  readonly kind: string;
  /** An award transaction's reason: 'signup' or 'referral'. */
  readonly reason: string | null;
  /** When its offers were decided (a purchase's occurred_at). */
  readonly at_ms: number;
  /** The venue's timezone (terminal transactions). */
  readonly timezone: string | null;
}

/** The timezone an award's per-contact period is read in: the venue's; UTC for award transactions (referrals). */
export function capTimezone(t: CapFacts): string {
  return t.kind === 'award' ? 'UTC' : (t.timezone ?? 'UTC');
}

/**
 * The per-contact cap counter ('<offer id>|<period key>', hot/keys.ts capsKey) an accepted award
 * of `offer_id` counted in, as the scripts keep it: sign-up awards once, others in the period of
 * `per_contact` (the offer's limit); undefined for none. Rebuild's replay and the seed of a cap
 * added later (processor/limit-seed.ts) both name fields by it.
 */
export function capField(offer_id: string, per_contact: OfferFacts['per_contact'], t: CapFacts): string | undefined {
  if (t.kind === 'award' && t.reason === 'signup') return `${offer_id}|once`;
  if (per_contact === null) return undefined;
  return capFieldAt(offer_id, per_contact, t.at_ms, capTimezone(t));
}

const never_ms = 9_999_999_999_999;

/** Lots as lib.lua lotsJson writes them: [[field, amount], ...], '/' escaped as Redis's cjson does. */
function lotsJson(lots: readonly (readonly [string, number])[]): string {
  return `[${lots.map(([field, amount]) => `[${JSON.stringify(field).replaceAll('/', '\\/')},${amount}]`).join(',')}]`;
}
const warnings_max = 20;

/**
 * A contact's lot fields in the order the scripts take lots (a field's order: earliest expiry
 * first), as a min-heap: an expiry or a claw-back takes the few earliest lots without reading or
 * sorting every lot the contact holds (a contact buying every few minutes holds thousands, and
 * the sweeper expires some every few minutes: read whole, one contact's replay took 42 s for a
 * year, processor/ledger/replay-big.test.ts). A field may stay after its lot is gone, or be
 * in twice after it came back: readers skip a field the lots no longer hold.
 */
class LotOrder {
  private readonly heap: string[] = [];
  /** Lots looked at, one per peek: the replay's work on its lots, bounded by a test (replay-big.test.ts). */
  peeks = 0;

  push(field: string): void {
    const heap = this.heap;
    let i = heap.push(field) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]! <= field) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = field;
  }

  peek(): string | undefined {
    this.peeks++;
    return this.heap[0];
  }

  pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heap.length) break;
      if (child + 1 < heap.length && heap[child + 1]! < heap[child]!) child++;
      if (last <= heap[child]!) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}

/** Where a transaction's awards went: which were instant_redeem, and whether those settled debt. */
interface Placement {
  readonly instant: (a: HistoryAward) => boolean;
  /** Since 2026-12-03 an instant_redeem award settles claw-back debt first, as a commerce one does. */
  readonly instant_settles: boolean;
}

/**
 * The placements to try, in order: the offers as they are now (an offer made instant or not
 * since), every award into the commerce balance, every one into the open balance; those with an
 * instant award under the rule since 2026-12-03, then under the rule before it (every award into
 * commerce is the same under both).
 */
function placements(ctx: ReplayContext): readonly Placement[] {
  const now = (a: HistoryAward) => ctx.offers.get(a.offer_id)?.instant_redeem ?? false;
  const commerce = () => false;
  const open = () => true;
  return [
    { instant: now, instant_settles: true },
    { instant: commerce, instant_settles: true },
    { instant: open, instant_settles: true },
    { instant: now, instant_settles: false },
    { instant: open, instant_settles: false },
  ];
}

/** One award under a placement: whether it went to the open balance, and what of it settled debt. */
function place(a: HistoryAward, debt: number, placement: Placement): { instant: boolean; settle: number } {
  const instant = placement.instant(a);
  const settles = !instant || placement.instant_settles;
  return { instant, settle: settles ? Math.min(debt, a.amount) : 0 };
}

export class ContactReplay {
  private readonly lots = new Map<string, number>();
  private readonly lot_order = new LotOrder();
  private lots_total = 0;
  private debt = 0;
  private purchases = 0;
  private reversed_purchases = 0;
  private referring: string | null = null;
  /** Awards of this contact (sign-up, referral): a reversal of one (a referral undone) gives back its cap counts. */
  private readonly award_of = new Map<string, HistoryRow>();
  private readonly units: TierUnits | undefined;
  private readonly caps = new Map<string, number>();
  /** Purchases of this contact: their reversals give back what they counted (caps, tier units, the purchase). */
  private readonly purchase_of = new Map<string, HistoryRow>();
  /** What refunds took of each purchase's amount so far (a claw-back's share is from it to the next). */
  private readonly refunded = new Map<string, number>();
  /** Purchases on the contact's birthday not reversed: id → occurred_at (ms), as purchase.lua keeps them. */
  private readonly times = new Map<string, number>();
  private times_kept_from_ms = 0;
  /** Redemptions of this contact: their reversals give these lots back. */
  private readonly redeemed = new Map<string, readonly (readonly [string, number])[]>();
  /** Redemptions whose `since` redeem.lua raised past their id's time: their reversals settle notes from it. */
  private readonly redeemed_since = new Map<string, string>();
  /** What expired of each lot and no claw-back wrote off yet (expire.lua, claw-back.lua), and when the last expiry was. */
  private readonly expired = new Map<string, number>();
  private expired_at_ms = 0;
  /** What claw-backs wanted of each lot and found gone (claw-back.lua noteOwed), and when they last did. */
  private readonly owed = new Map<string, number>();
  /** What claw-backs took from other lots instead (claw-back.lua noteInstead): '<id>><lot>' → [other lot, amount][], in the same key. */
  private readonly instead = new Map<string, [string, number][]>();
  private owed_at_ms = 0;
  private redeemed_at: string | null = null;
  /** Spends of this contact: their reversals pay commerce debt first. */
  private readonly spent = new Set<string>();
  /** What could not be derived exactly (bounded). */
  readonly warnings: string[] = [];
  private readonly commerce: string;
  private readonly placements: readonly Placement[];
  /** The offers whose awards go into the commerce balance now (offers.ts commerce_offers): a purchase's lots, as Node names them to its claw-back (awards.ts awardLots). */
  private readonly commerce_offers: ReadonlySet<string>;

  constructor(private readonly ctx: ReplayContext) {
    this.commerce = `${ctx.contact_id}:commerce:${ctx.currency}`;
    this.placements = placements(ctx);
    this.commerce_offers = new Set([...ctx.offers].filter(([, o]) => !o.instant_redeem).map(([id]) => id));
    this.units = ctx.tiers === null ? undefined : new TierUnits(ctx.tiers.kinds);
  }

  apply(t: HistoryRow): void {
    const into = t.postings.reduce((s, p) => (p[1] === this.commerce ? s + p[2] : s), 0);
    const out_of = t.postings.reduce((s, p) => (p[0] === this.commerce ? s + p[2] : s), 0);
    switch (t.kind) {
      case 'purchase':
      case 'award':
        this.awards(t, into);
        if (t.kind === 'purchase') this.purchased(t);
        else this.award_of.set(t.id, t);
        break;
      case 'redemption': {
        // Releases before 2026-11-30 journaled a redemption without its lots: redeem.lua took the
        // unexpired ones, earliest-expiring first, so take those (pool-free before pooled: which
        // pool its merchant could redeem is not here), or the lots would keep what the ledger says
        // left the commerce account.
        let lots = t.lots;
        if (lots === null) {
          lots = this.takeEarliest(out_of, this.redeemableAt(t.created_ms)); // taken from the lots here
          if (out_of > 0) this.warn(`redemption ${t.id}: its lots are not in the ledger; the earliest-expiring taken`);
        } else {
          for (const [field, amount] of lots) this.addLot(field, -amount);
        }
        this.redeemed.set(t.id, lots);
        const since = t.since ?? t.id.slice(4, 14);
        if (since !== t.id.slice(4, 14)) this.redeemed_since.set(t.id, since);
        if (this.redeemed_at === null || since > this.redeemed_at) this.redeemed_at = since;
        if (lots.reduce((s, l) => s + l[1], 0) !== out_of) this.warn(`redemption ${t.id}: its lots do not add up to what left the commerce account`);
        break;
      }
      case 'reversal': {
        const purchase = t.original_id === null ? undefined : this.purchase_of.get(t.original_id);
        if (purchase !== undefined) this.unpurchased(purchase);
        const award = t.original_id === null ? undefined : this.award_of.get(t.original_id);
        if (award !== undefined) this.uncountCaps(award);
        const lots = t.original_id === null ? undefined : this.redeemed.get(t.original_id);
        if (lots !== undefined) this.unredeemed(t, lots, into);
        // What a spend's reversal gives back pays commerce debt first (since 2026-12-06), and so
        // does a purchase's wallet payment its reversal gives back (lib.lua backToOpen), before
        // the claw-back.
        else if (into > 0 && t.original_id !== null && (this.spent.has(t.original_id) || purchase !== undefined)) this.payDebt(into);
        else if (into > 0) this.warn(`reversal ${t.id}: its redemption's lots are not in the ledger`);
        this.writeOffExpired(t);
        this.clawBack(t, out_of);
        break;
      }
      case 'spend':
        this.spent.add(t.id);
        break;
      case 'refund':
        // Its share of the wallet payment back pays commerce debt first (lib.lua backToOpen).
        if (into > 0) this.payDebt(into);
        this.writeOffExpired(t);
        this.clawBack(t, out_of);
        break;
      case 'expiry':
        this.expire(t, out_of);
        break;
    }
  }

  private payDebt(amount: number): void {
    this.debt = Math.max(0, this.debt - amount);
  }

  private warn(message: string): void {
    if (this.warnings.length < warnings_max) this.warnings.push(message);
  }

  private addLot(field: string, amount: number): void {
    const held = this.lots.get(field);
    const left = (held ?? 0) + amount;
    this.lots_total += amount;
    if (left === 0) this.lots.delete(field);
    else {
      if (held === undefined) this.lot_order.push(field);
      this.lots.set(field, left);
    }
  }

  /**
   * Accepted awards, in the reply's order (lib.lua applyAwards): each settles debt first, the rest
   * goes into its lot, or into the open balance for an instant_redeem offer's; caps counted. Which
   * offers were instant is not in the reply: the offers as they are now say, checked against what
   * the postings put into the commerce account, else another placement that matches them.
   */
  private awards(t: HistoryRow, into_commerce: number): void {
    const cashbacks = (t.awards ?? []).filter((a) => a.kind !== 'instant_discount');
    const found = this.placements.find((p) => this.intoCommerce(cashbacks, p) === into_commerce);
    if (found === undefined) this.warn(`${t.kind} ${t.id}: which awards went to the commerce balance is not derivable`);
    const placement = found ?? this.placements[0]!;
    let settled = 0;
    for (const a of cashbacks) {
      const { instant, settle } = place(a, this.debt, placement);
      this.debt -= settle;
      settled += settle;
      if (!instant && a.amount > settle) this.addLot(lotField(a.expires_at, a.pool), a.amount - settle);
    }
    // Its claw-backs share over its lots as its entry says (awards.ts awardLots), as Node gave them to the script.
    if (typeof t.settled === 'number' && t.settled !== settled) this.warn(`${t.kind} ${t.id}: it settled ${t.settled} of commerce debt, ${settled} derived`);
    for (const a of t.awards ?? []) this.countCap(t, a);
  }

  /** What the awards put into the commerce account under a placement, from the debt as it stands. */
  private intoCommerce(cashbacks: readonly HistoryAward[], placement: Placement): number {
    let debt = this.debt;
    let into = 0;
    for (const a of cashbacks) {
      const { instant, settle } = place(a, debt, placement);
      debt -= settle;
      into += instant ? settle : a.amount;
    }
    return into;
  }

  private countCap(t: HistoryRow, a: HistoryAward): void {
    const field = this.capField(t, a);
    if (field !== undefined) this.caps.set(field, (this.caps.get(field) ?? 0) + 1);
  }

  /** The cap counter an accepted award of `t` counted in (capField, by the offer as it is now). */
  private capField(t: HistoryRow, a: HistoryAward): string | undefined {
    return capField(a.offer_id, this.ctx.offers.get(a.offer_id)?.per_contact ?? null, t);
  }

  /** Purchase history (purchases, the birthday's purchases by time) and tier units (lib.lua addTierUnits). */
  private purchased(t: HistoryRow): void {
    if (this.purchases === 0 && this.referring === null) this.referring = t.id;
    this.purchases++;
    this.purchase_of.set(t.id, t);
    const birth = this.ctx.birth_date;
    if (birth !== undefined && birth !== null && isBirthday(birth, readLocalTime(t.at_ms, t.timezone ?? 'UTC'))) {
      this.times.set(t.id, t.at_ms);
      this.times_kept_from_ms = Math.max(this.times_kept_from_ms, t.created_ms);
    }
    this.units?.purchased(t.amount, t.at_ms, t.timezone ?? 'UTC');
  }

  /**
   * A purchase reversed (hot/reversal.lua undoPurchase): its caps counted back, one purchase
   * fewer, out of the birthday's purchases, its tier units taken from its period wherever the
   * contact's counters still hold it, never below zero.
   */
  private unpurchased(p: HistoryRow): void {
    this.uncountCaps(p);
    this.purchases = Math.max(0, this.purchases - 1);
    if (this.purchases === 0) this.referring = null;
    this.reversed_purchases++;
    this.times.delete(p.id);
    this.units?.reversed(p.amount, p.at_ms, p.timezone ?? 'UTC');
  }

  /** The cap counts of `t`'s awards given back (hot/counted.lua undoCounted). */
  private uncountCaps(t: HistoryRow): void {
    for (const a of t.awards ?? []) {
      const field = this.capField(t, a);
      const n = field === undefined ? 0 : (this.caps.get(field) ?? 0);
      if (n > 1) this.caps.set(field!, n - 1);
      else if (n === 1) this.caps.delete(field!);
    }
  }

  /**
   * What a claw-back took from the commerce account: from the lots its entry names (since
   * 2026-12-03: the purchase's own first, claw-back.lua), else (before) the earliest, as far as
   * they go; the rest is debt.
   */
  private clawBack(t: HistoryRow, out_of_commerce: number): void {
    if (out_of_commerce <= 0) return;
    const commerce = this.lotsTotal() - this.debt;
    const from_lots = Math.min(out_of_commerce, Math.max(commerce, 0));
    this.debt += out_of_commerce - from_lots;
    if (t.lots === null) {
      this.takeEarliest(from_lots);
      return;
    }
    let named = 0;
    for (const [field, amount] of t.lots) {
      const take = Math.min(this.lots.get(field) ?? 0, amount);
      if (take > 0) this.addLot(field, -take);
      named += amount;
      if (take !== amount) this.warn(`${t.kind} ${t.id}: its claw-back took ${amount} of lot ${field}, which held ${take}`);
    }
    if (named !== from_lots) this.warn(`${t.kind} ${t.id}: its claw-back's lots add up to ${named}, ${from_lots} left the lots`);
  }

  /** The lot fields a redemption at `at_ms` could take, in the order it would: unexpired, pool-free first, earliest expiry first. */
  private redeemableAt(at_ms: number): string[] {
    const unexpired = [...this.lots.keys()].filter((field) => Number(field.slice(0, 13)) > at_ms).sort();
    const pooled = (field: string) => !field.endsWith('|');
    return [...unexpired.filter((f) => !pooled(f)), ...unexpired.filter(pooled)];
  }

  /** Takes `amount` from the lots (`fields`, in that order; else earliest expiry first), as far as they go; returns what it took from each. */
  private takeEarliest(amount: number, fields: Iterable<string> = this.earliestFirst()): [string, number][] {
    const taken: [string, number][] = [];
    for (const field of fields) {
      if (amount <= 0) break;
      const take = Math.min(this.lots.get(field)!, amount);
      this.addLot(field, -take);
      taken.push([field, take]);
      amount -= take;
    }
    return taken;
  }

  /** The lots' fields, earliest expiry first, each read when the one before was taken (LotOrder). */
  private *earliestFirst(): Generator<string> {
    for (let field = this.lot_order.peek(); field !== undefined; field = this.lot_order.peek()) {
      if (this.lots.has(field)) yield field;
      // Taken whole, or gone before: the next. Taken in part, the taker stopped (it had enough).
      if (!this.lots.has(field)) this.lot_order.pop();
    }
  }

  /**
   * An expiry: the earliest lots due at its time, whole, up to what the ledger says it expired. The
   * script takes at most hot/expire.ts expire_lots_max lots of a contact per call, so one sweep may
   * write several expiries at the same time, each of the earliest lots left (expire.lua).
   */
  private expire(t: HistoryRow, out_of_commerce: number): void {
    let expired = 0;
    for (let field = this.lot_order.peek(); field !== undefined && expired < out_of_commerce && Number(field.slice(0, 13)) <= t.created_ms; field = this.lot_order.peek()) {
      this.lot_order.pop();
      const amount = this.lots.get(field);
      if (amount === undefined) continue;
      expired += amount;
      this.lots_total -= amount;
      this.lots.delete(field);
      this.rememberExpired(field, amount, t.created_ms);
    }
    if (expired !== out_of_commerce) this.warn(`expiry ${t.id}: ${out_of_commerce} expired in the ledger, ${expired} derived`);
  }

  /** What an expiry took of `field`, remembered as expire.lua does (rebuild writes those within expired_lots_kept_ms). */
  private rememberExpired(field: string, amount: number, at_ms: number): void {
    this.expired.set(field, (this.expired.get(field) ?? 0) + amount);
    this.expired_at_ms = at_ms;
  }

  /**
   * A claw-back's share that had expired already (its award_expired): written off its purchase's
   * lots as claw-back.lua ownShares does, each lot's share (what the purchase put in it, from
   * `before` to the refund's `after` of its amount refunded, floored cumulatively, all together
   * at most the claw-back) that the lot lacks, as far as the lot's expiry is remembered, before
   * the claw-back takes from the lots. What the ledger says and this derives differ: a warning.
   * A referral's undo reverses the referrer's award with the same claw-back (reversal.lua), its
   * lots the award's: until 2026-12-06 only purchases were looked for here, so what an undo noted
   * owed was lost to a rebuild, without a warning (the rebuild model, seed 77 at 400 steps: owed
   * 330 live, 80 rebuilt, and the redemption's reversal after it refused 422 where live answered).
   */
  private writeOffExpired(t: HistoryRow): void {
    const original = t.original_id === null ? undefined : (this.purchase_of.get(t.original_id) ?? this.award_of.get(t.original_id));
    if (original === undefined || original.amount <= 0) {
      if (t.award_expired > 0) this.warn(`${t.kind} ${t.id}: ${t.award_expired} of its claw-back had expired, 0 derived`);
      // (A redemption's reversal's `owed` is what it settled: unredeemed's.)
      const settling = t.original_id !== null && this.redeemed.has(t.original_id);
      if ((t.owed ?? 0) > 0 && !settling) this.warn(`${t.kind} ${t.id}: it noted ${t.owed} owed, 0 derived`);
      return;
    }
    const before = this.refunded.get(original.id) ?? 0;
    const after = t.kind === 'refund' ? Math.min(before + t.amount, original.amount) : original.amount;
    this.refunded.set(original.id, after);
    const awarded = (original.awards ?? []).reduce((sum, a) => (a.kind === 'instant_discount' ? sum : sum + a.amount), 0);
    const claw = proportion(awarded, after, original.amount) - proportion(awarded, before, original.amount);
    this.forgetKept(t.created_ms);
    // Since 2026-12-06 the entry says what it noted (claw-back.lua owedOf): none in the one-lot
    // case, and nothing written off there either (it wants no expired lots remembered).
    const noted_at = typeof t.owed === 'number' ? this.noteId(t) : undefined;
    if (noted_at === undefined && this.oneLotCovers(claw, t.created_ms)) {
      if (t.award_expired > 0) this.warn(`${t.kind} ${t.id}: ${t.award_expired} of its claw-back had expired, 0 derived`);
      return;
    }
    let written = 0;
    // What the entry says it noted, each lack in turn up to it, under its id (claw-back.lua
    // noteOwed); before 2026-12-06 every lack was noted, under the lot alone.
    let owed_left = t.owed ?? Number.MAX_SAFE_INTEGER;
    const instead = this.noteInstead(t);
    // Those Node names as remembered (hot/original.ts AwardLots): expired within expired_lots_kept_ms.
    const lots = awardLots(original.awards ?? [], this.commerce_offers, original.settled ?? 0);
    const shares = lotShares(lots, claw, before, after, original.amount, awarded);
    for (const [i, [field]] of lots.entries()) {
      const share = shares[i]!;
      const there = this.lots.get(field) ?? 0;
      const expiry_ms = Number(field.slice(0, 13));
      // What expiries took is remembered whatever the claw-back's clock said of the lot (claw-back.lua
      // ownShares; until 2026-12-07 only a lot expired by that clock, which is what `expired` holds
      // unless two gateways' clocks differ).
      const remembered = share > there && expiry_ms >= t.created_ms - expired_lots_kept_ms;
      const left = remembered ? (this.expired.get(field) ?? 0) : 0;
      const take = Math.min(share - there, left);
      if (take > 0) {
        if (take === left) this.expired.delete(field);
        else this.expired.set(field, left - take);
        written += take;
      }
      const noted = Math.min(share - Math.max(take, 0) - there - (instead.get(field) ?? 0), owed_left);
      if (noted > 0) owed_left -= noted;
      this.noteOwed(`${noted_at ?? ''}${field}`, noted, t.created_ms);
    }
    // Since 2026-12-07 the rest of what it noted is what it took wanting other lots (claw-back.lua
    // noteWanting), noted only for a contact that ever redeemed.
    if (typeof t.owed === 'number' && owed_left > 0 && this.redeemed_at !== null) {
      this.noteOwed(`${noted_at}${wanting_lot}`, owed_left, t.created_ms);
      owed_left = 0;
    }
    if (t.owed !== undefined && t.owed !== null && owed_left !== 0) this.warn(`${t.kind} ${t.id}: it noted ${t.owed} owed, ${t.owed - owed_left} derived`);
    if (written !== t.award_expired) this.warn(`${t.kind} ${t.id}: ${t.award_expired} of its claw-back had expired, ${written} derived`);
  }


  /**
   * claw-back.lua ownLots's needless case: no expired lots remembered and one lot that holds the
   * whole claw-back: the purchase's own lots are not told apart, nothing written off or noted.
   */
  private oneLotCovers(claw: number, at_ms: number): boolean {
    if (claw <= 0) return true;
    if (this.expired.size > 0 && at_ms < this.expired_at_ms + expired_lots_kept_ms) return false;
    let held: number | undefined;
    for (const amount of this.lots.values()) {
      if (amount <= 0) continue;
      if (held !== undefined) return false;
      held = amount;
    }
    return held !== undefined && held >= claw;
  }

  /** The row whose notes' id noteId found, and that id: one id per claw-back. */
  private note_id_of: string | undefined;
  private note_id = '';

  /**
   * claw-back.lua noteId: the claw-back's id, its time characters raised to the latest
   * redemption's before it (in journal order, as the script ran) when they are before those, and
   * to the millisecond after the latest note held when it is not after it (notes in the order
   * the claw-backs committed).
   */
  private noteId(t: HistoryRow): string {
    if (this.note_id_of === t.id) return this.note_id;
    let id = t.id.slice(4);
    if (this.redeemed_at !== null && id.slice(0, 10) < this.redeemed_at) id = this.redeemed_at + id.slice(10);
    let latest: string | undefined;
    for (const field of [...this.owed.keys(), ...this.instead.keys()]) {
      // A field of before 2026-12-06 is a lot alone, of no time.
      if (field[13] === '|') continue;
      const noted = field.slice(0, 26);
      if (latest === undefined || noted > latest) latest = noted;
    }
    if (latest !== undefined && !(latest < id)) id = base32Time(base32TimeMs(latest) + 1) + id.slice(10);
    this.note_id_of = t.id;
    this.note_id = id;
    return id;
  }

  /** What a claw-back owed a redemption's reversal, under `field` (its id and the lot), remembered as claw-back.lua noteOwed does. */
  private noteOwed(field: string, owed: number, at_ms: number): void {
    if (owed <= 0) return;
    this.owed.set(field, (this.owed.get(field) ?? 0) + owed);
    this.owed_at_ms = at_ms;
  }

  /** A claw-back's notes of other lots taken instead (its entry's `instead`, claw-back.lua noteInstead); returns what each lot's lack they cover. */
  private noteInstead(t: HistoryRow): Map<string, number> {
    const covered = new Map<string, number>();
    const by_lot = new Map<string, [string, number][]>();
    for (const [lot, other, amount] of t.instead ?? []) {
      covered.set(lot, (covered.get(lot) ?? 0) + amount);
      by_lot.set(lot, [...(by_lot.get(lot) ?? []), [other, amount]]);
    }
    for (const [lot, targets] of by_lot) this.instead.set(`${this.noteId(t)}>${lot}`, targets);
    if (by_lot.size > 0) this.owed_at_ms = t.created_ms;
    return covered;
  }

  /**
   * Expired lots and owed notes forgotten as the script's keys expire (each kept for 90 days
   * after its latest write): a rebuilt Redis must not bring back what the live one dropped.
   */
  private forgetKept(at_ms: number): void {
    if (this.owed.size + this.instead.size > 0 && at_ms >= this.owed_at_ms + owed_lots_kept_ms) {
      this.owed.clear();
      this.instead.clear();
    }
    if (this.expired.size > 0 && at_ms >= this.expired_at_ms + expired_lots_kept_ms) this.expired.clear();
  }

  /**
   * A redemption reversed (hot/reversal.lua): the lots its entry names given back (since
   * 2026-12-05: its lots less what it settled of what claw-backs noted owed, and less the debt
   * it paid), what it settled taken off the notes as claw-back.lua settleOwed does (since
   * 2026-12-06: its entry's `owed`), and, as far as the commerce account took more than those
   * lots (`into`), off the debt; entries before 2026-12-05 name none, and gave back all the
   * redemption's lots.
   */
  private unredeemed(t: HistoryRow, redeemed: readonly (readonly [string, number])[], into: number): void {
    this.forgetKept(t.created_ms);
    const back = t.lots ?? redeemed;
    let given = 0;
    for (const [field, amount] of back) {
      this.addLot(field, amount);
      given += amount;
    }
    if (t.lots === null) return;
    if (typeof t.owed === 'number') {
      const original = t.original_id ?? '';
      const settled = this.settleNotes(redeemed, this.redeemed_since.get(original) ?? original.slice(4, 14));
      if (settled !== t.owed) this.warn(`reversal ${t.id}: it settled ${t.owed} owed, ${settled} derived`);
    } else {
      // Before 2026-12-06: each lot's own note, as far as it was not given back.
      const by_field = new Map<string, number>();
      for (const [field, amount] of back) by_field.set(field, (by_field.get(field) ?? 0) + amount);
      for (const [field, amount] of redeemed) {
        const settled = amount - Math.min(amount, by_field.get(field) ?? 0);
        by_field.set(field, Math.max(0, (by_field.get(field) ?? 0) - amount));
        const left = (this.owed.get(field) ?? 0) - settled;
        if (left > 0) this.owed.set(field, left);
        else this.owed.delete(field);
      }
    }
    this.payDebt(Math.max(0, into - given));
  }

  /**
   * claw-back.lua settleOwed: each redeemed lot's amount followed through the notes made since
   * `since` (the redemption's time characters; untimed ones, before 2026-12-06, too), in byte
   * (time) order: a lot taken instead passes it on, a note of what was taken from open settles it.
   * Returns what it settled; the notes are used up as far as they were reached.
   */
  private settleNotes(redeemed: readonly (readonly [string, number])[], since: string): number {
    const untimed = (field: string) => field[13] === '|';
    const made_since = (field: string) => untimed(field) || field.slice(0, 10) >= since;
    type Note = { field: string; left: number } | { field: string; targets: [string, number][] };
    const notes: Note[] = [
      ...[...this.owed].filter(([field]) => made_since(field)).map(([field, left]) => ({ field, left })),
      ...[...this.instead].filter(([field]) => made_since(field)).map(([field, targets]) => ({ field, targets })),
    ].sort((a, b) => Buffer.compare(Buffer.from(a.field), Buffer.from(b.field)));
    const amount = new Map<string, number>();
    for (const [field, taken] of redeemed) amount.set(field, (amount.get(field) ?? 0) + taken);
    let settled = 0;
    for (const note of notes) {
      if ('targets' in note) {
        const lot = note.field.slice(27);
        for (const target of note.targets) {
          const m = Math.min(target[1], amount.get(lot) ?? 0);
          if (m <= 0) continue;
          target[1] -= m;
          amount.set(lot, amount.get(lot)! - m);
          amount.set(target[0], (amount.get(target[0]) ?? 0) + m);
        }
        const kept = note.targets.filter(([, left]) => left > 0);
        if (kept.length > 0) this.instead.set(note.field, kept);
        else this.instead.delete(note.field);
      } else {
        const lot = untimed(note.field) ? note.field : note.field.slice(26);
        let left = note.left;
        // What a claw-back took wanting other lots (claw-back.lua noteWanting): from every lot reached, in order.
        for (const field of lot === wanting_lot ? [...amount.keys()] : [lot]) {
          const s = Math.min(left, amount.get(field) ?? 0);
          if (s <= 0) continue;
          amount.set(field, amount.get(field)! - s);
          left -= s;
          settled += s;
        }
        if (left > 0) this.owed.set(note.field, left);
        else this.owed.delete(note.field);
      }
    }
    return settled;
  }

  /** Lots looked at in taking and expiring them so far (each lot's field, once per look). */
  get lots_visited(): number {
    return this.lot_order.peeks;
  }

  private lotsTotal(): number {
    return this.lots_total;
  }

  result(): ContactHot {
    const lots = [...this.lots].filter(([, amount]) => amount !== 0);
    const expiries = lots.map(([field]) => Number(field.slice(0, 13))).filter((ms) => ms < never_ms);
    return {
      lots,
      debt: this.debt,
      purchases: this.purchases,
      reversed_purchases: this.reversed_purchases,
      purchase_times: [...this.times],
      purchase_times_kept_from_ms: this.times_kept_from_ms,
      referring: this.referring,
      units: this.units?.fields() ?? [],
      caps: [...this.caps],
      // A loop, not Math.min(...expiries): past some 125,000 lots a spread overflows the stack.
      earliest_expiry: expiries.reduce<number | null>((min, ms) => (min === null || ms < min ? ms : min), null),
      expired_lots: [...this.expired],
      expired_lots_kept_until_ms: this.expired.size === 0 ? 0 : this.expired_at_ms + expired_lots_kept_ms,
      redeemed_at: this.redeemed_at,
      owed_lots: [...this.owed],
      instead_lots: [...this.instead].map(([field, targets]) => [field, lotsJson(targets)]),
      owed_lots_kept_until_ms: this.owed.size + this.instead.size === 0 ? 0 : this.owed_at_ms + owed_lots_kept_ms,
    };
  }
}
