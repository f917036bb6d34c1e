// API.md "Rewards" against a model of its own: random offers of a business (schemes, a tier
// table, tags, merchants and venues in three timezones) and random purchases over HTTP, each
// purchase's `awards`, `discount`, `amount_due` and wallet compared with what the page's rules
// (and the README's decisions where the page is silent) give, computed here from the page, not
// from core/offer.ts. The quote of each purchase, made just before it, must answer the same.
// Also: sign-up credits (on creation and on joining a scheme), the referrer's credit on a referred
// contact's first purchase, wallet payments (`pay`), and PATCHes of `active` and `limits` between
// purchases; every contact's wallet is checked at the end of each run.
// Seed: OFFER_MODEL_SEED (default 4242); runs: OFFER_MODEL_RUNS (default 30).

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, patient_probes, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let seq = 0;
const seen = { purchases: 0, awards: 0, discounts: 0 };

beforeAll(async () => {
  gw = await startTestGateway(patient_probes);
});
afterAll(async () => {
  await gw?.close();
});

// ---------------------------------------------------------------------------------------------
// The model: local time at a venue
// ---------------------------------------------------------------------------------------------

interface Local {
  readonly date: string; // YYYY-MM-DD
  readonly dow: number; // ISO 1 Monday … 7 Sunday
  readonly minutes: number; // since local midnight
  readonly offset_ms: number; // local − UTC
}

function localOf(ms: number, tz: string): Local {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  const date = `${parts.year}-${parts.month}-${parts.day}`;
  const as_utc = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  const dow = ((new Date(`${date}T00:00:00Z`).getUTCDay() + 6) % 7) + 1;
  return { date, dow, minutes: Number(parts.hour) * 60 + Number(parts.minute), offset_ms: as_utc - Math.floor(ms / 1000) * 1000 };
}

function isoWeek(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  const dow = ((d.getUTCDay() + 6) % 7) + 1;
  d.setUTCDate(d.getUTCDate() + 4 - dow); // the week's Thursday names its year
  const year = d.getUTCFullYear();
  const week = Math.floor((d.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 / 7) + 1;
  return `${year}-W${week}`;
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));
const prevDow = (d: number) => (d === 1 ? 7 : d - 1);

/** days_of_week, time_from (inclusive), time_to (exclusive); a window past midnight belongs to the day it starts. */
function inHours(c: OfferSpec['conditions'], l: Local): boolean {
  const days = c.days_of_week;
  const dayOk = (d: number) => days === undefined || days.length === 0 || days.includes(d);
  if (c.time_from === undefined && c.time_to === undefined) return dayOk(l.dow);
  const from = c.time_from === undefined ? 0 : minutesOf(c.time_from);
  const to = c.time_to === undefined ? 1440 : minutesOf(c.time_to);
  if (from < to) return dayOk(l.dow) && l.minutes >= from && l.minutes < to;
  return (l.minutes >= from && dayOk(l.dow)) || (l.minutes < to && dayOk(prevDow(l.dow)));
}

// ---------------------------------------------------------------------------------------------
// The model: offers and purchases
// ---------------------------------------------------------------------------------------------

type SchemeRef = 'none' | 'auto' | 'self';
interface OfferSpec {
  goal: 'spend' | 'product' | 'happy_hour' | 'birthday' | 'first_purchase' | 'signup' | 'referral';
  kind: 'cashback' | 'instant_discount';
  award: { percent: number } | { fixed: number };
  scheme: SchemeRef;
  active: boolean;
  instant_redeem: boolean;
  max_award?: number;
  validity_days?: number;
  pool?: string;
  valid_from_h?: number; // hours relative to now
  valid_to_h?: number;
  per_contact?: { count: number; period: 'day' | 'week' | 'month' | 'lifetime' };
  budget?: number;
  conditions: {
    min_amount?: number;
    merchants?: 'mine' | 'none';
    venues?: number[]; // indexes into the venues
    products?: { skus?: string[]; families?: string[]; brands?: string[]; types?: string[] };
    days_of_week?: number[];
    time_from?: string;
    time_to?: string;
    tiers?: string[];
    tags?: string[];
  };
}

interface Item {
  sku: string;
  family?: string;
  brand?: string;
  type?: string;
  quantity: number;
  amount: number;
}

