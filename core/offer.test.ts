import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  compileOffers,
  discountOf,
  evaluatePurchase,
  fitDiscounts,
  evaluateSignup,
  birthDaysOn,
  isBirthday,
  rankedGroups,
  resolutionPlaces,
  resolveAwards,
  type Award,
  type Evaluation,
  type Offer,
  type PurchaseContext,
  type PurchaseItem,
  type Resolution,
  type SignupContext,
} from './offer.ts';
import { offerSchema } from './schemas.ts';
import { isLeapYear, readLocalTime } from './local-time.ts';

let n = 0;
function offer(input: Record<string, unknown>): Offer {
  n++;
  return { ...offerSchema.parse({ name: `o${n}`, goal: 'spend', ...input }), id: `off_${String(n).padStart(5, '0')}`, created_at: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString().replace('.000Z', 'Z') };
}
const no_schemes: ReadonlySet<string> = new Set();
const ctx: PurchaseContext = {
  amount: 2000,
  items: [],
  merchant_id: 'mer_1',
  venue_id: 'ven_1',
  timezone: 'UTC',
  at_ms: Date.parse('2026-06-01T12:00:00Z'), // a Monday
  tier: null,
  tags: [],
  schemes: no_schemes,
  birth_date: null,
  first_purchase: false,
  purchased_on_that_day: false,
  referrer: null,
};
const amounts = (r: Evaluation): number[] => r.awards.map((a) => a.amount);
const evalAll = (offers: Offer[], c: Partial<PurchaseContext> = {}, resolution: Resolution = 'all') => evaluatePurchase(compileOffers(offers, resolution), { ...ctx, ...c });

const items: PurchaseItem[] = [
  { sku: 'COF', family: 'drinks', brand: 'acme', type: 'hot', quantity: 2, amount: 300 },
  { sku: 'CRO', family: 'bakery', brand: 'acme', quantity: 1, amount: 200 },
  { sku: 'TEA', family: 'drinks', brand: 'bolt', type: 'hot', quantity: 1, amount: 500 },
];

