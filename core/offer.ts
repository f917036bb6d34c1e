// Offers: compiled once when they are loaded, evaluated in process for every purchase.
//
// This is the part of the rules engine the foundation needs: `spend` offers (percent or fixed,
// min_amount, merchants, venues, tiers, tags, validity window, max_award) and the business's
// resolution mode. Goals that need per-contact state (first purchase, birthday, caps) are
// evaluated by the rewards engine; compileOffers leaves them out of `spend`.

import { applyBasisPoints, percentToBasisPoints } from './money.ts';
import type { OfferInput } from './schemas.ts';

export type Resolution = 'all' | 'best' | 'best_per_scheme';

export interface Offer extends OfferInput {
  readonly id: string;
  readonly created_at: string;
}

export interface Award {
  readonly offer_id: string;
  readonly scheme_id: string | null;
  readonly kind: 'cashback' | 'instant_discount';
  readonly amount: number;
  readonly pool: string | null;
  readonly expires_at: string | null;
  /** Lands in the open balance instead of the commerce balance. */
  readonly instant_redeem: boolean;
}

export interface PurchaseContext {
  readonly amount: number;
  readonly merchant_id: string | null;
  readonly venue_id: string;
  readonly at_ms: number;
  readonly tier: string | null;
  readonly tags: readonly string[];
}

interface CompiledOffer {
  readonly offer: Offer;
  readonly basis_points: number | undefined; // set for percent awards
  readonly fixed: number; // set for fixed awards
  readonly min_amount: number;
  readonly max_award: number;
  readonly merchants: ReadonlySet<string> | undefined;
  readonly venues: ReadonlySet<string> | undefined;
  readonly tiers: ReadonlySet<string> | undefined;
  readonly tags: readonly string[] | undefined;
  readonly from_ms: number;
  readonly to_ms: number;
  readonly validity_ms: number | undefined;
}

export interface CompiledOffers {
  readonly resolution: Resolution;
  readonly spend: readonly CompiledOffer[];
  /** Whether any offer reads the contact's profile (tier, tags): if not, the profile is not loaded. */
  readonly needs_profile: boolean;
}

const day_ms = 86_400_000;

function setOf(list: readonly string[] | undefined): ReadonlySet<string> | undefined {
  return list === undefined || list.length === 0 ? undefined : new Set(list);
}

export function compileOffers(offers: readonly Offer[], resolution: Resolution): CompiledOffers {
  const spend: CompiledOffer[] = [];
  let needs_profile = false;
  for (const offer of offers) {
    if (!offer.active || offer.goal !== 'spend') continue;
    const c = offer.conditions;
    const compiled: CompiledOffer = {
      offer,
      basis_points: 'percent' in offer.award ? percentToBasisPoints(offer.award.percent) : undefined,
      fixed: 'fixed' in offer.award ? offer.award.fixed : 0,
      min_amount: c.min_amount ?? 0,
      max_award: offer.max_award ?? Number.MAX_SAFE_INTEGER,
      merchants: setOf(c.merchants),
      venues: setOf(c.venues),
      tiers: setOf(c.tiers),
      tags: c.tags !== undefined && c.tags.length > 0 ? c.tags : undefined,
      from_ms: offer.valid_from === undefined ? -Infinity : Date.parse(offer.valid_from),
      to_ms: offer.valid_to === undefined ? Infinity : Date.parse(offer.valid_to),
      validity_ms: offer.validity_days === undefined ? undefined : offer.validity_days * day_ms,
    };
    if (compiled.tiers !== undefined || compiled.tags !== undefined) needs_profile = true;
    spend.push(compiled);
  }
  // Oldest first, so awards are listed in the order the offers were made and `best` breaks ties
  // the same way in every process. created_at has whole seconds only: offers made in the same
  // second keep the caller's order (a stable sort), and Offers.list gives them in creation
  // order at full precision. (Breaking those ties by id would order them at random.)
  spend.sort((a, b) => (a.offer.created_at < b.offer.created_at ? -1 : a.offer.created_at > b.offer.created_at ? 1 : 0));
  return { resolution, spend, needs_profile };
}

function matches(o: CompiledOffer, ctx: PurchaseContext): boolean {
  if (ctx.amount < o.min_amount) return false;
  if (ctx.at_ms < o.from_ms || ctx.at_ms >= o.to_ms) return false;
  if (o.venues !== undefined && !o.venues.has(ctx.venue_id)) return false;
  if (o.merchants !== undefined && (ctx.merchant_id === null || !o.merchants.has(ctx.merchant_id))) return false;
  if (o.tiers !== undefined && (ctx.tier === null || !o.tiers.has(ctx.tier))) return false;
  if (o.tags !== undefined && !o.tags.some((t) => ctx.tags.includes(t))) return false;
  return true;
}

function awardOf(o: CompiledOffer, ctx: PurchaseContext): Award {
  let amount = o.basis_points !== undefined ? applyBasisPoints(ctx.amount, o.basis_points) : o.fixed;
  if (amount > o.max_award) amount = o.max_award;
  // A discount can never take more off than the purchase is worth.
  if (o.offer.kind === 'instant_discount' && amount > ctx.amount) amount = ctx.amount;
  return {
    offer_id: o.offer.id,
    scheme_id: o.offer.scheme_id ?? null,
    kind: o.offer.kind,
    amount,
    pool: o.offer.pool ?? null,
    expires_at: o.validity_ms === undefined ? null : new Date(ctx.at_ms + o.validity_ms).toISOString(),
    instant_redeem: o.offer.instant_redeem,
  };
}

export interface Evaluation {
  readonly awards: readonly Award[];
  /** Sum of instant discounts, never more than the purchase amount. */
  readonly discount: number;
}

const no_awards: Evaluation = { awards: [], discount: 0 };

export function evaluatePurchase(compiled: CompiledOffers, ctx: PurchaseContext): Evaluation {
  if (compiled.spend.length === 0) return no_awards;
  let awards: Award[] = [];
  for (const o of compiled.spend) {
    if (!matches(o, ctx)) continue;
    const award = awardOf(o, ctx);
    if (award.amount > 0) awards.push(award);
  }
  if (awards.length > 1 && compiled.resolution !== 'all') awards = resolve(awards, compiled.resolution);
  let discount = 0;
  for (const a of awards) if (a.kind === 'instant_discount') discount += a.amount;
  if (discount > ctx.amount) discount = ctx.amount;
  return awards.length === 0 ? no_awards : { awards, discount };
}

function resolve(awards: Award[], resolution: 'best' | 'best_per_scheme'): Award[] {
  const best = new Map<string | null, Award>();
  for (const a of awards) {
    const group = resolution === 'best' ? null : a.scheme_id;
    const current = best.get(group);
    if (current === undefined || a.amount > current.amount) best.set(group, a);
  }
  return [...best.values()];
}