interface PurchaseSpec {
  who: number;
  venue: number;
  offset_s: number; // occurred_at = now + offset (within −24 h … +5 min)
  ms: number;
  items: Item[] | null;
  amount: number;
  pay: number; // asked of the wallet; the test sends at most the open balance and the amount
}

interface Venue {
  readonly id: string;
  readonly merchant: boolean; // under the fixture's merchant, else the business's own
  readonly tz: string;
  readonly key: string;
}

interface PersonModel {
  readonly tags: string[];
  readonly self_member: boolean;
  readonly birth: string; // MM-DD
  readonly referrer: number | null; // index of the referrer
  readonly wallet: { open: number; commerce: number };
  units: number; // minor units this year
  purchases_ms: number[];
  /** Purchases made on the birthday at their venue's local day: the README keeps only those for "first purchase of that day". */
  birthday_purchases_ms: number[];
}

interface ModelAward {
  readonly index: number;
  readonly scheme: SchemeRef;
  readonly kind: 'cashback' | 'instant_discount';
  amount: number;
  readonly instant_redeem: boolean;
  readonly pool: string | null;
  readonly expires_at: string | null;
}

const TIERS = [
  { name: 'silver', min_period_units: 20, period: 'year' },
  { name: 'gold', min_period_units: 60, period: 'year' },
];

function tierOf(units_minor: number): string | null {
  let best: string | null = null;
  for (const t of TIERS) if (units_minor / 100 >= t.min_period_units) best = t.name;
  return best;
}

function itemMatches(p: NonNullable<OfferSpec['conditions']['products']>, it: Item): boolean {
  const ok = (list: string[] | undefined, v: string | undefined) => list === undefined || list.length === 0 || (v !== undefined && list.includes(v));
  return ok(p.skus, it.sku) && ok(p.families, it.family) && ok(p.brands, it.brand) && ok(p.types, it.type);
}