describe('spend offers', () => {
  it('percent and fixed spend offers, with min_amount and max_award', () => {
    const offers = [offer({ award: { percent: 5 } }), offer({ award: { fixed: 300 }, conditions: { min_amount: 2001 } }), offer({ award: { percent: 50 }, max_award: 250 })];
    const r = evalAll(offers);
    expect(amounts(r)).toEqual([100, 250]);
    expect(r.discount).toBe(0);
    expect(amounts(evalAll(offers, { amount: 2001 }))).toEqual([100, 300, 250]);
    expect(amounts(evalAll([offer({ award: { percent: 2.5 } })], { amount: 999 }))).toEqual([24]); // floor, never above the rate
  });

  it('conditions on merchants, venues, tags, tiers and the validity window', () => {
    const offers = [
      offer({ award: { fixed: 1 }, conditions: { merchants: ['mer_2'] } }),
      offer({ award: { fixed: 2 }, conditions: { venues: ['ven_1'] } }),
      offer({ award: { fixed: 4 }, conditions: { tags: ['student', 'staff'] } }),
      offer({ award: { fixed: 8 }, conditions: { tiers: ['gold'] } }),
      offer({ award: { fixed: 16 }, valid_to: '2026-05-01T00:00:00Z' }),
      offer({ award: { fixed: 32 }, active: false }),
      offer({ award: { fixed: 64 }, valid_from: '2026-06-01T12:00:00Z', valid_to: '2026-06-01T12:00:01Z' }),
      offer({ award: { fixed: 128 }, conditions: { venues: ['ven_2'], merchants: ['mer_1'] } }),
      offer({ award: { fixed: 256 }, conditions: { venues: ['ven_1'], merchants: ['mer_2'] } }),
    ];
    const compiled = compileOffers(offers, 'all');
    expect(compiled.needs_profile).toBe(true);
    expect(amounts(evaluatePurchase(compiled, ctx))).toEqual([2, 64]);
    expect(amounts(evaluatePurchase(compiled, { ...ctx, tags: ['staff'], tier: 'gold' }))).toEqual([2, 4, 8, 64]);
    expect(amounts(evaluatePurchase(compiled, { ...ctx, merchant_id: 'mer_2', venue_id: 'ven_2' }))).toEqual([1, 64]);
    expect(amounts(evaluatePurchase(compiled, { ...ctx, merchant_id: null, at_ms: ctx.at_ms + 1000 }))).toEqual([2]);
    expect(amounts(evaluatePurchase(compiled, { ...ctx, at_ms: Date.parse('2026-04-30T23:59:59Z') }))).toEqual([2, 16]);
  });

  it('says whether some purchase offer has a budget (the purchase then reserves in the claim round trip)', () => {
    expect(compileOffers([offer({ award: { fixed: 1 } })], 'all').has_budgets).toBe(false);
    expect(compileOffers([offer({ award: { fixed: 1 } }), offer({ award: { fixed: 2 }, limits: { budget: 100 } })], 'all').has_budgets).toBe(true);
    // A sign-up offer's budget is reserved by the sign-up, never by a purchase.
    expect(compileOffers([offer({ goal: 'signup', award: { fixed: 2 }, limits: { budget: 100 } })], 'all').has_budgets).toBe(false);
  });

  it('says whether some purchase offer is held to tiers (a contact\'s purchases then run one at a time)', () => {
    expect(compileOffers([offer({ award: { fixed: 1 } })], 'all').needs_tier).toBe(false);
    expect(compileOffers([offer({ award: { fixed: 1 }, conditions: { tiers: ['gold'] } })], 'all').needs_tier).toBe(true);
    expect(compileOffers([offer({ goal: 'signup', award: { fixed: 1 }, conditions: { tiers: ['gold'] } })], 'all').needs_tier).toBe(false);
  });

  it('instant discounts are summed and never exceed the amount', () => {
    const offers = [offer({ kind: 'instant_discount', award: { fixed: 1500 } }), offer({ kind: 'instant_discount', award: { fixed: 1500 } }), offer({ kind: 'instant_discount', award: { fixed: 5000 } })];
    const r = evalAll(offers);
    expect(amounts(r)).toEqual([1500, 1500, 2000]);
    expect(r.discount).toBe(2000);
    const c = evalAll([offer({ kind: 'instant_discount', award: { percent: 10 } }), offer({ award: { percent: 10 } })]);
    expect(c.awards.map((a) => [a.kind, a.amount])).toEqual([['instant_discount', 200], ['cashback', 200]]);
    expect(c.discount).toBe(200);
  });

  it('carries pool, instant_redeem, validity (expires_at = purchase time + days) and limits', () => {
    const limits = { per_contact: { count: 2, period: 'week' }, budget: 100_000 };
    const [a] = evalAll([offer({ award: { fixed: 100 }, pool: 'MER1', validity_days: 90, limits })]).awards;
    expect(a).toMatchObject({ amount: 100, pool: 'MER1', instant_redeem: false, expires_at: '2026-08-30T12:00:00Z', limits, period_key: 'w2026-23', guard: null, beneficiary: 'contact', referrer_id: null, goal: 'spend' });
    // Only commerce money expires: an instant_redeem award is open money, an instant discount is
    // taken off the price; neither names an expiry, whatever the offer's validity_days.
    const [open] = evalAll([offer({ award: { fixed: 100 }, instant_redeem: true, validity_days: 90 })]).awards;
    expect(open).toMatchObject({ instant_redeem: true, expires_at: null });
    const [discount] = evalAll([offer({ award: { fixed: 100 }, kind: 'instant_discount', validity_days: 90 })]).awards;
    expect(discount).toMatchObject({ kind: 'instant_discount', expires_at: null });
    const [b] = evalAll([offer({ award: { fixed: 100 } })]).awards;
    expect(b).toMatchObject({ pool: null, instant_redeem: false, expires_at: null, limits: null, period_key: null });
    // Whole seconds, the milliseconds dropped as created_at drops them: validity_days after the
    // purchase's created_at, the same for a quote a few ms before.
    const at_ms = Date.parse('2026-06-01T12:00:00.001Z');
    for (const t of [at_ms, at_ms + 998]) expect(evalAll([offer({ award: { fixed: 100 }, validity_days: 90 })], { at_ms: t }).awards[0]!.expires_at).toBe('2026-08-30T12:00:00Z');
  });

  it('per-contact period keys are local to the venue', () => {
    const at_ms = Date.parse('2026-01-01T02:00:00Z'); // 2025-12-31 21:00 in New York
    const keys = (['day', 'week', 'month', 'lifetime'] as const).map((period) => offer({ award: { fixed: 1 }, limits: { per_contact: { count: 1, period } } }));
    expect(evalAll(keys, { at_ms, timezone: 'America/New_York' }).awards.map((a) => a.period_key)).toEqual(['d2025-12-31', 'w2026-01', 'm2025-12', 'l']);
    expect(evalAll(keys, { at_ms, timezone: 'Asia/Tokyo' }).awards.map((a) => a.period_key)).toEqual(['d2026-01-01', 'w2026-01', 'm2026-01', 'l']);
  });

  it('scheme offers apply to members only; promotions to everyone', () => {
    const offers = [offer({ award: { fixed: 10 } }), offer({ award: { fixed: 20 }, scheme_id: 'sch_students' }), offer({ award: { fixed: 40 }, scheme_id: 'sch_staff', conditions: { venues: ['ven_1'] } })];
    const compiled = compileOffers(offers, 'all');
    expect(compiled.needs_schemes).toBe(true);
    expect(amounts(evaluatePurchase(compiled, ctx))).toEqual([10]);
    expect(amounts(evaluatePurchase(compiled, { ...ctx, schemes: new Set(['sch_students']) }))).toEqual([10, 20]);
    expect(amounts(evaluatePurchase(compiled, { ...ctx, schemes: new Set(['sch_students', 'sch_staff', 'sch_x', 'sch_y']) }))).toEqual([10, 20, 40]);
    expect(evaluatePurchase(compiled, { ...ctx, schemes: new Set(['sch_staff']) }).awards.map((a) => a.scheme_id)).toEqual([null, 'sch_staff']);
  });

  it('signup offers never award on a purchase; no offers at all is cheap and empty', () => {
    expect(evalAll([offer({ goal: 'signup', award: { fixed: 500 } })]).awards).toEqual([]);
    expect(evalAll([]).awards).toEqual([]);
  });
});

describe('fitDiscounts', () => {
  it('makes each instant discount for what is left of the room, in order; cashback untouched', () => {
    const r = evalAll([
      offer({ kind: 'instant_discount', award: { fixed: 800 } }),
      offer({ award: { fixed: 50 } }),
      offer({ kind: 'instant_discount', award: { fixed: 700 } }),
      offer({ kind: 'instant_discount', award: { fixed: 100 } }),
    ], { amount: 1000 });
    const fitted = fitDiscounts(r.awards, 1000);
    expect(fitted.map((a) => [a.kind, a.amount])).toEqual([['instant_discount', 800], ['cashback', 50], ['instant_discount', 200]]);
    expect(discountOf(fitted, 1000)).toBe(r.discount);
    expect(fitDiscounts(r.awards, 0).map((a) => a.kind)).toEqual(['cashback']);
  });
});