function expiresAt(at_ms: number, days: number | undefined, kind: string, instant_redeem: boolean): string | null {
  if (days === undefined || kind === 'instant_discount' || instant_redeem) return null;
  return new Date(Math.floor((at_ms + days * 86_400_000) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The offer's candidate award for this purchase (before resolution, caps and budgets), or null. */
function candidate(o: OfferSpec, index: number, p: PurchaseSpec, at_ms: number, now_ms: number, who: PersonModel, venues: readonly Venue[]): ModelAward | null {
  if (!o.active || o.goal === 'signup') return null;
  if (o.valid_from_h !== undefined && at_ms < now_ms + o.valid_from_h * 3_600_000) return null;
  if (o.valid_to_h !== undefined && at_ms >= now_ms + o.valid_to_h * 3_600_000) return null;
  if (o.scheme === 'self' && !who.self_member) return null;
  const venue = venues[p.venue]!;
  const local = localOf(at_ms, venue.tz);
  const c = o.conditions;
  if (c.merchants === 'mine' && !venue.merchant) return null;
  if (c.merchants === 'none') return null; // a merchant list naming no merchant of this purchase
  if (c.venues !== undefined && !c.venues.includes(p.venue)) return null;
  if (!inHours(c, local)) return null;
  if (c.tiers !== undefined && !c.tiers.includes(tierOf(who.units) ?? '')) return null;
  if (c.tags !== undefined && !c.tags.some((t) => who.tags.includes(t))) return null;
  const products = c.products ?? {};
  const matching = (p.items ?? []).filter((it) => itemMatches(products, it));
  if ((o.goal === 'product' || c.products !== undefined) && matching.length === 0) return null;
  const base = o.goal === 'product' ? matching.reduce((s, it) => s + it.amount, 0) : p.amount;
  if (c.min_amount !== undefined && base < c.min_amount) return null;
  if (o.goal === 'first_purchase' && who.purchases_ms.length > 0) return null;
  if (o.goal === 'birthday') {
    const birthday = local.date.slice(5) === who.birth;
    const day_start = Date.parse(`${local.date}T00:00:00Z`) - local.offset_ms;
    const day_end = day_start + 86_400_000;
    if (!birthday || who.birthday_purchases_ms.some((t) => t >= day_start && t < day_end)) return null;
  }
  let amount = 'percent' in o.award ? Math.floor((base * Math.round(o.award.percent * 100)) / 10_000) : o.award.fixed;
  if (o.max_award !== undefined) amount = Math.min(amount, o.max_award);
  if (o.kind === 'instant_discount') amount = Math.min(amount, base);
  if (amount <= 0) return null;
  return { index, scheme: o.scheme, kind: o.kind, amount, instant_redeem: o.instant_redeem, pool: o.pool ?? null, expires_at: expiresAt(at_ms, o.validity_days, o.kind, o.instant_redeem) };
}

function periodKey(period: string, at_ms: number, tz: string): string {
  const l = localOf(at_ms, tz);
  if (period === 'day') return l.date;
  if (period === 'week') return isoWeek(l.date);
  if (period === 'month') return l.date.slice(0, 7);
  return 'lifetime';
}

interface BusinessModel {
  readonly created_ms: number; // the `now` valid_from_h / valid_to_h are relative to
  readonly resolution: 'all' | 'best' | 'best_per_scheme';
  readonly offers: OfferSpec[];
  readonly awarded: number[]; // per offer, toward its budget
  /** Every award made, for the per-contact caps: a cap set later counts the awards before it (README). */
  readonly history: { index: number; who: number; ms: number; tz: string }[];
}

/**
 * Resolution (`all`, `best`, `best_per_scheme`; promotions one scheme), the next best of a group
 * standing in when a per-contact cap or a spent budget refuses its winner, then budgets' remainders,
 * then instant discounts fitted into `room`. Counts what it awards.
 */
function resolve(m: BusinessModel, cands: ModelAward[], who: number, at: { ms: number; tz: string }, room: number): ModelAward[] {
  const budgetLeft = (i: number) => (m.offers[i]!.budget === undefined ? Infinity : m.offers[i]!.budget! - m.awarded[i]!);
  const counted = (i: number, period: string) => {
    const key = periodKey(period, at.ms, at.tz);
    return m.history.filter((h) => h.index === i && h.who === who && periodKey(period, h.ms, h.tz) === key).length;
  };
  const groupOf = (a: ModelAward) => (m.resolution === 'all' ? `o${a.index}` : m.resolution === 'best' ? 'all' : a.scheme);
  const groups = new Map<string, ModelAward[]>();
  for (const a of cands) groups.set(groupOf(a), [...(groups.get(groupOf(a)) ?? []), a]);
  const won: ModelAward[] = [];
  for (const list of groups.values()) {
    // The largest award is the one the contact would get: an offer's budget left caps it.
    const worth = (a: ModelAward) => Math.min(a.amount, budgetLeft(a.index));
    list.sort((a, b) => worth(b) - worth(a) || a.index - b.index);
    const admitted = list.find((a) => {
      const cap = m.offers[a.index]!.per_contact;
      return (cap === undefined || counted(a.index, cap.period) < cap.count) && budgetLeft(a.index) > 0;
    });
    if (admitted) won.push(admitted);
  }
  won.sort((a, b) => a.index - b.index);
  const awards: ModelAward[] = [];
  for (const a of won) {
    let amount = Math.min(a.amount, budgetLeft(a.index));
    if (a.kind === 'instant_discount') {
      amount = Math.min(amount, room);
      room -= amount;
    }
    if (amount <= 0) continue;
    m.history.push({ index: a.index, who, ...at });
    m.awarded[a.index]! += amount;
    awards.push({ ...a, amount });
  }
  return awards;
}

function credit(person: PersonModel, awards: readonly ModelAward[]): void {
  for (const a of awards) {
    if (a.kind !== 'cashback') continue;
    if (a.instant_redeem) person.wallet.open += a.amount;
    else person.wallet.commerce += a.amount;
  }
}

/** The purchase's awards as the page says; the referrer's referral awards credited on the side. */
function modelPurchase(m: BusinessModel, people: PersonModel[], p: PurchaseSpec, paid: number, at_ms: number, now_ms: number, venues: readonly Venue[]) {
  const who = people[p.who]!;
  who.wallet.open -= paid;
  const tz = venues[p.venue]!.tz;
  const mine = m.offers.map((o, i) => (o.goal === 'referral' ? null : candidate(o, i, p, at_ms, now_ms, who, venues))).filter((a): a is ModelAward => a !== null);
  // amount_due = amount − discount − paid_from_wallet is never negative: discounts fit into what the wallet leaves.
  const awards = resolve(m, mine, p.who, { ms: at_ms, tz }, p.amount - paid);
  // `referral` awards the referrer once, on the referred contact's first purchase: the referrer's
  // facts for the contact conditions, the purchase's for the rest; a credit (cashback), its caps' periods in UTC.
  if (who.referrer !== null && who.purchases_ms.length === 0) {
    const referrer = people[who.referrer]!;
    const theirs = m.offers
      .map((o, i) => (o.goal === 'referral' && o.kind === 'cashback' ? candidate(o, i, p, at_ms, now_ms, referrer, venues) : null))
      .filter((a): a is ModelAward => a !== null);
    credit(referrer, resolve(m, theirs, who.referrer, { ms: at_ms, tz: 'UTC' }, Infinity));
  }
  credit(who, awards);
  who.units += p.amount;
  who.purchases_ms.push(at_ms);
  if (localOf(at_ms, tz).date.slice(5) === who.birth) who.birthday_purchases_ms.push(at_ms);
  const discount = awards.filter((a) => a.kind === 'instant_discount').reduce((s, a) => s + a.amount, 0);
  return { awards, discount, paid, amount_due: p.amount - discount - paid };
}

/** `signup` awards once when a contact is created (promotions and `auto` schemes) or joins a scheme (that scheme's). */
function modelSignup(m: BusinessModel, people: PersonModel[], who: number, schemes: readonly SchemeRef[], now_ms: number): void {
  const cands: ModelAward[] = [];
  m.offers.forEach((o, i) => {
    if (o.goal !== 'signup' || !o.active || !schemes.includes(o.scheme)) return;
    if (o.valid_from_h !== undefined && now_ms < o.valid_from_h * 3_600_000 + m.created_ms) return;
    if (o.valid_to_h !== undefined && now_ms >= o.valid_to_h * 3_600_000 + m.created_ms) return;
    if (!('fixed' in o.award)) return;
    const amount = Math.min(o.award.fixed, o.max_award ?? Infinity);
    cands.push({ index: i, scheme: o.scheme, kind: 'cashback', amount, instant_redeem: o.instant_redeem, pool: o.pool ?? null, expires_at: null });
  });
  credit(people[who]!, resolve(m, cands, who, { ms: now_ms, tz: 'UTC' }, Infinity));
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const SKUS = ['s1', 's2', 's3'];
const FAMILIES = ['f1', 'f2'];
const BRANDS = ['b1', 'b2'];
const TYPES = ['t1', 't2'];
const TIMES = ['00:00', '06:30', '12:00', '15:00', '18:00', '22:00', '24:00'];

const sub = <T>(xs: T[]) => fc.subarray(xs, { minLength: 1 });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

// Each condition on about one offer in six, so that most offers can award.
const rare = <T>(a: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(undefined), weight: 5 }, { arbitrary: a, weight: 1 });
const conditionsArb = fc.record({
  min_amount: rare(fc.integer({ min: 1, max: 4000 })),
  merchants: rare(fc.constantFrom('mine' as const, 'none' as const)),
  venues: rare(sub([0, 1, 2])),
  products: rare(fc.record({ skus: sub(SKUS), families: sub(FAMILIES), brands: sub(BRANDS), types: sub(TYPES) }, { requiredKeys: [] })),
  days_of_week: rare(sub([1, 2, 3, 4, 5, 6, 7])),
  time_from: rare(fc.constantFrom(...TIMES.slice(0, -1))),
  time_to: rare(fc.constantFrom(...TIMES.slice(1))),
  tiers: rare(sub(['silver', 'gold'])),
  tags: rare(sub(['student', 'vip'])),
}).filter((c) => c.time_from === undefined || c.time_to === undefined || c.time_from !== c.time_to);

const offerArb: fc.Arbitrary<OfferSpec> = fc.record(
  {
    goal: fc.constantFrom('spend' as const, 'product' as const, 'happy_hour' as const, 'birthday' as const, 'first_purchase' as const, 'signup' as const, 'referral' as const),
    kind: fc.constantFrom('cashback' as const, 'instant_discount' as const),
    award: fc.oneof(fc.record({ fixed: fc.integer({ min: 1, max: 3000 }) }), fc.record({ percent: fc.constantFrom(1, 5, 10, 12.5, 33.33, 50, 100) })),
    scheme: fc.constantFrom('none' as const, 'auto' as const, 'self' as const),
    active: fc.constantFrom(true, true, true, false),
    instant_redeem: fc.boolean(),
    max_award: opt(fc.integer({ min: 1, max: 2000 })),
    validity_days: opt(fc.integer({ min: 1, max: 400 })),
    pool: opt(fc.constantFrom('coffee', 'shoes')),
    valid_from_h: rare(fc.integer({ min: -30, max: 0 })),
    valid_to_h: rare(fc.integer({ min: -20, max: 2 })),
    per_contact: opt(fc.record({ count: fc.integer({ min: 1, max: 2 }), period: fc.constantFrom('day' as const, 'week' as const, 'month' as const, 'lifetime' as const) })),
    budget: opt(fc.integer({ min: 1, max: 4000 })),
    conditions: conditionsArb,
  },
  { requiredKeys: ['goal', 'kind', 'award', 'scheme', 'active', 'instant_redeem', 'conditions'] },
)
  .filter((o) => o.valid_from_h === undefined || o.valid_to_h === undefined || o.valid_from_h < o.valid_to_h)
  // A sign-up or a referral credits someone not at the till: cashback (the page has no discount for them); a sign-up has no purchase to meet conditions,
  // nor to take a percent of: its award is fixed (a percent one is refused, 400).
  .map((o): OfferSpec => (o.goal === 'signup' ? { ...o, kind: 'cashback', conditions: {}, award: 'fixed' in o.award ? o.award : { fixed: Math.max(1, Math.round(o.award.percent * 10)) } } : o.goal === 'referral' ? { ...o, kind: 'cashback' } : o))
  // An award straight into the open balance has no pool, nor has an instant discount (refused, 400).
  .map((o): OfferSpec => {
    if ((!o.instant_redeem && o.kind !== 'instant_discount') || o.pool === undefined) return o;
    const { pool: _pool, ...rest } = o;
    return rest;
  });


const itemArb = fc.record(
  { sku: fc.constantFrom(...SKUS), family: fc.constantFrom(...FAMILIES), brand: fc.constantFrom(...BRANDS), type: fc.constantFrom(...TYPES), quantity: fc.integer({ min: 1, max: 3 }), amount: fc.integer({ min: 1, max: 3000 }) },
  { requiredKeys: ['sku', 'quantity', 'amount'] },
);

const purchaseArb: fc.Arbitrary<PurchaseSpec> = fc
  .record({
    who: fc.integer({ min: 0, max: 2 }),
    venue: fc.integer({ min: 0, max: 2 }),
    offset_s: fc.integer({ min: -23 * 3600, max: 4 * 60 }),
    ms: fc.integer({ min: 0, max: 999 }),
    items: fc.option(fc.array(itemArb, { minLength: 1, maxLength: 3 }), { nil: null }),
    bare: fc.integer({ min: 1, max: 6000 }),
    pay: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 6000 }), weight: 1 }),
  })
  .map(({ bare, ...p }) => ({ ...p, amount: p.items === null ? bare : p.items.reduce((s, it) => s + it.amount, 0) }));

type Limits = { per_contact?: OfferSpec['per_contact']; budget?: number } | null;
type Op = { purchase: PurchaseSpec } | { patch: number; active: boolean } | { patch: number; limits: Limits };
const limitsArb: fc.Arbitrary<Limits> = fc.option(
  fc.record(
    { per_contact: fc.record({ count: fc.integer({ min: 1, max: 2 }), period: fc.constantFrom('day' as const, 'week' as const, 'month' as const, 'lifetime' as const) }), budget: fc.integer({ min: 1, max: 4000 }) },
    { requiredKeys: [] },
  ),
  { nil: null },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: purchaseArb.map((purchase) => ({ purchase })), weight: 6 },
  { arbitrary: fc.record({ patch: fc.integer({ min: 0, max: 5 }), active: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ patch: fc.integer({ min: 0, max: 5 }), limits: limitsArb }), weight: 1 },
);

// ---------------------------------------------------------------------------------------------
// The gateway side
// ---------------------------------------------------------------------------------------------

interface World {
  readonly biz: BusinessFixture;
  readonly venues: Venue[];
  readonly schemes: Record<'auto' | 'self', string>;
  readonly cards: string[];
  readonly contact_ids: string[];
  readonly wallet_codes: string[];
  readonly offer_ids: string[];
}