describe('product offers', () => {
  const c = { items, amount: 1000 };
  it('apply to the matching items only', () => {
    expect(amounts(evalAll([offer({ goal: 'product', award: { percent: 10 }, conditions: { products: { families: ['drinks'] } } })], c))).toEqual([80]);
    expect(amounts(evalAll([offer({ goal: 'product', award: { percent: 10 }, conditions: { products: { skus: ['COF', 'CRO', 'NOPE'] } } })], c))).toEqual([50]);
    expect(amounts(evalAll([offer({ goal: 'product', award: { percent: 10 }, conditions: { products: { brands: ['acme'] } } })], c))).toEqual([50]);
    expect(amounts(evalAll([offer({ goal: 'product', award: { percent: 10 }, conditions: { products: { types: ['hot'] } } })], c))).toEqual([80]);
  });

  it('several lists must all match (brand AND type)', () => {
    expect(amounts(evalAll([offer({ goal: 'product', award: { percent: 10 }, conditions: { products: { brands: ['acme'], types: ['hot'] } } })], c))).toEqual([30]);
    expect(amounts(evalAll([offer({ goal: 'product', award: { percent: 10 }, conditions: { products: { brands: ['bolt'], families: ['bakery'] } } })], c))).toEqual([]);
    expect(amounts(evalAll([offer({ goal: 'product', award: { percent: 10 }, conditions: { products: { skus: ['CRO'], types: ['hot'] } } })], c))).toEqual([]); // CRO has no type
  });

  it('fixed awards once if any item matches; discounts never above the matching items', () => {
    expect(amounts(evalAll([offer({ goal: 'product', award: { fixed: 50 }, conditions: { products: { families: ['drinks'] } } })], c))).toEqual([50]);
    const d = evalAll([offer({ goal: 'product', kind: 'instant_discount', award: { fixed: 1000 }, conditions: { products: { skus: ['CRO'] } } })], c);
    expect(amounts(d)).toEqual([200]);
    expect(d.discount).toBe(200);
    expect(amounts(evalAll([offer({ goal: 'product', kind: 'instant_discount', award: { percent: 100 }, conditions: { products: { skus: ['TEA'] } } })], c))).toEqual([500]);
  });

  it('min_amount and max_award apply to the matching items’ total', () => {
    const o = (min_amount: number) => offer({ goal: 'product', award: { percent: 50 }, max_award: 300, conditions: { min_amount, products: { families: ['drinks'] } } });
    expect(amounts(evalAll([o(800), o(801)], c))).toEqual([300]);
  });

  it('without items, or without matches, nothing; without a product list, every item', () => {
    const o = offer({ goal: 'product', award: { fixed: 50 }, conditions: { products: { families: ['drinks'] } } });
    expect(amounts(evalAll([o]))).toEqual([]);
    expect(amounts(evalAll([o], { items: [{ sku: 'X', quantity: 1, amount: 2000 }] }))).toEqual([]);
    const every = offer({ goal: 'product', award: { percent: 10 }, conditions: { products: {} } });
    expect(amounts(evalAll([every], c))).toEqual([100]);
    expect(amounts(evalAll([every]))).toEqual([]);
  });

  it('a product list on another goal requires a matching item, and awards on the whole purchase', () => {
    const o = offer({ award: { percent: 10 }, conditions: { products: { skus: ['CRO'] } } });
    expect(amounts(evalAll([o], c))).toEqual([100]);
    expect(amounts(evalAll([o], { items: [items[0]!], amount: 300 }))).toEqual([]);
  });

  it('an offer reached through several keys awards once', () => {
    const o = offer({ goal: 'product', award: { fixed: 7 }, conditions: { products: { skus: ['COF', 'CRO', 'TEA'] } } });
    const t = offer({ award: { fixed: 3 }, conditions: { tags: ['a', 'b'] } });
    expect(amounts(evalAll([o, t], { ...c, tags: ['a', 'b'] }))).toEqual([7, 3]);
  });
});

describe('happy hours', () => {
  const hh = (conditions: Record<string, unknown>, extra: Record<string, unknown> = {}) => offer({ goal: 'happy_hour', award: { percent: 10 }, conditions, ...extra });
  const at = (iso: string, timezone: string, o: Offer[]) => amounts(evalAll(o, { at_ms: Date.parse(iso), timezone }));

  it('Lisbon: 16:30 UTC is 16:30 local in winter, 17:30 in summer', () => {
    const o = [hh({ time_from: '17:00', time_to: '18:00' })];
    expect(at('2026-01-15T16:30:00Z', 'Europe/Lisbon', o)).toEqual([]);
    expect(at('2026-07-15T16:30:00Z', 'Europe/Lisbon', o)).toEqual([200]);
    expect(at('2026-01-15T17:30:00Z', 'Europe/Lisbon', o)).toEqual([200]);
    expect(at('2026-01-15T18:00:00Z', 'Europe/Lisbon', o)).toEqual([]); // to is exclusive
    expect(at('2026-01-15T17:00:00Z', 'Europe/Lisbon', o)).toEqual([200]); // from is inclusive
  });

  it('New York around the March DST change, Tokyo on the next calendar day', () => {
    const o = [hh({ days_of_week: [7], time_from: '08:00', time_to: '09:00' })]; // Sundays
    // 2026-03-08 is the Sunday clocks go forward: 08:30 local is 13:30 UTC before, 12:30 UTC after.
    expect(at('2026-03-01T13:30:00Z', 'America/New_York', o)).toEqual([200]);
    expect(at('2026-03-08T13:30:00Z', 'America/New_York', o)).toEqual([]);
    expect(at('2026-03-08T12:30:00Z', 'America/New_York', o)).toEqual([200]);
    // Saturday 23:30 UTC is Sunday 08:30 in Tokyo.
    expect(at('2026-06-06T23:30:00Z', 'Asia/Tokyo', o)).toEqual([200]);
    expect(at('2026-06-06T23:30:00Z', 'UTC', o)).toEqual([]);
  });

  it('days of the week (ISO: 1 Monday … 7 Sunday) without times', () => {
    const o = [hh({ days_of_week: [1, 2, 3, 4, 5] })];
    expect(at('2026-06-01T12:00:00Z', 'UTC', o)).toEqual([200]); // Monday
    expect(at('2026-06-06T12:00:00Z', 'UTC', o)).toEqual([]); // Saturday
    expect(at('2026-06-05T23:30:00Z', 'UTC', o)).toEqual([200]); // Friday
    expect(at('2026-06-05T23:30:00Z', 'Europe/Lisbon', o)).toEqual([]); // already Saturday there
  });

  it('a window across midnight belongs to the day it starts', () => {
    const o = [hh({ days_of_week: [5], time_from: '22:00', time_to: '02:00' })]; // Friday night
    expect(at('2026-06-05T21:59:00Z', 'UTC', o)).toEqual([]);
    expect(at('2026-06-05T22:00:00Z', 'UTC', o)).toEqual([200]); // Fri 22:00
    expect(at('2026-06-06T01:30:00Z', 'UTC', o)).toEqual([200]); // Sat 01:30
    expect(at('2026-06-06T02:00:00Z', 'UTC', o)).toEqual([]); // Sat 02:00
    expect(at('2026-06-06T22:30:00Z', 'UTC', o)).toEqual([]); // Sat 22:30
    expect(at('2026-06-05T01:30:00Z', 'UTC', o)).toEqual([]); // Fri 01:30 belongs to Thursday
    const sunday = [hh({ days_of_week: [7], time_from: '23:00', time_to: '01:00' })];
    expect(at('2026-06-08T00:30:00Z', 'UTC', sunday)).toEqual([200]); // Monday 00:30, Sunday's window
    const every = [hh({ time_from: '22:00', time_to: '02:00' })];
    expect(at('2026-06-03T01:00:00Z', 'UTC', every)).toEqual([200]);
    expect(at('2026-06-03T12:00:00Z', 'UTC', every)).toEqual([]);
  });

  it('open-ended windows and 24:00', () => {
    expect(at('2026-06-01T23:59:00Z', 'UTC', [hh({ time_from: '15:00' })])).toEqual([200]);
    expect(at('2026-06-01T14:59:00Z', 'UTC', [hh({ time_from: '15:00' })])).toEqual([]);
    expect(at('2026-06-01T00:00:00Z', 'UTC', [hh({ time_to: '09:00' })])).toEqual([200]);
    expect(at('2026-06-01T23:59:00Z', 'UTC', [hh({ time_from: '20:00', time_to: '24:00' })])).toEqual([200]);
  });

  it('day and time conditions also hold on venue-restricted and spend offers', () => {
    const o = [hh({ days_of_week: [1], time_from: '11:00', time_to: '13:00', venues: ['ven_1'] }), offer({ award: { fixed: 5 }, conditions: { days_of_week: [2] } })];
    expect(at('2026-06-01T12:00:00Z', 'UTC', o)).toEqual([200]);
    expect(at('2026-06-02T12:00:00Z', 'UTC', o)).toEqual([5]);
    expect(at('2026-06-01T12:00:00Z', 'Asia/Tokyo', o)).toEqual([]); // 21:00 there
  });
});