async function ok(res: Promise<{ status: number; text: string; body: any }>, status = 201) {
  const r = await res;
  expect(r.status, r.text).toBe(status);
  return r.body;
}

async function world(resolution: string, model: BusinessModel, people: PersonModel[], now_ms: number): Promise<World> {
  const offers = model.offers;
  const biz = await createBusiness(gw, { reward_resolution: resolution });
  const admin = biz.admin_key;
  const other = await ok(call(gw, 'POST', '/v1/merchants', admin, { name: 'Other', code: `X${++seq}` }));
  const own = await ok(call(gw, 'POST', '/v1/venues', admin, { name: 'Own', timezone: 'America/New_York' }));
  const tokyo = await ok(call(gw, 'POST', '/v1/venues', admin, { name: 'Far', merchant_id: biz.merchant_id, timezone: 'Asia/Kolkata' }));
  const t1 = await ok(call(gw, 'POST', '/v1/terminals', admin, { venue_id: own.id, code: 'T0000002' }));
  const t2 = await ok(call(gw, 'POST', '/v1/terminals', admin, { venue_id: tokyo.id, code: 'T0000003' }));
  const venues: Venue[] = [
    { id: biz.venue_id, merchant: true, tz: 'UTC', key: biz.terminal_key },
    { id: own.id, merchant: false, tz: 'America/New_York', key: t1.api_key },
    { id: tokyo.id, merchant: true, tz: 'Asia/Kolkata', key: t2.api_key },
  ];
  const schemes = {
    auto: (await ok(call(gw, 'POST', '/v1/schemes', admin, { name: 'Everyone', signup: 'auto' }))).id as string,
    self: (await ok(call(gw, 'POST', '/v1/schemes', admin, { name: 'Club', signup: 'self' }))).id as string,
  };
  await ok(call(gw, 'PUT', '/v1/tiers', admin, TIERS), 200);
  const offer_ids: string[] = [];
  for (const o of offers) {
    const c = o.conditions;
    const conditions = {
      ...c,
      merchants: c.merchants === undefined ? undefined : c.merchants === 'mine' ? [biz.merchant_id] : [other.id],
      venues: c.venues?.map((i) => venues[i]!.id),
    };
    const body = {
      name: `o${++seq}`,
      goal: o.goal,
      kind: o.kind,
      award: o.award,
      active: o.active,
      instant_redeem: o.instant_redeem,
      conditions,
      ...(o.scheme === 'none' ? {} : { scheme_id: schemes[o.scheme] }),
      ...(o.max_award === undefined ? {} : { max_award: o.max_award }),
      ...(o.validity_days === undefined ? {} : { validity_days: o.validity_days }),
      ...(o.pool === undefined ? {} : { pool: o.pool }),
      ...(o.valid_from_h === undefined ? {} : { valid_from: new Date(now_ms + o.valid_from_h * 3_600_000).toISOString() }),
      ...(o.valid_to_h === undefined ? {} : { valid_to: new Date(now_ms + o.valid_to_h * 3_600_000).toISOString() }),
      ...(o.per_contact === undefined && o.budget === undefined ? {} : { limits: { ...(o.per_contact ? { per_contact: o.per_contact } : {}), ...(o.budget === undefined ? {} : { budget: o.budget }) } }),
    };
    offer_ids.push((await ok(call(gw, 'POST', '/v1/offers', admin, body))).id);
  }
  const cards: string[] = [];
  const contact_ids: string[] = [];
  const referral_codes: string[] = [];
  const wallet_codes: string[] = [];
  for (const [i, person] of people.entries()) {
    const card = testCard(9_100_000 + ++seq);
    const referred_by = person.referrer === null ? {} : { referred_by: referral_codes[person.referrer] };
    const c = await ok(call(gw, 'POST', '/v1/contacts', admin, { cims: [{ type: 'card', value: card }], tags: person.tags, birth_date: `1990-${person.birth}`, ...referred_by }));
    modelSignup(model, people, i, ['none', 'auto'], Date.now());
    if (person.self_member) {
      await ok(call(gw, 'POST', `/v1/schemes/${schemes.self}/signups`, admin, { contact_id: c.id }));
      modelSignup(model, people, i, ['self'], Date.now());
    }
    cards.push(card);
    contact_ids.push(c.id);
    referral_codes.push(c.referral_code);
    wallet_codes.push(c.wallet_code);
  }
  return { biz, venues, schemes, cards, contact_ids, wallet_codes, offer_ids };
}

/** A PATCH of an offer's `active` or `limits`, in the gateway and the model alike. */
async function patchOffer(w: World, offers: OfferSpec[], op: Exclude<Op, { purchase: PurchaseSpec }>): Promise<void> {
  const o = offers[op.patch];
  if (o === undefined) return;
  const path = `/v1/offers/${w.offer_ids[op.patch]}`;
  if ('active' in op) {
    await ok(call(gw, 'PATCH', path, w.biz.admin_key, { active: op.active }), 200);
    o.active = op.active;
    return;
  }
  await ok(call(gw, 'PATCH', path, w.biz.admin_key, { limits: op.limits }), 200);
  if (op.limits?.per_contact) o.per_contact = op.limits.per_contact;
  else delete o.per_contact;
  if (op.limits?.budget !== undefined) o.budget = op.limits.budget;
  else delete o.budget;
}

/** Quote, then the purchase (paying from the wallet when `p.pay`): both as the model says. */
async function buyAndCompare(w: World, model: BusinessModel, people: PersonModel[], p: PurchaseSpec, now_ms: number, ctx: string): Promise<void> {
  const at_ms = Math.floor(now_ms / 1000) * 1000 + p.offset_s * 1000 + p.ms;
  const sale = {
    reference: `m-${++seq}`,
    cim: { type: 'card', value: w.cards[p.who] },
    amount: p.amount,
    currency: 'EUR',
    occurred_at: new Date(at_ms).toISOString(),
    ...(p.items === null ? {} : { items: p.items }),
  };
  const key = w.venues[p.venue]!.key;
  const q = await call(gw, 'POST', '/v1/purchases/quote', key, sale);
  expect(q.status, q.text).toBe(200);
  // The gateway refuses a `pay` above amount − discount (400): pay at most what the quote leaves due.
  const paid = Math.min(p.pay, people[p.who]!.wallet.open, p.amount - q.body.discount);
  const r = await call(gw, 'POST', '/v1/purchases', key, { ...sale, ...(paid === 0 ? {} : { pay: { amount: paid, wallet_code: w.wallet_codes[p.who] } }) });
  expect(r.status, r.text).toBe(201);
  const want = modelPurchase(model, people, p, paid, at_ms, now_ms, w.venues);
  seen.purchases++;
  seen.awards += want.awards.length;
  seen.discounts += want.discount > 0 ? 1 : 0;
  const order = (a: { offer_id: string }) => w.offer_ids.indexOf(a.offer_id);
  const got = { awards: [...r.body.awards].sort((a, b) => order(a) - order(b)), discount: r.body.discount, amount_due: r.body.amount_due, paid_from_wallet: r.body.paid_from_wallet, wallet: r.body.wallet };
  expect(got, `${ctx} at ${sale.occurred_at}: ${JSON.stringify(p)}`).toEqual({
    awards: want.awards.map((a) => ({ offer_id: w.offer_ids[a.index], scheme_id: a.scheme === 'none' ? null : w.schemes[a.scheme], kind: a.kind, amount: a.amount, pool: a.pool, expires_at: a.expires_at })),
    discount: want.discount,
    amount_due: want.amount_due,
    paid_from_wallet: want.paid,
    wallet: { ...people[p.who]!.wallet },
  });
  // TERMINAL.md: a quote applies no wallet payment; it equals the same purchase without `pay`.
  expect(q.body.amount_due, `quote ${ctx}`).toBe(p.amount - q.body.discount);
  if (paid === 0) expect({ awards: q.body.awards, discount: q.body.discount, amount_due: q.body.amount_due }, `quote ${ctx}`).toEqual({ awards: r.body.awards, discount: r.body.discount, amount_due: r.body.amount_due });
}