describe('birthday', () => {
  const bday = offer({ goal: 'birthday', award: { fixed: 500 } });
  const compiled = compileOffers([bday], 'all');
  const on = (birth_date: string, iso: string, extra: Partial<PurchaseContext> = {}) => evaluatePurchase(compiled, { ...ctx, birth_date, at_ms: Date.parse(iso), ...extra });

  it('on the birthday, first purchase of the local day only', () => {
    expect(compiled.needs_birthday).toBe(true);
    const r = on('1990-06-01', '2026-06-01T12:00:00Z');
    expect(amounts(r)).toEqual([500]);
    // The day's bounds, for the shard script's own check of its purchases (lib.lua applyAwards).
    expect(r.awards[0]).toMatchObject({ goal: 'birthday', guard: 'first_of_day', guard_since_ms: Date.parse('2026-06-01T00:00:00Z'), guard_before_ms: Date.parse('2026-06-02T00:00:00Z') });
    expect(amounts(on('1990-06-01', '2026-06-01T12:00:00Z', { purchased_on_that_day: true }))).toEqual([]);
    expect(amounts(on('1990-06-02', '2026-06-01T12:00:00Z'))).toEqual([]);
    expect(amounts(on('1990-06-01', '2026-06-02T00:00:00Z'))).toEqual([]);
    expect(amounts(evaluatePurchase(compiled, { ...ctx, birth_date: null }))).toEqual([]);
  });

  it('in the venue’s timezone', () => {
    // 2026-05-31 20:00 UTC is June 1st 05:00 in Tokyo; the day began at 2026-05-31 15:00 UTC.
    const r = on('1990-06-01', '2026-05-31T20:00:00Z', { timezone: 'Asia/Tokyo' });
    expect(amounts(r)).toEqual([500]);
    expect(r.awards[0]).toMatchObject({ guard_since_ms: Date.parse('2026-05-31T15:00:00Z'), guard_before_ms: Date.parse('2026-06-01T15:00:00Z') });
    expect(amounts(on('1990-06-01', '2026-05-31T20:00:00Z', { timezone: 'Asia/Tokyo', purchased_on_that_day: true }))).toEqual([]);
    expect(amounts(on('1990-06-01', '2026-05-31T20:00:00Z'))).toEqual([]); // still May 31st in UTC
    expect(amounts(on('1990-06-01', '2026-06-02T03:00:00Z', { timezone: 'America/New_York' }))).toEqual([500]); // June 1st, 23:00
  });

  it('Feb 29 birthdays count on Feb 28 in common years, on Feb 29 in leap years', () => {
    expect(amounts(on('2000-02-29', '2027-02-28T12:00:00Z'))).toEqual([500]);
    expect(amounts(on('2000-02-29', '2027-03-01T12:00:00Z'))).toEqual([]);
    expect(amounts(on('2000-02-29', '2028-02-28T12:00:00Z'))).toEqual([]);
    expect(amounts(on('2000-02-29', '2028-02-29T12:00:00Z'))).toEqual([500]);
    expect(amounts(on('2001-02-28', '2028-02-28T12:00:00Z'))).toEqual([500]);
    expect(amounts(on('2001-02-28', '2028-02-29T12:00:00Z'))).toEqual([]);
  });

  it('birthDaysOn names the birth dates whose birthday a day is, as isBirthday decides (purchase.lua keeps those purchases)', () => {
    expect(birthDaysOn(readLocalTime(Date.parse('2026-06-01T12:00:00Z'), 'UTC'))).toBe('06-01');
    expect(birthDaysOn(readLocalTime(Date.parse('2027-02-28T12:00:00Z'), 'UTC'))).toBe('02-28|02-29');
    expect(birthDaysOn(readLocalTime(Date.parse('2028-02-28T12:00:00Z'), 'UTC'))).toBe('02-28');
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2100, 0, 1) }), fc.integer({ min: 0, max: 366 * 4 - 1 }), (at_ms, birth_day) => {
        const birth = new Date(Date.UTC(1996, 0, 1) + birth_day * 86_400_000).toISOString().slice(0, 10);
        const t = readLocalTime(at_ms, 'UTC');
        // As purchase.lua matches: the birth date's month and day found in the list.
        expect(birthDaysOn(t).split('|').includes(birth.slice(5, 10))).toBe(isBirthday(birth, t));
      }),
    );
  });
});

describe('first purchase and referral', () => {
  it('first_purchase awards only on a known first purchase, guarded', () => {
    const o = offer({ goal: 'first_purchase', award: { fixed: 300 } });
    const compiled = compileOffers([o], 'all');
    expect(compiled.needs_first_purchase).toBe(true);
    expect(amounts(evaluatePurchase(compiled, ctx))).toEqual([]);
    const r = evaluatePurchase(compiled, { ...ctx, first_purchase: true });
    expect(amounts(r)).toEqual([300]);
    expect(r.awards[0]).toMatchObject({ guard: 'first_purchase', beneficiary: 'contact' });
  });

  it('referral awards the referrer once, on the referred contact’s first purchase', () => {
    const o = offer({ goal: 'referral', award: { fixed: 1000 }, kind: 'instant_discount', validity_days: 30 });
    const spend = offer({ award: { percent: 5 } });
    const compiled = compileOffers([o, spend], 'best');
    expect(compiled.needs_referrer).toBe(true);
    const referrer = { contact_id: 'con_ref', tier: null, tags: [], schemes: no_schemes };
    const r = evaluatePurchase(compiled, { ...ctx, first_purchase: true, referrer });
    expect(amounts(r)).toEqual([100]); // the buyer's own award is resolved apart from the referrer's
    expect(r.discount).toBe(0);
    expect(r.referrer_awards).toEqual([
      expect.objectContaining({ offer_id: o.id, amount: 1000, kind: 'cashback', beneficiary: 'referrer', referrer_id: 'con_ref', guard: 'first_purchase', expires_at: '2026-07-01T12:00:00Z' }),
    ]);
    expect(evaluatePurchase(compiled, { ...ctx, first_purchase: false, referrer }).referrer_awards).toEqual([]);
    expect(evaluatePurchase(compiled, { ...ctx, first_purchase: true, referrer: null }).referrer_awards).toEqual([]);
  });

  it('a referral offer’s contact conditions are the referrer’s; its purchase conditions the purchase’s', () => {
    const o = offer({ goal: 'referral', award: { percent: 10 }, scheme_id: 'sch_a', conditions: { tiers: ['gold'], min_amount: 1500 } });
    const compiled = compileOffers([o], 'all');
    const gold = { contact_id: 'con_ref', tier: 'gold', tags: [], schemes: new Set(['sch_a']) };
    const base = { ...ctx, first_purchase: true, tier: null, schemes: no_schemes };
    expect(evaluatePurchase(compiled, { ...base, referrer: gold }).referrer_awards.map((a) => a.amount)).toEqual([200]);
    expect(evaluatePurchase(compiled, { ...base, referrer: { ...gold, schemes: no_schemes }, schemes: new Set(['sch_a']), tier: 'gold' }).referrer_awards).toEqual([]);
    expect(evaluatePurchase(compiled, { ...base, referrer: { ...gold, tier: 'silver' } }).referrer_awards).toEqual([]);
    expect(evaluatePurchase(compiled, { ...base, referrer: gold, amount: 1499 }).referrer_awards).toEqual([]);
  });
});

describe('signup', () => {
  const promo = offer({ goal: 'signup', award: { fixed: 500 }, limits: { per_contact: { count: 1, period: 'lifetime' } } });
  const auto = offer({ goal: 'signup', award: { fixed: 300 }, scheme_id: 'sch_auto' });
  const students = offer({ goal: 'signup', award: { fixed: 700 }, scheme_id: 'sch_students', max_award: 600 });
  const pct = offer({ goal: 'signup', award: { percent: 10 } });
  const tagged = offer({ goal: 'signup', kind: 'instant_discount', award: { fixed: 50 }, conditions: { tags: ['vip'] } });
  const compiled = compileOffers([promo, auto, students, pct, tagged, offer({ award: { fixed: 1 } })], 'all');
  const s: SignupContext = { at_ms: Date.parse('2026-06-01T12:00:00Z'), tier: null, tags: [], schemes: new Set(['sch_auto']), joined_scheme_id: null };

  it('on creation: promotions and the schemes the contact is in (auto schemes)', () => {
    const r = evaluateSignup(compiled, s);
    expect(r.awards.map((a) => [a.offer_id, a.amount, a.guard, a.period_key])).toEqual([
      [promo.id, 500, 'once', 'l'],
      [auto.id, 300, 'once', null],
    ]);
    expect(evaluateSignup(compiled, { ...s, tags: ['vip'] }).awards.map((a) => [a.amount, a.kind])).toEqual([[500, 'cashback'], [300, 'cashback'], [50, 'cashback']]);
  });

  it('on joining a scheme: that scheme’s offers only', () => {
    expect(amounts(evaluateSignup(compiled, { ...s, schemes: new Set(['sch_auto', 'sch_students']), joined_scheme_id: 'sch_students' }))).toEqual([600]);
    expect(amounts(evaluateSignup(compiled, { ...s, joined_scheme_id: 'sch_other' }))).toEqual([]);
  });

  it('resolution applies to signup awards too; outside the validity window nothing', () => {
    expect(amounts(evaluateSignup(compileOffers([promo, auto], 'best'), s))).toEqual([500]);
    expect(amounts(evaluateSignup(compileOffers([offer({ goal: 'signup', award: { fixed: 5 }, valid_from: '2027-01-01T00:00:00Z' })], 'all'), s))).toEqual([]);
  });
});