describe('offer rules: the gateway against a model written from API.md', () => {
  it('pay: a wallet payment up to the amount due as the quote shows it, when a discount\'s cap already refused it', async () => {
    const biz = await createBusiness(gw);
    await ok(call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'once off', goal: 'spend', kind: 'instant_discount', award: { fixed: 1000 }, limits: { per_contact: { count: 1, period: 'lifetime' } } }));
    await ok(call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'back', goal: 'spend', instant_redeem: true, award: { percent: 100 } }));
    const card = testCard(9_950_000 + ++seq);
    const c = await ok(call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] }));
    const sale = (amount: number) => ({ reference: `pay-${++seq}`, cim: { type: 'card', value: card }, amount, currency: 'EUR' });
    const first = await ok(call(gw, 'POST', '/v1/purchases', biz.terminal_key, sale(2000)));
    expect([first.discount, first.wallet.open]).toEqual([1000, 2000]);
    // The discount's cap is reached: the quote shows no discount and 2000 due, which the wallet holds.
    const q = await ok(call(gw, 'POST', '/v1/purchases/quote', biz.terminal_key, sale(2000)), 200);
    expect([q.discount, q.amount_due]).toEqual([0, 2000]);
    const paid = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...sale(2000), pay: { amount: 2000, wallet_code: c.wallet_code } });
    expect(paid.status, paid.text).toBe(201);
    expect([paid.body.discount, paid.body.paid_from_wallet, paid.body.amount_due]).toEqual([0, 2000, 0]);
  });

  it('signup under best: when the winner\'s budget is spent, the next best sign-up offer is awarded, as on a purchase', async () => {
    const biz = await createBusiness(gw, { reward_resolution: 'best' });
    const big = { name: 'big welcome', goal: 'signup', award: { fixed: 2000 }, limits: { budget: 2500 } };
    await ok(call(gw, 'POST', '/v1/offers', biz.admin_key, big));
    await ok(call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'welcome', goal: 'signup', award: { fixed: 1500 } }));
    const commerce: number[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await ok(call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(9_900_000 + ++seq) }] }));
      commerce.push((await ok(call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key), 200)).commerce);
    }
    // The first: 2000 of the big offer (500 of its budget left); then the largest award each can
    // get is the 1500 welcome, not the 500 left of the big one, nor nothing.
    expect(commerce).toEqual([2000, 1500, 1500]);
  });

  it('random offers, schemes, tiers and purchases: awards, discount and amount_due as the page says; the quote the same', async () => {
    const seed = Number(process.env.OFFER_MODEL_SEED ?? 4242);
    const runs = Number(process.env.OFFER_MODEL_RUNS ?? 30);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('all' as const, 'best' as const, 'best_per_scheme' as const),
        fc.array(offerArb, { minLength: 1, maxLength: 6 }),
        fc.array(opArb, { minLength: 1, maxLength: 10 }),
        async (resolution, generated, ops) => {
          const now_ms = Date.now();
          const today = new Date(now_ms).toISOString().slice(5, 10);
          const yesterday = new Date(now_ms - 86_400_000).toISOString().slice(5, 10);
          const person = (tags: string[], self_member: boolean, birth: string, referrer: number | null): PersonModel => ({
            tags, self_member, birth, referrer, wallet: { open: 0, commerce: 0 }, units: 0, purchases_ms: [], birthday_purchases_ms: [],
          });
          const people = [person(['student'], true, today, null), person([], false, yesterday, 0), person(['vip', 'student'], false, today, 1)];
          const offers = generated.map((o) => ({ ...o }));
          const model: BusinessModel = { created_ms: now_ms, resolution, offers, awarded: offers.map(() => 0), history: [] };
          const w = await world(resolution, model, people, now_ms);
          const ctx = JSON.stringify({ resolution, generated, ops });
          for (const op of ops) {
            if ('patch' in op) await patchOffer(w, offers, op);
            else await buyAndCompare(w, model, people, op.purchase, now_ms, ctx);
          }
          // Sign-up and referral credits included: every contact's wallet as the model has it.
          for (const [i, id] of w.contact_ids.entries()) {
            const wallet = await ok(call(gw, 'GET', `/v1/contacts/${id}/wallet`, w.biz.admin_key), 200);
            expect({ contact: i, open: wallet.open, commerce: wallet.commerce }, ctx).toEqual({ contact: i, ...people[i]!.wallet });
          }
        },
      ),
      { numRuns: runs, seed, endOnFailure: true },
    );
    if (process.env.OFFER_MODEL_VERBOSE) console.log(seen);
    // Not vacuous: the runs awarded, and discounted, something. At least one award in two runs:
    // one a run failed a third of other seeds (22–29 awards in 30 runs, every case as the model
    // said; a seed exploration, 2026-12-07), and "today" and birthdays move with the date.
    expect(seen.awards).toBeGreaterThan(runs / 2);
    expect(seen.discounts).toBeGreaterThan(0);
  }, 120_000);
});