describe('resolution', () => {
  const offers = [
    offer({ award: { fixed: 10 } }),
    offer({ award: { fixed: 30 }, scheme_id: 'sch_a' }),
    offer({ award: { fixed: 20 }, scheme_id: 'sch_a' }),
    offer({ award: { fixed: 5 }, scheme_id: 'sch_b' }),
    offer({ award: { fixed: 30 }, scheme_id: 'sch_b' }), // ties with sch_a's 30: the older wins `best`
  ];
  const members = { schemes: new Set(['sch_a', 'sch_b']) };

  it('all, best, best_per_scheme', () => {
    expect(amounts(evalAll(offers, members, 'all'))).toEqual([10, 30, 20, 5, 30]);
    const best = evalAll(offers, members, 'best');
    expect(best.awards.map((a) => a.offer_id)).toEqual([offers[1]!.id]);
    expect(best.candidates).toHaveLength(5);
    expect(evalAll(offers, members, 'best_per_scheme').awards.map((a) => [a.scheme_id, a.amount])).toEqual([[null, 10], ['sch_a', 30], ['sch_b', 30]]);
  });

  it('promotions count as one scheme', () => {
    const r = evalAll([offer({ award: { percent: 5 } }), offer({ award: { fixed: 200 } }), offer({ award: { fixed: 50 }, scheme_id: 'sch_a' })], members, 'best_per_scheme');
    expect(r.awards.map((a) => [a.scheme_id, a.amount])).toEqual([[null, 200], ['sch_a', 50]]);
  });

  it('best compares discounts and cashback by amount; the discount follows the winner', () => {
    const r = evalAll([offer({ kind: 'instant_discount', award: { fixed: 150 } }), offer({ award: { fixed: 100 } })], {}, 'best');
    expect(r.awards.map((a) => a.kind)).toEqual(['instant_discount']);
    expect(r.discount).toBe(150);
  });

  it('fallback: resolveAwards without refused offers, and ranked groups', () => {
    const r = evalAll(offers, members, 'best_per_scheme');
    const refused = new Set([offers[1]!.id]);
    expect(resolveAwards(r.candidates, 'best_per_scheme', refused).map((a) => [a.scheme_id, a.amount])).toEqual([[null, 10], ['sch_a', 20], ['sch_b', 30]]);
    expect(resolveAwards(r.candidates, 'best', refused).map((a) => a.offer_id)).toEqual([offers[4]!.id]);
    expect(resolveAwards(r.candidates, 'all', refused)).toHaveLength(4);
    expect(rankedGroups(r.candidates, 'best_per_scheme').map((g) => [g.key, g.ranked.map((a) => a.amount)])).toEqual([
      ['promotions', [10]],
      ['scheme:sch_a', [30, 20]],
      ['scheme:sch_b', [30, 5]],
    ]);
    expect(rankedGroups(r.candidates, 'best').map((g) => g.ranked.map((a) => a.amount))).toEqual([[30, 30, 20, 10, 5]]);
    expect(rankedGroups(r.candidates, 'all')).toHaveLength(5);
    expect(discountOf(r.candidates, 1)).toBe(0);
  });

  it('resolution places: each group’s first place is its winner, the rest follow; in `all` every award stands alone', () => {
    for (const resolution of ['best', 'best_per_scheme'] as const) {
      const r = evalAll(offers, members, resolution);
      const places = resolutionPlaces(r.candidates, resolution);
      const winners = r.candidates.filter((_, i) => places[i]!.place === 1);
      expect(winners).toEqual(resolveAwards(r.candidates, resolution));
      // The places of each group are 1..n, with no gap and none twice.
      const by_group = new Map<number, number[]>();
      places.forEach((p) => by_group.set(p.group, [...(by_group.get(p.group) ?? []), p.place]));
      for (const [group, ps] of by_group) {
        expect(group).toBeGreaterThan(0);
        expect(ps.sort((a, b) => a - b)).toEqual(ps.map((_, i) => i + 1));
      }
      // A refused winner's stand-in is the next place: what resolveAwards without it would choose.
      const refused = new Set(winners.map((w) => w.offer_id));
      const seconds = r.candidates.filter((_, i) => places[i]!.place === 2);
      expect(seconds).toEqual(resolveAwards(r.candidates, resolution, refused));
    }
    expect(resolutionPlaces(evalAll(offers, members, 'all').candidates, 'all').every((p) => p.group === 0)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// A deliberately naive reference: scans every offer, reads local time straight from Intl. The
// indexed engine must agree with it on every random business and purchase.

function refLocal(at_ms: number, timezone: string) {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', weekday: 'short' }).formatToParts(at_ms);
  const get = (t: string) => parts.find((p) => p.type === t)!.value;
  return { year: Number(get('year')), month: Number(get('month')), day: Number(get('day')), minute: (Number(get('hour')) % 24) * 60 + Number(get('minute')), dow: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(get('weekday')) + 1 };
}

function referenceCandidates(offers: Offer[], c: PurchaseContext): { offer_id: string; amount: number }[] {
  const out: { offer_id: string; amount: number }[] = [];
  const lt = refLocal(c.at_ms, c.timezone);
  for (const o of offers) {
    if (!o.active || o.goal === 'signup' || o.goal === 'referral') continue;
    if (o.goal === 'first_purchase' && !c.first_purchase) continue;
    if (o.goal === 'birthday') {
      if (c.birth_date === null) continue;
      const [, m, d] = c.birth_date.split('-').map(Number);
      const today = (m === lt.month && d === lt.day) || (m === 2 && d === 29 && lt.month === 2 && lt.day === 28 && !isLeapYear(lt.year));
      if (!today || c.purchased_on_that_day) continue;
    }
    if (o.valid_from !== undefined && c.at_ms < Date.parse(o.valid_from)) continue;
    if (o.valid_to !== undefined && c.at_ms >= Date.parse(o.valid_to)) continue;
    const k = o.conditions;
    if (k.venues?.length && !k.venues.includes(c.venue_id)) continue;
    if (k.merchants?.length && (c.merchant_id === null || !k.merchants.includes(c.merchant_id))) continue;
    if (o.scheme_id && !c.schemes.has(o.scheme_id)) continue;
    if (k.tiers?.length && (c.tier === null || !k.tiers.includes(c.tier))) continue;
    if (k.tags?.length && !k.tags.some((t) => c.tags.includes(t))) continue;
    if (k.days_of_week?.length || k.time_from !== undefined || k.time_to !== undefined) {
      const toMin = (s: string) => Math.min(1440, Number(s.slice(0, 2)) * 60 + Number(s.slice(3)));
      const from = k.time_from === undefined ? 0 : toMin(k.time_from);
      const to = k.time_to === undefined ? 1440 : toMin(k.time_to);
      let day = lt.dow;
      if (from < to && (lt.minute < from || lt.minute >= to)) continue;
      if (from > to) {
        if (lt.minute < to) day = day === 1 ? 7 : day - 1;
        else if (lt.minute < from) continue;
      }
      if (k.days_of_week?.length && !k.days_of_week.includes(day)) continue;
    }
    const p = k.products;
    const lists = p === undefined ? [] : ([['sku', p.skus], ['family', p.families], ['brand', p.brands], ['type', p.types]] as const).filter(([, l]) => l !== undefined && l.length > 0);
    const matching = c.items.filter((it) => lists.every(([f, l]) => it[f] !== undefined && l!.includes(it[f]!)));
    let base = c.amount;
    if (lists.length > 0 && matching.length === 0) continue;
    if (o.goal === 'product') {
      if (matching.length === 0) continue;
      base = matching.reduce((s, it) => s + it.amount, 0);
    }
    if (base < (k.min_amount ?? 0)) continue;
    let amount = 'percent' in o.award ? Math.floor((base * Math.round(o.award.percent * 100)) / 10_000) : o.award.fixed;
    if (o.max_award !== undefined) amount = Math.min(amount, o.max_award);
    if (o.kind === 'instant_discount') amount = Math.min(amount, base);
    if (amount > 0) out.push({ offer_id: o.id, amount });
  }
  return out;
}

const venues = ['ven_1', 'ven_2', 'ven_3'];
const merchants = ['mer_1', 'mer_2'];
const skus = ['A', 'B', 'C', 'D'];
const fams = ['f1', 'f2'];
const sub = <T>(xs: readonly T[]) => fc.option(fc.subarray([...xs], { minLength: 1 }), { nil: undefined });
const arbTime = fc.option(
  fc.tuple(fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 30)).map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`),
  { nil: undefined },
);
const arbOfferInput = fc.record({
  goal: fc.constantFrom('spend', 'spend', 'product', 'product', 'happy_hour', 'birthday', 'first_purchase', 'referral', 'signup'),
  kind: fc.constantFrom('cashback', 'instant_discount'),
  active: fc.constantFrom(true, true, true, true, true, true, true, true, false),
  award: fc.oneof(fc.record({ percent: fc.integer({ min: 0, max: 10_000 }).map((bp) => bp / 100) }), fc.record({ fixed: fc.integer({ min: 0, max: 100_000 }) })),
  max_award: fc.option(fc.integer({ min: 0, max: 50_000 }), { nil: undefined }),
  scheme_id: fc.constantFrom(undefined, undefined, 'sch_a', 'sch_b'),
  valid_to: fc.constantFrom(undefined, undefined, '2026-06-01T00:00:00Z'),
  conditions: fc.record(
    {
      min_amount: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }),
      venues: sub(venues),
      merchants: sub(merchants),
      tiers: sub(['gold', 'silver']),
      tags: sub(['student', 'staff', 'vip']),
      products: fc.option(fc.record({ skus: sub(skus), families: sub(fams), brands: sub(['x', 'y']) }, { requiredKeys: [] }), { nil: undefined }),
      days_of_week: sub([1, 2, 3, 4, 5, 6, 7]),
      time_from: arbTime,
      time_to: arbTime,
    },
    { requiredKeys: [] },
  ),
});
const arbItem = fc.record({ sku: fc.constantFrom(...skus), family: fc.option(fc.constantFrom(...fams), { nil: undefined }), brand: fc.constantFrom(undefined, 'x', 'y'), quantity: fc.constant(1), amount: fc.integer({ min: 0, max: 50_000 }) });
const arbCtx = fc.record({
  items: fc.array(arbItem, { maxLength: 6 }),
  extra: fc.integer({ min: 0, max: 20_000 }),
  venue_id: fc.constantFrom(...venues),
  merchant_id: fc.constantFrom(null, ...merchants),
  timezone: fc.constantFrom('UTC', 'Europe/Lisbon', 'America/New_York', 'Asia/Tokyo', 'Australia/Adelaide'),
  at_ms: fc.integer({ min: Date.parse('2026-01-01T00:00:00Z'), max: Date.parse('2027-12-31T00:00:00Z') }),
  tier: fc.constantFrom(null, 'gold', 'silver'),
  tags: fc.subarray(['student', 'staff', 'vip']),
  schemes: fc.subarray(['sch_a', 'sch_b']).map((s) => new Set(s)),
  // 'today': born on the purchase's local date (toCtx), so that birthdays are not one run in 365.
  birth_date: fc.constantFrom(null, '1990-01-01', '2000-02-29', '1985-06-15', 'today'),
  first_purchase: fc.boolean(),
  purchased_on_that_day: fc.boolean(),
  referred: fc.boolean(),
});
type ArbCtx = typeof arbCtx extends fc.Arbitrary<infer T> ? T : never;

/** A birth date (in a leap year, so that 29 February is one) whose birthday is the local date at `at_ms`. */
function bornOn(at_ms: number, timezone: string): string {
  const lt = refLocal(at_ms, timezone);
  return `2000-${String(lt.month).padStart(2, '0')}-${String(lt.day).padStart(2, '0')}`;
}

/** A birthday award's guard names the purchase's whole local day, to the millisecond: what the shard script counts purchases in. */
function expectLocalDay(x: Award, c: PurchaseContext): void {
  const date = (ms: number) => {
    const t = refLocal(ms, c.timezone);
    return `${t.year}-${t.month}-${t.day}`;
  };
  const today = date(c.at_ms);
  expect([date(x.guard_since_ms), date(x.guard_before_ms - 1)]).toEqual([today, today]);
  expect(date(x.guard_since_ms - 1)).not.toBe(today);
  expect(date(x.guard_before_ms)).not.toBe(today);
}
function toCtx(a: ArbCtx): PurchaseContext {
  const items_total = a.items.reduce((s, i) => s + i.amount, 0);
  const items = a.items.length > 0 ? a.items : [];
  // Items add up to the amount when given; without items the amount is free.
  return {
    ...ctx,
    items,
    amount: items.length > 0 ? Math.max(1, items_total) : 1 + a.extra,
    venue_id: a.venue_id,
    merchant_id: a.merchant_id,
    timezone: a.timezone,
    at_ms: a.at_ms,
    tier: a.tier,
    tags: a.tags,
    schemes: a.schemes,
    birth_date: a.birth_date === 'today' ? bornOn(a.at_ms, a.timezone) : a.birth_date,
    first_purchase: a.first_purchase,
    purchased_on_that_day: a.purchased_on_that_day,
    referrer: a.referred ? { contact_id: 'con_ref', tier: 'gold', tags: ['vip'], schemes: new Set(['sch_a']) } : null,
  };
}
const total = (awards: readonly Award[]) => awards.reduce((s, a) => s + a.amount, 0);

describe('properties', () => {
  it('the indexed engine finds exactly what a scan of every offer finds', () => {
    fc.assert(
      fc.property(fc.array(arbOfferInput, { maxLength: 25 }), arbCtx, (inputs, a) => {
        const offers = inputs.map((i) => offer(JSON.parse(JSON.stringify(i))));
        const c = toCtx(a);
        const r = evaluatePurchase(compileOffers(offers, 'all'), c);
        expect(r.candidates.map((x) => ({ offer_id: x.offer_id, amount: x.amount }))).toEqual(referenceCandidates(offers, c));
        expect(r.awards).toBe(r.candidates);
        for (const x of r.candidates) if (x.guard === 'first_of_day') expectLocalDay(x, c);
      }),
      { numRuns: 1500 },
    );
  });

  it('awards never negative nor above max_award; product ≤ matching items; discounts ≤ amount; best ≤ best_per_scheme ≤ all', () => {
    fc.assert(
      fc.property(fc.array(arbOfferInput, { maxLength: 15 }), arbCtx, (inputs, a) => {
        const offers = inputs.map((i) => offer(JSON.parse(JSON.stringify(i))));
        const byId = new Map(offers.map((o) => [o.id, o]));
        const c = toCtx(a);
        const all = evaluatePurchase(compileOffers(offers, 'all'), c);
        const best = evaluatePurchase(compileOffers(offers, 'best'), c);
        const per = evaluatePurchase(compileOffers(offers, 'best_per_scheme'), c);
        for (const r of [all, best, per]) {
          expect(r.discount).toBeGreaterThanOrEqual(0);
          expect(r.discount).toBeLessThanOrEqual(c.amount);
          expect(r.discount).toBe(discountOf(r.awards, c.amount));
          for (const x of [...r.candidates, ...r.referrer_candidates]) {
            expect(Number.isSafeInteger(x.amount)).toBe(true);
            expect(x.amount).toBeGreaterThan(0);
            const o = byId.get(x.offer_id)!;
            if (o.max_award !== undefined) expect(x.amount).toBeLessThanOrEqual(o.max_award);
            if (x.kind === 'instant_discount') expect(x.amount).toBeLessThanOrEqual(c.amount);
            if (o.goal === 'product' && 'percent' in o.award) {
              const p = o.conditions.products;
              const matching = c.items.filter(
                (it) => (!p?.skus?.length || p.skus.includes(it.sku)) && (!p?.families?.length || (it.family !== undefined && p.families.includes(it.family))) && (!p?.brands?.length || (it.brand !== undefined && p.brands.includes(it.brand))),
              );
              expect(x.amount).toBeLessThanOrEqual(matching.reduce((sum, it) => sum + it.amount, 0));
            }
          }
          expect(r.awards.every((x) => r.candidates.includes(x))).toBe(true);
        }
        expect(total(best.awards)).toBeLessThanOrEqual(total(per.awards));
        expect(total(per.awards)).toBeLessThanOrEqual(total(all.awards));
        expect(best.awards.length).toBeLessThanOrEqual(1);
        expect(best.referrer_awards.length).toBeLessThanOrEqual(1);
        expect(total(best.referrer_awards)).toBeLessThanOrEqual(total(all.referrer_awards));
        if (all.candidates.length > 0) expect(best.awards[0]!.amount).toBe(Math.max(...all.candidates.map((x) => x.amount)));
        const schemes = new Set(per.candidates.map((x) => x.scheme_id));
        expect(per.awards.map((x) => x.scheme_id).sort()).toEqual([...schemes].sort());
        expect(discountOf(best.awards, c.amount)).toBeLessThanOrEqual(discountOf(all.awards, c.amount));
      }),
      { numRuns: 1000 },
    );
  });

  it('referral awards only on a first purchase with a referrer, to that referrer', () => {
    fc.assert(
      fc.property(fc.array(arbOfferInput, { maxLength: 15 }), arbCtx, (inputs, a) => {
        const offers = inputs.map((i) => offer(JSON.parse(JSON.stringify(i))));
        const c = toCtx(a);
        const r = evaluatePurchase(compileOffers(offers, 'all'), c);
        if (!c.first_purchase || c.referrer === null) expect(r.referrer_awards).toEqual([]);
        for (const x of r.referrer_awards) expect(x).toMatchObject({ beneficiary: 'referrer', referrer_id: 'con_ref', goal: 'referral', kind: 'cashback', guard: 'first_purchase' });
        for (const x of r.awards) expect(x.beneficiary).toBe('contact');
        for (const x of r.awards) if (x.goal === 'first_purchase') expect(c.first_purchase).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
