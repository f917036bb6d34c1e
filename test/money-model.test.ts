// Money against a model: random sequences of the pages' money operations (API.md POS
// transactions, TERMINAL.md quotes, EVENTS.md processor callbacks) on a few contacts of one
// business, each reply and each wallet checked against amounts this file computes itself from the
// pages' rules, independently of the gateway's replies: awards (percent floored, max_award,
// min_amount, product items, a lifetime per-contact cap, a budget, first purchase, instant
// discount, instant_redeem), wallet payments, redemptions earliest-expiry first with pools (a pool
// named after a merchant code redeems only there), spends by OTP and wallet code (one contact
// spend-blocked), refunds clawing back in proportion (commerce, then open, then commerce debt that
// later awards settle), reversals of purchases, spends and redemptions, replays (same body: same
// reply; other body: 409), the clock moved on (lots expire; refunds and reversals past the hot
// window find their originals in the ledger). After each step the touched wallets; every few
// steps and at the end each contact's statement (opening + lines = closing = wallet, each line's
// deltas the model's); at the end each transaction read back and reconcile of the business clean.
// Fixed seed (MODEL_SEED, MODEL_RUNS explore further; MODEL_TALLY prints what was reached); each
// run a fresh business.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type ApiResponse, type BusinessFixture, patient_probes, type TestGateway } from './helpers.ts';
import { reconcile, type Mismatch } from '../processor/ledger/reconcile.ts';
import { createProcessor, postCallback, type ProcessorFixture } from './callback-helpers.ts';

let gw: TestGateway;
const tally = new Map<string, number>();
const note = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);
let card_seed = 47_100_000;
const day_ms = 86_400_000;
const never = '9999999999999';

// The gateway's clock, moved forward by `advance` steps (lots expire, the hot window passes).
let offset_ms = 0;
let real_now: (() => number) | undefined;
const now = () => Date.now() + offset_ms;

beforeAll(async () => {
  gw = await startTestGateway(patient_probes);
  const clock = gw.processor.stores.clock;
  real_now = clock.now;
  clock.now = () => real_now!() + offset_ms;
});
afterAll(async () => {
  if (real_now !== undefined) gw.processor.stores.clock.now = real_now;
  await gw?.close();
});

// ---- The world: one business, two terminals (the merchant's, the business's own), six offers.

interface World {
  readonly biz: BusinessFixture;
  /** 0 the merchant's, 1 the business's own, 2 and 3 the processors' (clearing, authorization; their ids learnt from their first transaction). */
  readonly terminals: { id: string; key: string; merchant_code: string }[];
  readonly processors: readonly ProcessorFixture[];
  readonly offers: readonly string[];
  readonly contacts: readonly { id: string; card: string; wallet_code: string; blocked: boolean }[];
}

const offer_bodies = (merchant_code: string) => [
  { name: 'A 5%', kind: 'cashback', goal: 'spend', award: { percent: 5 }, validity_days: 30 },
  { name: 'B coffee', kind: 'cashback', goal: 'product', award: { percent: 10 }, conditions: { products: { skus: ['COF'] } }, max_award: 300, pool: 'coffee-club', validity_days: 60 },
  { name: 'C merchant pool', kind: 'cashback', goal: 'spend', award: { fixed: 200 }, conditions: { min_amount: 5000 }, limits: { per_contact: { count: 2, period: 'lifetime' } }, pool: merchant_code, validity_days: 90 },
  { name: 'D 10% off', kind: 'instant_discount', goal: 'spend', award: { percent: 10 }, conditions: { min_amount: 3000 }, max_award: 500 },
  { name: 'E welcome', kind: 'cashback', goal: 'first_purchase', award: { fixed: 50 }, instant_redeem: true },
  { name: 'F tea budget', kind: 'cashback', goal: 'product', award: { fixed: 150 }, conditions: { products: { skus: ['TEA'] } }, limits: { budget: 400 } },
];

async function ok(res: Promise<ApiResponse>, status = 201): Promise<any> {
  const r = await res;
  if (r.status !== status) throw new Error(`setup: ${r.status} ${r.text}`);
  return r.body;
}

async function makeWorld(): Promise<World> {
  const biz = await createBusiness(gw);
  const own_venue = await ok(call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Own' }));
  const own = await ok(call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: own_venue.id, code: 'OWN00001' }));
  const offers: string[] = [];
  for (const body of offer_bodies(biz.merchant_code)) offers.push((await ok(call(gw, 'POST', '/v1/offers', biz.admin_key, body))).id);
  const contacts = [];
  for (let i = 0; i < 4; i++) {
    const card = testCard(++card_seed);
    const c = await ok(call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] }));
    const blocked = i === 3;
    if (blocked) await ok(call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: true }), 200);
    contacts.push({ id: c.id, card, wallet_code: c.wallet_code, blocked });
  }
  return {
    biz,
    terminals: [
      { id: biz.terminal_id, key: biz.terminal_key, merchant_code: biz.merchant_code },
      { id: own.id, key: own.api_key, merchant_code: '' },
      { id: '', key: '', merchant_code: biz.merchant_code },
      { id: '', key: '', merchant_code: biz.merchant_code },
    ],
    processors: [await createProcessor(gw, biz, 'clearing'), await createProcessor(gw, biz, 'authorization')],
    offers,
    contacts,
  };
}

// ---- The model.

interface Wallet {
  open: number;
  /** '<expiry ms, 13 digits>|<pool>' -> amount > 0 */
  lots: Map<string, number>;
  /** What expired of each lot and no claw-back wrote off (README: not clawed back a second time). */
  expired: Map<string, number>;
  /** What claw-backs wanted of each lot and found gone, not expired (redeemed): its redemption's reversal gives that back where they took it instead (claw-back.lua noteOwed). */
  owed: Map<string, number>;
  /** What claw-backs took from other lots for redeemed ones: '<id>><lot>' → [other lot, amount][] (claw-back.lua noteInstead). */
  instead: Map<string, [string, number][]>;
  /** The latest redemption's id's time characters (the contact's `lr`). */
  redeemed_at: string | null;
  debt: number;
  purchases: number;
  cap_c: number;
}

interface Txn {
  readonly id: string;
  /** '' for an expiry, whose id only the gateway knows. */
  readonly kind: 'purchase' | 'spend' | 'redemption' | 'refund' | 'reversal' | 'expiry';
  readonly reference: string;
  readonly terminal: number;
  readonly contact: number;
  readonly amount: number;
  readonly reply: any;
  readonly open_delta: number;
  readonly commerce_delta: number;
  // A purchase's: what refunds and a reversal work from.
  awarded?: number;
  /** What of `awarded` went into the open balance (instant_redeem, after settling debt). */
  to_open?: number;
  paid?: number;
  refunded?: number;
  clawed?: number;
  /** What refunds' claw-backs took from open (commerce first: what commerce lacked). */
  clawed_open?: number;
  returned?: number;
  counted_c?: boolean;
  budget_f?: number;
  reversed?: boolean;
  // A redemption's lots.
  taken?: [string, number][];
  // A purchase's commerce lots (each award's whole amount, earliest expiry first).
  lots?: [string, number][];
}

interface Sent {
  readonly terminal: number;
  readonly path: string;
  readonly body: any;
  readonly status: number;
  readonly reply: any;
}

class Model {
  readonly wallets: Wallet[];
  readonly txns: Txn[] = [];
  readonly sent = new Map<string, Sent>();
  /** Transactions that moved each contact's balances, in order. */
  readonly lines: Txn[][];
  budget_f_used = 0;

  constructor(readonly world: World) {
    this.wallets = world.contacts.map(() => ({ open: 0, lots: new Map(), expired: new Map(), owed: new Map(), instead: new Map(), redeemed_at: null, debt: 0, purchases: 0, cap_c: 0 }));
    this.lines = world.contacts.map(() => []);
  }

  commerce(c: number): number {
    let sum = 0;
    for (const v of this.wallets[c]!.lots.values()) sum += v;
    return sum - this.wallets[c]!.debt;
  }

  balances(c: number) {
    return { open: this.wallets[c]!.open, commerce: this.commerce(c) };
  }

  /** Lots, earliest expiry first (a lot without expiry last). */
  sortedLots(c: number): [string, number][] {
    return [...this.wallets[c]!.lots].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  take(c: number, lots: [string, number][], want: number): [string, number][] {
    const w = this.wallets[c]!;
    const from: [string, number][] = [];
    let taken = 0;
    for (const [field, amount] of lots) {
      if (taken >= want) break;
      const t = Math.min(amount, want - taken);
      if (t === amount) w.lots.delete(field);
      else w.lots.set(field, amount - t);
      taken += t;
      from.push([field, t]);
    }
    return from;
  }

  /**
   * API.md: "Awards are clawed back ... (commerce first, then open; the balance may go negative
   * only here, and that debt is settled by later awards)." README: `claw` of purchase `o`, which
   * takes it from `before` to `after` of its amount refunded, at `at_ms`: of each of its own lots
   * its share (what it put in, from before to after, floored cumulatively; all together at most
   * `claw`), taken from the lot as far as it holds, and what the lot lacks written off as far as
   * the lot's expiry (within 90 days) is remembered; the rest from its own lots beyond their
   * shares (up to what it put in each), then the earliest others, then open, then debt. Returns
   * what was written off.
   */
  /** `open_first`: up to that from open before anything else (a reversal's instant awards: claw-back.lua). */
  clawBack(o: Txn, id: string, claw: number, before: number, after: number, at_ms: number, open_first = 0): { expired: number; from_open: number } {
    if (claw <= 0) return { expired: 0, from_open: 0 };
    const c = o.contact;
    const w = this.wallets[c]!;
    const own = this.oneLotCovers(o, claw, open_first) ? [] : o.lots!;
    const remembered = (field: string) => {
      const expiry_ms = Number(field.slice(0, 13));
      return expiry_ms >= at_ms - 90 * day_ms;
    };
    const there = own.map(([field]) => w.lots.get(field) ?? 0);
    let expired = 0;
    const lacked = own.map(() => 0);
    // README: the lots' units in one order, by the refunded amount at which each unit's own floor
    // comes (the earliest lot on a tie); what claw-backs have taken at a refunded amount is the
    // first floor(awarded × refunded / amount) of them, as far as the lots go. Counted here unit by unit.
    const takenAt = (refunded: number) => {
      const units = own.flatMap(([, put], i) => Array.from({ length: put }, (_, k) => ({ i, at: Math.ceil(((k + 1) * o.amount) / put) })));
      units.sort((a, b) => a.at - b.at || a.i - b.i);
      const taken = own.map(() => 0);
      for (const { i } of units.slice(0, Math.floor((o.awarded! * refunded) / o.amount))) taken[i]! += 1;
      return taken;
    };
    const at_before = takenAt(before);
    const parts = takenAt(after).map((t, i) => t - at_before[i]!);
    let over = parts.reduce((sum, p) => sum + p, 0) - claw;
    for (let i = 0; i < parts.length && over > 0; i++) {
      const cut = Math.min(parts[i]!, over);
      parts[i]! -= cut;
      over -= cut;
    }
    const share = own.map(([field], i) => {
      const s = parts[i]!;
      let written = 0;
      if (s > there[i]! && remembered(field)) {
        written = Math.min(s - there[i]!, w.expired.get(field) ?? 0);
        if (written > 0) w.expired.set(field, w.expired.get(field)! - written);
        expired += written;
      }
      // What the lot lacked and no expiry wrote off: redeemed (noted below).
      lacked[i] = Math.max(0, s - written - there[i]!);
      return s;
    });
    if (expired > 0) note('claw-back of an expired award written off');
    const owed = this.owedOf(c, lacked, claw - expired, open_first);
    const open_back = Math.max(0, Math.min(open_first, claw - expired, w.open));
    if (open_back > 0) note('reversal took its instant award from open');
    w.open -= open_back;
    const amount = claw - expired - open_back;
    const from_commerce = Math.min(amount, Math.max(this.commerce(c), 0));
    const earliest = this.sortedLots(c)[0]?.[0];
    const took = own.map(() => 0);
    let taken = 0;
    own.forEach((_, i) => {
      took[i] = Math.max(0, Math.min(share[i]!, there[i]!, from_commerce - taken));
      taken += took[i]!;
    });
    const substitutes: [string, number][] = [];
    own.forEach(([field, put], i) => {
      const more = Math.max(0, Math.min(Math.min(there[i]!, put) - took[i]!, from_commerce - taken));
      took[i]! += more;
      taken += more;
      if (more > 0) substitutes.push([field, more]);
      if (took[i] === 0) return;
      if (field !== earliest) note('claw-back took its own lot, not the earliest');
      if (more > 0) note('claw-back took an own lot beyond its share');
      if (took[i] === there[i]) w.lots.delete(field);
      else w.lots.set(field, there[i]! - took[i]!);
    });
    substitutes.push(...this.take(c, this.sortedLots(c), from_commerce - taken));
    const from_open = Math.min(amount - from_commerce, Math.max(w.open, 0));
    const noted = this.noteLacks(c, id, own, lacked, owed, substitutes, amount - from_commerce - from_open);
    // README: what it took from open or as debt beyond its own lots' lacks, wanting other lots,
    // noted for whichever redemption's reversal reaches it (a contact that ever redeemed).
    const wanting = amount - from_commerce - noted;
    if (wanting > 0 && w.redeemed_at !== null) {
      w.owed.set(`${id.slice(4)}~`, (w.owed.get(`${id.slice(4)}~`) ?? 0) + wanting);
      note('claw-back owes a redemption what it took wanting other lots');
    }
    w.open -= from_open;
    w.debt += amount - from_commerce - from_open;
    note(from_open > 0 ? 'claw from open' : 'claw from commerce only');
    if (amount - from_commerce - from_open > 0) note('claw into debt');
    return { expired, from_open };
  }

  /**
   * README: a claw-back asks for its sale's lots unless the contact holds one lot that covers it,
   * commerce covers it, nothing comes from open first, no expired lots are remembered, no notes
   * are held and the contact has not redeemed since the sale.
   */
  oneLotCovers(o: Txn, claw: number, open_first: number): boolean {
    const w = this.wallets[o.contact]!;
    const remembered = [...w.expired.values()].some((v) => v > 0);
    const noted = w.owed.size > 0 || w.instead.size > 0;
    const redeemed_since = w.redeemed_at !== null && w.redeemed_at >= o.id.slice(4, 14);
    const held = [...w.lots.values()];
    return open_first <= 0 && !remembered && !noted && !redeemed_since && held.length === 1 && held[0]! >= claw && this.commerce(o.contact) >= claw;
  }

  /** README: what it takes from open because its own lots were redeemed: what it takes from open less what it would take were they still in commerce and their money not in open. */
  owedOf(c: number, lacked: readonly number[], amount: number, open_first: number): number {
    const w = this.wallets[c]!;
    const lacked_all = lacked.reduce((sum, l) => sum + l, 0);
    const open_taken = (open: number, commerce: number) => {
      const back = Math.max(0, Math.min(open_first, amount, open));
      const rest = amount - back;
      return back + Math.min(rest - Math.min(rest, Math.max(commerce, 0)), Math.max(open - back, 0));
    };
    if (lacked_all <= 0) return 0;
    return Math.max(0, Math.min(lacked_all, open_taken(w.open, this.commerce(c)) - open_taken(Math.max(w.open - lacked_all, 0), this.commerce(c) + lacked_all)));
  }

  /**
   * README: of the lots' lacks, first what it found in other lots (the latest of what it took
   * beyond its lots' shares), noted under its id for the redemption's reversal to give back there,
   * then what it owes from open, then what of the lacks left it took as commerce debt (`debt`,
   * the claw-back's): noted as owed alike.
   */
  noteLacks(c: number, id: string, own: readonly [string, number][], lacked: readonly number[], owed: number, substitutes: [string, number][], debt: number): number {
    const w = this.wallets[c]!;
    const found = substitutes.reduce((sum, [, a]) => sum + a, 0);
    let skip = found - Math.min(lacked.reduce((sum, l) => sum + l, 0) - owed, found);
    const sources = substitutes.flatMap(([field, a]): [string, number][] => {
      const off = Math.min(a, skip);
      skip -= off;
      return a > off ? [[field, a - off]] : [];
    });
    const left = own.map(([field], i) => {
      let want = lacked[i]!;
      const targets: [string, number][] = [];
      while (want > 0 && sources.length > 0) {
        const n = Math.min(want, sources[0]![1]);
        targets.push([sources[0]![0], n]);
        sources[0]![1] -= n;
        want -= n;
        if (sources[0]![1] === 0) sources.shift();
      }
      if (targets.length > 0) {
        w.instead.set(`${id.slice(4)}>${field}`, targets);
        note('claw-back took a redeemed lot\'s share from another lot');
      }
      return want;
    });
    const into_debt = Math.max(0, Math.min(debt, left.reduce((sum, l) => sum + l, 0) - owed));
    if (into_debt > 0) note('claw-back owes a redemption what it took as debt');
    let noting = owed + into_debt;
    own.forEach(([field], i) => {
      const n = Math.min(left[i]!, noting);
      if (n <= 0) return;
      w.owed.set(`${id.slice(4)}${field}`, (w.owed.get(`${id.slice(4)}${field}`) ?? 0) + n);
      noting -= n;
      note('claw-back owes a redemption what it took from open');
    });
    return owed + into_debt;
  }

  /** What of an award settles the contact's debt first: taken off the debt and returned. */
  settle(c: number, amount: number): number {
    const w = this.wallets[c]!;
    const settle = Math.min(w.debt, amount);
    if (settle > 0) note('award settles debt');
    w.debt -= settle;
    return settle;
  }

  /** Wallet money given back (a spend voided, a purchase's payment returned): debt first, the rest into open (README). */
  backToOpen(c: number, amount: number, what: string): void {
    const w = this.wallets[c]!;
    const debt_paid = Math.min(amount, w.debt);
    if (debt_paid > 0) note(`${what} settles debt`);
    w.debt -= debt_paid;
    w.open += amount - debt_paid;
  }

  /** A commerce award: settles debt first, the rest into its lot. Returns what went into the lot. */
  award(c: number, lot: string, amount: number): number {
    const w = this.wallets[c]!;
    const settle = this.settle(c, amount);
    if (amount > settle) w.lots.set(lot, (w.lots.get(lot) ?? 0) + amount - settle);
    return amount - settle;
  }

  record(t: Txn, before: { open: number; commerce: number }): Txn {
    const after = this.balances(t.contact);
    const full = { ...t, open_delta: after.open - before.open, commerce_delta: after.commerce - before.commerce };
    this.txns.push(full);
    if (full.open_delta !== 0 || full.commerce_delta !== 0) this.lines[t.contact]!.push(full);
    return full;
  }
}

// ---- What a purchase gives, by the pages' rules (API.md offers; floor percent, max_award).

interface Item {
  sku: string;
  quantity: number;
  amount: number;
}

interface Expected {
  awards: { offer: number; kind: string; amount: number; pool: string | null; validity_days: number | null }[];
  discount: number;
}

function evaluate(model: Model, c: number, amount: number, items: Item[], pay: number): Expected {
  const w = model.wallets[c]!;
  const awards: Expected['awards'] = [];
  const a = Math.floor((amount * 5) / 100);
  if (a > 0) awards.push({ offer: 0, kind: 'cashback', amount: a, pool: null, validity_days: 30 });
  const coffee = items.filter((i) => i.sku === 'COF').reduce((s, i) => s + i.amount, 0);
  const b = Math.min(Math.floor((coffee * 10) / 100), 300);
  if (items.some((i) => i.sku === 'COF') && b > 0) awards.push({ offer: 1, kind: 'cashback', amount: b, pool: 'coffee-club', validity_days: 60 });
  if (amount >= 5000 && w.cap_c < 2) awards.push({ offer: 2, kind: 'cashback', amount: 200, pool: model.world.terminals[0]!.merchant_code, validity_days: 90 });
  let discount = 0;
  if (amount >= 3000) {
    discount = Math.min(Math.floor((amount * 10) / 100), 500, amount - pay);
    if (discount > 0) awards.push({ offer: 3, kind: 'instant_discount', amount: discount, pool: null, validity_days: null });
  }
  if (w.purchases === 0) awards.push({ offer: 4, kind: 'cashback', amount: 50, pool: null, validity_days: null });
  const f = Math.min(150, 400 - model.budget_f_used);
  if (items.some((i) => i.sku === 'TEA') && f > 0) awards.push({ offer: 5, kind: 'cashback', amount: f, pool: null, validity_days: null });
  return { awards, discount };
}

/** The reply's awards against the expected ones; expiries within the validity of [t0, t1] in whole seconds. */
function checkAwards(world: World, got: any[], want: Expected['awards'], t0: number, t1: number, slack_ms = 0): void {
  const bare = got.map(({ expires_at: _e, ...rest }) => rest);
  expect(bare, 'awards').toEqual(
    want.map((x) => ({ offer_id: world.offers[x.offer], scheme_id: null, kind: x.kind, amount: x.amount, pool: x.pool })),
  );
  got.forEach((g, i) => {
    const days = want[i]!.validity_days;
    if (days === null) {
      expect(g.expires_at, 'expires_at').toBeNull();
      return;
    }
    const at = Date.parse(g.expires_at);
    expect(at % 1000, 'expires_at in whole seconds').toBe(0);
    expect(at, 'expires_at').toBeGreaterThanOrEqual(Math.floor((t0 + days * day_ms) / 1000) * 1000 - slack_ms);
    expect(at, 'expires_at').toBeLessThanOrEqual(t1 + days * day_ms + slack_ms);
  });
}

// ---- Actions.

type Action =
  | { type: 'purchase'; c: number; t: number; amount: number; basket: 'none' | 'cof' | 'tea' | 'both'; split: number; pay: null | { how: 'wallet' | 'otp'; pct: number }; quote: boolean }
  | { type: 'redeem'; c: number; t: number; pct: number | null }
  | { type: 'spend'; c: number; t: number; how: 'wallet' | 'otp'; pct: number; otp_extra: number }
  | { type: 'refund'; sel: number; other_terminal: boolean; pct: number | null }
  | { type: 'reversal'; sel: number; other_terminal: boolean }
  | { type: 'replay'; sel: number; same: boolean }
  | { type: 'cb_sale'; c: number; p: number; amount: number; basket: 'none' | 'cof' | 'tea' | 'both'; split: number; clear_pct: number | null }
  | { type: 'cb_refund'; sel: number; pct: number }
  | { type: 'cb_reverse'; sel: number }
  | { type: 'cb_replay'; sel: number }
  | { type: 'advance'; days: number };

const contactArb = fc.constantFrom(0, 0, 1, 1, 2, 3);
const terminalArb = fc.constantFrom(0, 0, 1);
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      type: fc.constant('purchase' as const),
      c: contactArb,
      t: terminalArb,
      amount: fc.integer({ min: 1, max: 12_000 }),
      basket: fc.constantFrom('none' as const, 'cof' as const, 'tea' as const, 'both' as const),
      split: fc.integer({ min: 1, max: 99 }),
      pay: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.record({ how: fc.constantFrom('wallet' as const, 'otp' as const), pct: fc.integer({ min: 1, max: 106 }) }) }),
      quote: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('redeem' as const), c: contactArb, t: terminalArb, pct: fc.option(fc.integer({ min: 1, max: 110 }), { freq: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('spend' as const), c: contactArb, t: terminalArb, how: fc.constantFrom('wallet' as const, 'otp' as const), pct: fc.integer({ min: 1, max: 110 }), otp_extra: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('refund' as const), sel: fc.nat({ max: 4 }), other_terminal: fc.constantFrom(false, false, false, false, true), pct: fc.option(fc.integer({ min: 1, max: 120 })) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('reversal' as const), sel: fc.nat({ max: 4 }), other_terminal: fc.constantFrom(false, false, false, true) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('replay' as const), sel: fc.nat(), same: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('cb_sale' as const), c: contactArb, p: fc.constantFrom(0, 1), amount: fc.integer({ min: 1, max: 12_000 }),
      basket: fc.constantFrom('none' as const, 'cof' as const, 'tea' as const, 'both' as const), split: fc.integer({ min: 1, max: 99 }),
      clear_pct: fc.option(fc.integer({ min: 40, max: 130 }), { freq: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('cb_refund' as const), sel: fc.nat({ max: 4 }), pct: fc.integer({ min: 1, max: 120 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('cb_reverse' as const), sel: fc.nat({ max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('cb_replay' as const), sel: fc.nat() }) },
  // Whole days and a half: no lot's expiry (whole seconds after its purchase) is near the jump's end.
  { weight: 1, arbitrary: fc.record({ type: fc.constant('advance' as const), days: fc.constantFrom(3.5, 29.5, 45.5, 61.5, 95.5) }) },
);

// ---- Running one sequence against the gateway and the model.

class Runner {
  private seq = 0;
  readonly log: string[] = [];
  constructor(
    readonly world: World,
    readonly model: Model,
  ) {}

  private ref(): string {
    return `m-${++this.seq}`;
  }

  private async post(t: number, path: string, body: any): Promise<ApiResponse> {
    const res = await call(gw, 'POST', path, this.world.terminals[t]!.key, body);
    this.log.push(`${path} t${t} ${JSON.stringify(body)} -> ${res.status} ${res.text.slice(0, 400)}`);
    const k = `${path} ${res.status} ${res.body?.code ?? ''}${res.headers.get('idempotent-replayed') ? ' replayed' : ''}`;
    tally.set(k, (tally.get(k) ?? 0) + 1);
    return res;
  }

  /** A request the gateway decided on: remembered under its reference when its script saw it. */
  private async send(t: number, path: string, body: any): Promise<ApiResponse> {
    const res = await this.post(t, path, body);
    expect(res.headers.get('idempotent-replayed'), 'a first request is no replay').toBeNull();
    if (res.status === 201 || (res.status >= 404 && res.status !== 400 && res.status < 500)) {
      this.model.sent.set(`${t}|${body.reference}`, { terminal: t, path, body, status: res.status, reply: res.body });
    }
    return res;
  }

  private refused(res: ApiResponse, status: number, code: string): void {
    expect(res.status, res.text).toBe(status);
    expect(res.body.code, res.text).toBe(code);
  }

  private async otp(c: number, amount: number): Promise<string> {
    const r = await call(gw, 'POST', `/v1/contacts/${this.world.contacts[c]!.id}/spend-otp`, this.world.biz.admin_key, { amount });
    expect(r.status, r.text).toBe(201);
    return r.body.otp;
  }

  async run(a: Action): Promise<number[]> {
    switch (a.type) {
      case 'purchase':
        return this.purchase(a);
      case 'redeem':
        return this.redeem(a);
      case 'spend':
        return this.spend(a);
      case 'refund':
        return this.refund(a);
      case 'reversal':
        return this.reversal(a);
      case 'replay':
        return this.replay(a);
      case 'cb_sale':
        return this.cbSale(a);
      case 'cb_refund':
        return this.cbRefund(a);
      case 'cb_reverse':
        return this.cbReverse(a);
      case 'cb_replay':
        return this.cbReplay(a);
      case 'advance':
        return this.advance(a);
    }
  }

  private items(amount: number, basket: string, split: number): Item[] {
    if (basket === 'none') return [];
    const skus = basket === 'cof' ? ['COF'] : basket === 'tea' ? ['TEA'] : ['COF', 'TEA'];
    const first = Math.max(1, Math.floor((amount * split) / 100));
    const out: Item[] = [];
    if (skus.length === 1) {
      out.push({ sku: skus[0]!, quantity: 1, amount: first });
    } else {
      const half = Math.max(1, Math.floor(first / 2));
      out.push({ sku: 'COF', quantity: 1, amount: half });
      if (first - half > 0) out.push({ sku: 'TEA', quantity: 2, amount: first - half });
    }
    if (amount - first > 0) out.push({ sku: 'GEN', quantity: 1, amount: amount - first });
    return out.length === 0 || out.reduce((s, i) => s + i.amount, 0) !== amount ? [] : out;
  }

  private async purchase(a: Extract<Action, { type: 'purchase' }>): Promise<number[]> {
    const m = this.model;
    const contact = this.world.contacts[a.c]!;
    const items = this.items(a.amount, a.basket, a.split);
    const body: any = { reference: this.ref(), cim: { type: 'card', value: contact.card }, amount: a.amount, currency: 'EUR', ...(items.length > 0 ? { items } : {}) };
    const free = evaluate(m, a.c, a.amount, items, 0);
    let pay = 0;
    if (a.pay !== null) {
      const room = a.amount - free.discount;
      // Mostly what the wallet holds (some of it, or a little more); now and then more than is due.
      pay = a.pay.pct > 105 ? room + 1 : Math.min(room, Math.max(1, Math.floor((m.wallets[a.c]!.open * a.pay.pct) / 100)));
      body.pay = a.pay.how === 'wallet' ? { amount: pay, wallet_code: contact.wallet_code } : { amount: pay, otp: await this.otp(a.c, pay) };
    }
    const before = m.balances(a.c);
    // TERMINAL.md: `pay` in a quote's body is ignored: no wallet payment applied.
    if (a.quote) {
      const t0 = now();
      const q = await this.post(a.t, '/v1/purchases/quote', body);
      const t1 = now();
      expect(q.status, q.text).toBe(200);
      checkAwards(this.world, q.body.awards, free.awards, t0, t1);
      expect(q.body, 'quote').toMatchObject({ contact_id: contact.id, discount: free.discount, amount_due: a.amount - free.discount, wallet: before });
    }
    const want = evaluate(m, a.c, a.amount, items, pay);
    const t0 = now();
    const res = await this.send(a.t, '/v1/purchases', body);
    const t1 = now();
    // API.md: amount_due = amount - discount - paid_from_wallet, so a payment is at most amount - discount.
    if (pay > a.amount - free.discount) {
      expect(res.status, res.text).toBe(400);
      expect(res.body.code).toBe('validation_failed');
      return [a.c];
    }
    const w = m.wallets[a.c]!;
    if (pay > 0 && contact.blocked) return this.refused(res, 422, 'spend_blocked'), [a.c];
    if (pay > w.open) return this.refused(res, 422, 'insufficient_funds'), [a.c];
    expect(res.status, res.text).toBe(201);
    checkAwards(this.world, res.body.awards, want.awards, t0, t1);
    this.bookPurchase(a.c, a.t, body.reference, a.amount, items, pay, want, res.body.awards, res.body.id, res.body);
    if (pay > 0) note(`paid by ${a.pay!.how}`);
    expect(res.body, 'purchase reply').toMatchObject({
      status: 'approved', reference: body.reference, contact_id: contact.id, discount: want.discount,
      amount_due: a.amount - want.discount - pay, paid_from_wallet: pay, wallet: m.balances(a.c),
    });
    return [a.c];
  }

  /** A purchase approved: the model takes the lots' expiries from its awards (checked to be the validity's). */
  private bookPurchase(c: number, t: number, reference: string, amount: number, items: Item[], pay: number, want: Expected, got: any[], id: string, reply: any): Txn {
    const m = this.model;
    const w = m.wallets[c]!;
    const before = m.balances(c);
    w.open -= pay;
    let awarded = 0;
    let to_open = 0;
    let budget_f = 0;
    const lots = new Map<string, number>();
    want.awards.forEach((x, i) => {
      if (x.kind === 'instant_discount') return;
      awarded += x.amount;
      if (x.offer === 4) {
        const into_open = x.amount - m.settle(c, x.amount);
        w.open += into_open;
        to_open += into_open;
      } else {
        const exp = got[i].expires_at;
        const lot = `${exp === null ? never : String(Date.parse(exp)).padStart(13, '0')}|${x.pool ?? ''}`;
        // README: a sale's lots are what its awards put in them, debt paid first.
        const put = m.award(c, lot, x.amount);
        if (put > 0) lots.set(lot, (lots.get(lot) ?? 0) + put);
      }
      if (x.offer === 5) budget_f = x.amount;
    });
    const counted_c = want.awards.some((x) => x.offer === 2);
    if (amount >= 5000 && !counted_c) note('cap C refused');
    if (items.some((i) => i.sku === 'TEA') && budget_f < 150) note(`budget F short: ${budget_f}`);
    if (want.awards.some((x) => x.offer === 4)) note('first purchase award');
    if (counted_c) w.cap_c++;
    m.budget_f_used += budget_f;
    w.purchases++;
    return m.record({ id, kind: 'purchase', reference, terminal: t, contact: c, amount, reply, open_delta: 0, commerce_delta: 0,
      awarded, to_open, paid: pay, refunded: 0, clawed: 0, clawed_open: 0, returned: 0, counted_c, budget_f, reversed: false, lots: [...lots].sort((a, b) => (a[0] < b[0] ? -1 : 1)) }, before);
  }

  private async redeem(a: Extract<Action, { type: 'redeem' }>): Promise<number[]> {
    const m = this.model;
    // API.md: earliest-expiring first, honouring pool conditions: a pool named after a merchant code redeems only at that merchant.
    const merchant_code = this.world.terminals[a.t]!.merchant_code;
    const restricted = this.world.terminals[0]!.merchant_code;
    const at = now();
    const lots = m.sortedLots(a.c).filter(([field]) => {
      const [exp, pool] = field.split('|') as [string, string];
      return Number(exp) > at && (pool === '' || pool === merchant_code || pool !== restricted);
    });
    let eligible = lots.reduce((s, l) => s + l[1], 0);
    if (eligible > m.commerce(a.c)) eligible = Math.max(m.commerce(a.c), 0);
    const amount = a.pct === null ? null : Math.max(1, Math.floor((eligible * a.pct) / 100));
    const body: any = { reference: this.ref(), cim: { type: 'card', value: this.world.contacts[a.c]!.card }, ...(amount === null ? {} : { amount }) };
    const res = await this.send(a.t, '/v1/redemptions', body);
    const want = amount ?? eligible;
    if (a.t === 1 && lots.length < m.sortedLots(a.c).length) note('redeem at own venue leaves merchant pool');
    if (want <= 0 || want > eligible) return this.refused(res, 422, 'insufficient_funds'), [a.c];
    expect(res.status, res.text).toBe(201);
    const before = m.balances(a.c);
    const taken = m.take(a.c, lots, want);
    m.wallets[a.c]!.open += want;
    m.wallets[a.c]!.redeemed_at = (res.body.id as string).slice(4, 14);
    expect(res.body, 'redemption reply').toMatchObject({ status: 'approved', reference: body.reference, redeemed: want, wallet: m.balances(a.c) });
    m.record({ id: res.body.id, kind: 'redemption', reference: body.reference, terminal: a.t, contact: a.c, amount: want, reply: res.body, open_delta: 0, commerce_delta: 0, taken, reversed: false }, before);
    return [a.c];
  }

  private async spend(a: Extract<Action, { type: 'spend' }>): Promise<number[]> {
    const m = this.model;
    const contact = this.world.contacts[a.c]!;
    const amount = Math.max(1, Math.floor((m.wallets[a.c]!.open * a.pct) / 100));
    const body: any = { reference: this.ref(), amount, currency: 'EUR' };
    if (a.how === 'wallet') body.wallet_code = contact.wallet_code;
    else body.otp = await this.otp(a.c, amount + a.otp_extra);
    const res = await this.send(a.t, '/v1/spends', body);
    if (contact.blocked) return this.refused(res, 422, 'spend_blocked'), [a.c];
    if (amount > m.wallets[a.c]!.open) return this.refused(res, 422, 'insufficient_funds'), [a.c];
    expect(res.status, res.text).toBe(201);
    const before = m.balances(a.c);
    m.wallets[a.c]!.open -= amount;
    expect(res.body, 'spend reply').toMatchObject({ status: 'approved', reference: body.reference, contact_id: contact.id, spent: amount, wallet: m.balances(a.c) });
    m.record({ id: res.body.id, kind: 'spend', reference: body.reference, terminal: a.t, contact: a.c, amount: amount, reply: res.body, open_delta: 0, commerce_delta: 0, reversed: false }, before);
    return [a.c];
  }

  /** What a refund of `amount` (null: the rest) of `o` at terminal `t` gives, or its refusal. */
  private refundOf(o: Txn, t: number, amount: number | null): { refused: [number, string] } | { r: number; claw: number; give: number; expired?: number } {
    if (t !== o.terminal) return { refused: [404, 'original_not_found'] };
    if (o.reversed) return { refused: [409, 'already_reversed'] };
    const r = amount ?? o.amount - o.refunded!;
    if (r <= 0 || o.refunded! + r > o.amount) return { refused: [422, 'amount_exceeds_original'] };
    // API.md: "Awards are clawed back in proportion ... A wallet payment in the original is returned in proportion."
    const after = o.refunded! + r;
    return { r, claw: Math.floor((o.awarded! * after) / o.amount) - o.clawed!, give: Math.floor((o.paid! * after) / o.amount) - o.returned! };
  }

  private applyRefund(o: Txn, t: number, d: { r: number; claw: number; give: number; expired?: number }, id: string, reference: string, reply: any): void {
    const m = this.model;
    note(`refund ${o.refunded! + d.r === o.amount ? 'to full' : 'partial'}${d.give > 0 ? ' with payment back' : ''}`);
    const before = m.balances(o.contact);
    // The payment back first, debt first: the claw-back then finds it in open (no debt beside open money).
    m.backToOpen(o.contact, d.give, 'refund\'s payment back');
    const clawed = m.clawBack(o, id, d.claw, o.refunded!, o.refunded! + d.r, now());
    d.expired = clawed.expired;
    o.clawed_open! += clawed.from_open;
    o.refunded! += d.r;
    o.clawed! += d.claw;
    o.returned! += d.give;
    m.record({ id, kind: 'refund', reference, terminal: t, contact: o.contact, amount: d.r, reply, open_delta: 0, commerce_delta: 0 }, before);
  }

  private async refund(a: Extract<Action, { type: 'refund' }>): Promise<number[]> {
    const m = this.model;
    const purchases = m.txns.filter((t) => t.kind === 'purchase' && t.terminal < 2);
    if (purchases.length === 0) return [];
    const o = purchases[purchases.length - 1 - (a.sel % purchases.length)]!;
    const t = a.other_terminal ? 1 - o.terminal : o.terminal;
    const amount = a.pct === null ? null : Math.max(1, Math.floor((o.amount * a.pct) / 100));
    const body: any = { reference: this.ref(), original_reference: o.reference, ...(amount === null ? {} : { amount }) };
    const res = await this.send(t, '/v1/refunds', body);
    const d = this.refundOf(o, t, amount);
    if ('refused' in d) return this.refused(res, ...d.refused), [];
    expect(res.status, res.text).toBe(201);
    this.applyRefund(o, t, d, res.body.id, body.reference, res.body);
    expect(res.body, 'refund reply').toMatchObject({ status: 'approved', reference: body.reference, original_id: o.id, amount: d.r, clawed_back: d.claw - d.expired!, award_expired: d.expired, returned_to_wallet: d.give, wallet: m.balances(o.contact) });
    return [o.contact];
  }

  /**
   * A redemption's reversal (README): each lot's amount followed through the notes claw-backs
   * made since it, in the order made (byte order of their fields): a lot taken instead passes it
   * on to the other lot, a note of what was taken from open settles it (that stays in open). The
   * rest moves back to commerce, settling debt first, then into the lots reached (the latest
   * given up first for the debt). Returns what it settles, the lots back, the notes after, what
   * it pays of the debt, and what it takes out of open.
   */
  private redemptionBack(o: Txn): { settled: number; back: [string, number][]; owed: Map<string, number>; instead: Map<string, [string, number][]>; debt_paid: number; out_of_open: number } {
    const w = this.model.wallets[o.contact]!;
    const since = o.id.slice(4, 14);
    const owed = new Map(w.owed);
    const instead = new Map([...w.instead].map(([f, targets]) => [f, targets.map(([t, a]): [string, number] => [t, a])]));
    const fields = [...owed.keys(), ...instead.keys()].filter((f) => f.slice(0, 10) >= since).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const amounts = new Map<string, number>();
    for (const [field, amount] of o.taken!) amounts.set(field, (amounts.get(field) ?? 0) + amount);
    let settled = 0;
    for (const field of fields) {
      const targets = instead.get(field);
      if (targets === undefined) {
        const lot = field.slice(26);
        // A note of what a claw-back took wanting other lots: from every lot reached, in order.
        for (const reached of lot === '~' ? [...amounts.keys()] : [lot]) {
          const s = Math.min(owed.get(field) ?? 0, amounts.get(reached) ?? 0);
          if (s <= 0) continue;
          amounts.set(reached, amounts.get(reached)! - s);
          settled += s;
          if (owed.get(field)! - s > 0) owed.set(field, owed.get(field)! - s);
          else owed.delete(field);
          if (lot === '~') note('reverse redemption settled what a claw-back took wanting other lots');
          else if (!o.taken!.some(([f]) => f === lot)) note('reverse redemption settled a note of a lot taken instead');
        }
        continue;
      }
      const lot = field.slice(27);
      for (const target of targets) {
        const m = Math.min(target[1], amounts.get(lot) ?? 0);
        if (m <= 0) continue;
        target[1] -= m;
        amounts.set(lot, amounts.get(lot)! - m);
        amounts.set(target[0], (amounts.get(target[0]) ?? 0) + m);
        note('reverse redemption gives back to the lot a claw-back took instead');
      }
      const kept = targets.filter(([, a]) => a > 0);
      if (kept.length > 0) instead.set(field, kept);
      else instead.delete(field);
    }
    const out_of_open = o.amount - settled;
    const debt_paid = Math.min(out_of_open, w.debt);
    const listed: [string, number][] = [...amounts];
    let less = debt_paid;
    for (let i = listed.length - 1; i >= 0; i--) {
      const off = Math.min(listed[i]![1], less);
      less -= off;
      listed[i]![1] -= off;
    }
    const back = listed.filter(([, a]) => a > 0);
    return { settled, back, owed, instead, debt_paid, out_of_open };
  }

  /** The refusal of a reversal of `o` at terminal `t`, if refused. */
  private reversalRefusal(o: Txn, t: number): [number, string] | undefined {
    if (t !== o.terminal || o.kind === 'refund' || o.kind === 'reversal') return [404, 'original_not_found'];
    if (o.reversed) return [409, 'already_reversed'];
    // README: a redemption is voided only while its money is still in the open balance.
    if (o.kind === 'redemption' && this.model.wallets[o.contact]!.open < this.redemptionBack(o).out_of_open) return [422, 'insufficient_funds'];
    return undefined;
  }

  /** Returns what its claw-back took from the wallet and what of it had expired (0 and 0 but for a purchase). */
  private applyReversal(o: Txn, t: number, id: string, reference: string, reply: any): { clawed_back: number; award_expired: number } {
    let clawed_back = 0;
    let award_expired = 0;
    const m = this.model;
    const w = m.wallets[o.contact]!;
    const before = m.balances(o.contact);
    if (o.kind === 'redemption') {
      // Its lots back, but what claw-backs since found gone of them (owed) where they took it
      // instead: the debt first, else it stays in open (reversal.lua).
      const { settled, back, owed, instead, debt_paid, out_of_open } = this.redemptionBack(o);
      note(settled > 0 ? `reverse redemption of clawed-back lots debt_paid=${debt_paid > 0}` : 'reverse redemption');
      for (const [field, amount] of back) w.lots.set(field, (w.lots.get(field) ?? 0) + amount);
      w.owed = owed;
      w.instead = instead;
      w.debt -= debt_paid;
      w.open -= out_of_open;
    } else if (o.kind === 'spend') {
      // README: back into open, commerce debt settled first.
      m.backToOpen(o.contact, o.amount, 'reverse spend');
    } else {
      // As if it never happened: its cap count, budget and first purchase back; what refunds left, clawed back and returned.
      w.purchases--;
      note(`reverse purchase refunded=${o.refunded! > 0} paid=${o.paid! > 0}`);
      if (o.counted_c) w.cap_c--;
      m.budget_f_used -= o.budget_f!;
      const claw = o.awarded! - o.clawed!;
      m.backToOpen(o.contact, o.paid! - o.returned!, 'reverse purchase\'s payment back');
      // What its instant award put in open (less what refunds took of it from open: their share of
      // it as far as they took open at all, commerce first) comes out of open first: as if it
      // never happened, not from commerce earned elsewhere.
      const open_left = o.to_open! - Math.min(o.clawed_open!, Math.floor((o.to_open! * o.refunded!) / o.amount));
      award_expired = m.clawBack(o, id, claw, o.refunded!, o.amount, now(), open_left).expired;
      clawed_back = claw - award_expired;
    }
    o.reversed = true;
    m.record({ id, kind: 'reversal', reference, terminal: t, contact: o.contact, amount: o.amount, reply, open_delta: 0, commerce_delta: 0 }, before);
    return { clawed_back, award_expired };
  }

  private async reversal(a: Extract<Action, { type: 'reversal' }>): Promise<number[]> {
    const m = this.model;
    const originals = m.txns.filter((t) => t.kind !== 'reversal' && t.kind !== 'expiry' && t.terminal < 2);
    if (originals.length === 0) return [];
    const o = originals[originals.length - 1 - (a.sel % originals.length)]!;
    const t = a.other_terminal ? 1 - o.terminal : o.terminal;
    const body = { reference: this.ref(), original_reference: o.reference };
    const res = await this.send(t, '/v1/reversals', body);
    const refusal = this.reversalRefusal(o, t);
    if (refusal) return this.refused(res, ...refusal), [];
    expect(res.status, res.text).toBe(201);
    const clawed = this.applyReversal(o, t, res.body.id, body.reference, res.body);
    // README: a redemption's lots go back with their expiry, and those past it are expired before
    // the reversal is answered (its wallet leaves them out): the sweep then finds nothing more.
    // (Its lots, or those claw-backs took instead, given back there.)
    if (o.kind === 'redemption' && [...this.model.wallets[o.contact]!.lots.keys()].some((field) => Number(field.slice(0, 13)) <= now())) {
      note('reversed redemption of expired lots');
      await this.expireDue();
    }
    expect(res.body, 'reversal reply').toMatchObject({ status: 'approved', reference: body.reference, original_id: o.id, original_kind: o.kind, ...clawed, wallet: m.balances(o.contact) });
    return [o.contact];
  }

  /** API.md: "A repeat of the same terminal + reference + body returns the original status and body ... Same reference with a different body: 409." */
  private async replay(a: Extract<Action, { type: 'replay' }>): Promise<number[]> {
    const sent = [...this.model.sent.values()];
    if (sent.length === 0) return [];
    const s = sent[a.sel % sent.length]!;
    if (a.same) {
      const res = await this.post(s.terminal, s.path, s.body);
      expect(res.status, res.text).toBe(s.status);
      expect(res.body).toEqual(s.reply);
      expect(res.headers.get('idempotent-replayed')).toBe('true');
    } else {
      const other = s.path === '/v1/reversals' ? { ...s.body, original_reference: `${s.body.original_reference}x` } : s.path === '/v1/redemptions' ? { ...s.body, amount: (s.body.amount ?? 0) + 1 } : { ...s.body, amount: (s.body.amount ?? 1) + 1 };
      if (other.items !== undefined) delete other.items;
      if (other.pay !== undefined) delete other.pay;
      const res = await this.post(s.terminal, s.path, other);
      this.refused(res, 409, 'idempotency_conflict');
    }
    return [];
  }

  // ---- Processor callbacks (EVENTS.md): the same purchases, refunds and reversals, on the processor's terminal.

  private readonly events: { p: number; event: any; result: any }[] = [];
  /** The first result of each processor transaction id and type. */
  private readonly firsts = new Map<string, any>();
  private cb_seq = 0;

  private async event(p: number, type: string, data: any, expected: Record<string, unknown>): Promise<any> {
    const event = { id: `evt_m${++this.cb_seq}`, type, created_at: new Date().toISOString(), data };
    const res = await postCallback(gw, this.world.processors[p]!, event);
    this.log.push(`callback p${p} ${JSON.stringify(event)} -> ${res.status} ${res.text}`);
    const k = `callback ${type} ${res.body?.status} ${res.body?.code ?? ''}${res.body?.replayed ? ' replayed' : ''}`;
    tally.set(k, (tally.get(k) ?? 0) + 1);
    expect(res.status, res.text).toBe(200);
    expect(res.body, `${type} result`).toMatchObject({ event_id: event.id, ...expected });
    this.events.push({ p, event, result: res.body });
    const first = `${p}|${data.transaction_id}|${type}`;
    if (!this.firsts.has(first)) this.firsts.set(first, res.body);
    return res.body;
  }

  private async read(id: string): Promise<any> {
    const r = await call(gw, 'GET', `/v1/transactions/${id}`, this.world.biz.admin_key);
    expect(r.status, r.text).toBe(200);
    return r.body;
  }

  private async cbSale(a: Extract<Action, { type: 'cb_sale' }>): Promise<number[]> {
    const m = this.model;
    const t = 2 + a.p;
    const tx = `ptx-${++this.cb_seq}`;
    const items = this.items(a.amount, a.basket, a.split);
    const data = { transaction_id: tx, card: { number: this.world.contacts[a.c]!.card }, amount: a.amount, currency: 'EUR', merchant_code: this.world.biz.merchant_code, ...(items.length > 0 ? { items } : {}) };
    const want = evaluate(m, a.c, a.amount, items, 0);
    const t0 = now();
    let result: any;
    if (a.p === 0) {
      await this.event(0, 'transaction.authorized', data, { status: 'ignored', code: 'awaiting_clearing' });
      result = await this.event(0, 'transaction.cleared', data, { status: 'processed' });
    } else {
      result = await this.event(1, 'transaction.authorized', data, { status: 'processed' });
    }
    const t1 = now();
    const read = await this.read(result.transaction_id);
    if (this.world.terminals[t]!.id === '') this.world.terminals[t]!.id = read.terminal_id;
    expect(read, 'callback purchase').toMatchObject({ kind: 'purchase', reference: tx, terminal_id: this.world.terminals[t]!.id, contact_id: this.world.contacts[a.c]!.id, amount: a.amount });
    checkAwards(this.world, read.awards, want.awards, t0, t1);
    const o = this.bookPurchase(a.c, t, tx, a.amount, items, 0, want, read.awards, read.id, read);
    if (a.p === 1 && a.clear_pct !== null) {
      // EVENTS.md: "if its amount is lower the difference is refunded (a refund whose reference is `<transaction_id>/clearing`); if it is the same or higher nothing changes".
      const cleared = Math.max(1, Math.floor((a.amount * a.clear_pct) / 100));
      if (cleared >= a.amount) {
        await this.event(1, 'transaction.cleared', { ...data, amount: cleared }, { status: 'ignored' });
      } else {
        const r = await this.event(1, 'transaction.cleared', { ...data, amount: cleared }, { status: 'processed' });
        const d = this.refundOf(o, t, a.amount - cleared);
        if ('refused' in d) throw new Error('model: a clearing refund refused');
        const refund = await this.read(r.transaction_id);
        expect(refund, 'clearing refund').toMatchObject({ kind: 'refund', reference: `${tx}/clearing`, amount: a.amount - cleared });
        this.applyRefund(o, t, d, refund.id, `${tx}/clearing`, refund);
      }
    }
    return [a.c];
  }

  private callbackPurchases(): Txn[] {
    return this.model.txns.filter((x) => x.kind === 'purchase' && x.terminal >= 2);
  }

  private async cbRefund(a: Extract<Action, { type: 'cb_refund' }>): Promise<number[]> {
    const purchases = this.callbackPurchases();
    if (purchases.length === 0) return [];
    const o = purchases[purchases.length - 1 - (a.sel % purchases.length)]!;
    const p = o.terminal - 2;
    const amount = Math.max(1, Math.floor((o.amount * a.pct) / 100));
    const tx = `ptx-${++this.cb_seq}`;
    const data = { transaction_id: tx, original_transaction_id: o.reference, amount, currency: 'EUR', merchant_code: this.world.biz.merchant_code };
    const d = this.refundOf(o, o.terminal, amount);
    if ('refused' in d) {
      await this.event(p, 'transaction.refunded', data, { status: 'ignored', code: d.refused[1] });
      return [];
    }
    const r = await this.event(p, 'transaction.refunded', data, { status: 'processed' });
    // Booked under a made reference: a processor's bare ids are its sales' (README, *Booking*).
    this.applyRefund(o, o.terminal, d, r.transaction_id, `${tx}/refund`, await this.read(r.transaction_id));
    return [o.contact];
  }

  private async cbReverse(a: Extract<Action, { type: 'cb_reverse' }>): Promise<number[]> {
    const purchases = this.callbackPurchases();
    if (purchases.length === 0) return [];
    const o = purchases[purchases.length - 1 - (a.sel % purchases.length)]!;
    const p = o.terminal - 2;
    const data = { transaction_id: o.reference };
    // EVENTS.md: "so does the same `transaction_id` and type under a new event id".
    const first = this.firsts.get(`${p}|${o.reference}|transaction.reversed`);
    if (first !== undefined) {
      const { event_id: _e, ...rest } = first;
      await this.event(p, 'transaction.reversed', data, { ...rest, replayed: true });
      return [];
    }
    const refusal = this.reversalRefusal(o, o.terminal);
    if (refusal) {
      await this.event(p, 'transaction.reversed', data, { status: 'ignored', code: refusal[1] });
      return [];
    }
    const r = await this.event(p, 'transaction.reversed', data, { status: 'processed' });
    const read = await this.read(r.transaction_id);
    expect(read, 'callback reversal').toMatchObject({ kind: 'reversal', reference: `${o.reference}/reversal` });
    this.applyReversal(o, o.terminal, r.transaction_id, `${o.reference}/reversal`, read);
    return [o.contact];
  }

  /** EVENTS.md: "the same event id from the same processor gets the first result again, with `\"replayed\": true`, and changes nothing". */
  private async cbReplay(a: Extract<Action, { type: 'cb_replay' }>): Promise<number[]> {
    if (this.events.length === 0) return [];
    const { p, event, result } = this.events[a.sel % this.events.length]!;
    const res = await postCallback(gw, this.world.processors[p]!, event);
    this.log.push(`callback replay p${p} ${JSON.stringify(event)} -> ${res.status} ${res.text}`);
    expect(res.status, res.text).toBe(200);
    const { replayed: _r, ...first } = result;
    expect(res.body).toEqual({ ...first, replayed: true });
    return [];
  }

  /**
   * The clock moved on: API.md "each award has an expiry" (validity_days); the sweeper takes the
   * expired lots out of the commerce balance (an `expiry` transaction). Past the hot window, a
   * reference is free again (so no replays of what came before), and refunds and reversals find
   * their originals in the ledger.
   */
  private async advance(a: Extract<Action, { type: 'advance' }>): Promise<number[]> {
    const m = this.model;
    offset_ms += a.days * day_ms;
    this.log.push(`advance ${a.days} days`);
    await this.expireDue();
    m.sent.clear();
    for (let c = 0; c < this.world.contacts.length; c++) await this.checkStatement(c);
    return this.world.contacts.map((_, c) => c);
  }

  /** The sweeper run now, and the model's lots expired as it must have. */
  private async expireDue(): Promise<void> {
    const m = this.model;
    await gw.processor.expiry.sweep();
    const at = now();
    this.world.contacts.forEach((_, c) => {
      const w = m.wallets[c]!;
      let expired = 0;
      for (const [field, amount] of [...w.lots]) {
        if (Number(field.slice(0, 13)) <= at) {
          expired += amount;
          w.lots.delete(field);
          w.expired.set(field, (w.expired.get(field) ?? 0) + amount);
        }
      }
      if (expired === 0) return;
      note('expiry');
      m.record({ id: '', kind: 'expiry', reference: '', terminal: -1, contact: c, amount: expired, reply: null, open_delta: 0, commerce_delta: 0 }, { open: w.open, commerce: m.commerce(c) + expired });
    });
  }

  // ---- Checks.

  async checkWallet(c: number): Promise<void> {
    const m = this.model;
    const contact = this.world.contacts[c]!;
    const pos = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${contact.card}`, this.world.terminals[0]!.key);
    expect(pos.status, pos.text).toBe(200);
    expect(pos.body, `GET /v1/wallets of contact ${c}`).toMatchObject({ contact_id: contact.id, currency: 'EUR', ...m.balances(c) });
    const r = await call(gw, 'GET', `/v1/contacts/${this.world.contacts[c]!.id}/wallet`, this.world.biz.admin_key);
    expect(r.status, r.text).toBe(200);
    const pools = new Map<string, number>();
    const expiring = new Map<string, number>();
    for (const [field, amount] of m.sortedLots(c)) {
      const [exp, pool] = field.split('|') as [string, string];
      if (pool !== '') pools.set(pool, (pools.get(pool) ?? 0) + amount);
      if (exp !== never) expiring.set(exp, (expiring.get(exp) ?? 0) + amount);
    }
    expect(r.body, `wallet of contact ${c}`).toMatchObject({
      currency: 'EUR',
      ...m.balances(c),
      pools: [...pools].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map(([pool, amount]) => ({ pool, amount })),
      expiring: [...expiring].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map(([exp, amount]) => ({ amount, expires_at: new Date(Number(exp)).toISOString().replace('.000Z', 'Z') })),
    });
  }

  async checkStatement(c: number): Promise<void> {
    const m = this.model;
    const r = await call(gw, 'GET', `/v1/contacts/${this.world.contacts[c]!.id}/statement`, this.world.biz.admin_key);
    expect(r.status, r.text).toBe(200);
    const st = r.body;
    expect(st.opening, 'opening').toEqual({ open: 0, commerce: 0 });
    expect(st.closing, 'closing = wallet').toEqual(m.balances(c));
    const want = m.lines[c]!;
    expect(st.lines.map((l: any, i: number) => (want[i]?.id === '' ? '' : l.transaction_id)), 'statement lines').toEqual(want.map((t) => t.id));
    let open = 0;
    let commerce = 0;
    st.lines.forEach((l: any, i: number) => {
      const t = want[i]!;
      open += t.open_delta;
      commerce += t.commerce_delta;
      expect(l, `line ${i}`).toMatchObject({ kind: t.kind, open_delta: t.open_delta, commerce_delta: t.commerce_delta, open_balance: open, commerce_balance: commerce });
    });
  }

  async checkTransactions(): Promise<void> {
    for (const t of this.model.txns) {
      if (t.id === '') continue;
      const r = await call(gw, 'GET', `/v1/transactions/${t.id}`, this.world.biz.admin_key);
      expect(r.status, r.text).toBe(200);
      expect(r.body, `transaction ${t.kind} ${t.reference}`).toMatchObject({
        id: t.id, kind: t.kind, reference: t.reference, terminal_id: this.world.terminals[t.terminal]!.id, contact_id: this.world.contacts[t.contact]!.id,
        currency: 'EUR', status: 'approved', ...(t.kind === 'reversal' ? {} : { amount: t.amount }),
        ...(t.kind === 'purchase' ? { awards: t.reply.awards } : {}),
      });
      expect(['pending', 'recorded']).toContain(r.body.ledger);
    }
  }
}

async function runSequence(actions: Action[]): Promise<void> {
  const world = await makeWorld();
  const runner = new Runner(world, new Model(world));
  try {
    for (let i = 0; i < actions.length; i++) {
      const touched = await runner.run(actions[i]!);
      for (const c of touched) await runner.checkWallet(c);
      if (i % 6 === 5) for (let c = 0; c < world.contacts.length; c++) await runner.checkStatement(c);
    }
    for (let c = 0; c < world.contacts.length; c++) {
      await runner.checkWallet(c);
      await runner.checkStatement(c);
    }
    await runner.checkTransactions();
    // OPERATIONS.md reconcile, limited to this business (other test files' businesses are theirs).
    const { redis, sql, config } = gw.processor.stores;
    const mismatches: Mismatch[] = [];
    const result = await reconcile(redis, sql, { shard_count: config.shard_count, business_id: world.biz.business_id, wait_ms: 20_000, onMismatch: (x) => mismatches.push(x) });
    expect({ result, mismatches }, 'reconcile').toEqual({ result: { outcome: 'compared', checked: world.contacts.length, mismatches: 0, unsettled: 0 }, mismatches: [] });
  } catch (err) {
    (err as Error).message += `\n--- requests:\n${runner.log.join('\n')}`;
    throw err;
  }
}

// Sequences written out, for what random ones reach rarely: a claw-back into commerce debt that
// a later award settles and that bars redemptions meanwhile; a redemption voided while its money
// is there, and refused once spent.
const P = (c: number, amount: number, extra: Partial<Extract<Action, { type: 'purchase' }>> = {}): Action => ({ type: 'purchase', c, t: 0, amount, basket: 'none', split: 50, pay: null, quote: false, ...extra });
const scenarios: Record<string, Action[]> = {
  'a processor sale whose award expired, refunded in part and then reversed past the hot window: what expired is not clawed back again': [
    { type: 'cb_sale', c: 0, p: 0, amount: 56, basket: 'both', split: 72, clear_pct: null },
    { type: 'advance', days: 95.5 },
    { type: 'cb_refund', sel: 0, pct: 1 },
    { type: 'advance', days: 45.5 },
    { type: 'cb_reverse', sel: 0 },
  ],
  'debt from a reversal after the money was redeemed and spent, settled by the next award': [
    P(0, 10_000, { basket: 'both', split: 30 }),
    { type: 'redeem', c: 0, t: 0, pct: null },
    { type: 'spend', c: 0, t: 0, how: 'wallet', pct: 100, otp_extra: 0 },
    { type: 'reversal', sel: 2, other_terminal: false },
    { type: 'redeem', c: 0, t: 0, pct: null },
    P(0, 4_000),
    P(0, 12_000, { basket: 'cof', split: 90 }),
    { type: 'redeem', c: 0, t: 1, pct: null },
    { type: 'replay', sel: 3, same: true },
  ],
  'a purchase\'s wallet payment given back while commerce debt stands settles the debt first, by reversal or refund (a black-box probe, 2026-12-06)': [
    P(0, 20_000),
    { type: 'redeem', c: 0, t: 0, pct: null },
    P(0, 10_000, { pay: { how: 'wallet', pct: 100 } }),
    { type: 'redeem', c: 0, t: 0, pct: null },
    { type: 'spend', c: 0, t: 0, how: 'wallet', pct: 100, otp_extra: 0 },
    { type: 'reversal', sel: 4, other_terminal: false },
    { type: 'reversal', sel: 2, other_terminal: false },
    { type: 'spend', c: 0, t: 0, how: 'wallet', pct: 100, otp_extra: 0 },
    P(1, 20_000),
    { type: 'redeem', c: 1, t: 0, pct: null },
    P(1, 10_000, { pay: { how: 'wallet', pct: 100 } }),
    { type: 'redeem', c: 1, t: 0, pct: null },
    { type: 'spend', c: 1, t: 0, how: 'wallet', pct: 100, otp_extra: 0 },
    { type: 'refund', sel: 1, other_terminal: false, pct: null },
    { type: 'refund', sel: 0, other_terminal: false, pct: 50 },
    { type: 'refund', sel: 0, other_terminal: false, pct: null },
    { type: 'spend', c: 1, t: 0, how: 'wallet', pct: 100, otp_extra: 0 },
  ],
  'debt from partial refunds, paid from the wallet, then refunded in full': [
    P(1, 9_000, { basket: 'tea', split: 10 }),
    { type: 'redeem', c: 1, t: 0, pct: 50 },
    P(1, 6_000, { pay: { how: 'otp', pct: 100 } }),
    { type: 'redeem', c: 1, t: 0, pct: null },
    { type: 'spend', c: 1, t: 1, how: 'otp', pct: 100, otp_extra: 10 },
    { type: 'refund', sel: 1, other_terminal: false, pct: 33 },
    { type: 'refund', sel: 1, other_terminal: false, pct: 33 },
    { type: 'refund', sel: 1, other_terminal: false, pct: null },
    { type: 'refund', sel: 0, other_terminal: false, pct: 50 },
    { type: 'reversal', sel: 0, other_terminal: false },
    P(1, 3_000),
  ],
  'a redemption reversed after the purchase it redeemed was reversed, or refunded with its money spent: the award stays gone (a black-box probe, 2026-12-05)': [
    P(2, 11_000, { basket: 'both', split: 60 }),
    { type: 'redeem', c: 2, t: 0, pct: null },
    { type: 'reversal', sel: 1, other_terminal: false },
    { type: 'reversal', sel: 0, other_terminal: false },
    P(1, 9_000),
    { type: 'redeem', c: 1, t: 0, pct: null },
    { type: 'spend', c: 1, t: 0, how: 'wallet', pct: 100, otp_extra: 0 },
    { type: 'refund', sel: 0, other_terminal: false, pct: null },
    { type: 'reversal', sel: 1, other_terminal: false },
    { type: 'reversal', sel: 2, other_terminal: false },
  ],
  'a redemption reversed after its sale\'s claw-back took its lot as debt, which an award paid, and a spend\'s reversal then put money in open: that money stays in open, not put into the sale\'s expired lot (all reversed: 0 / 0; a black-box probe, 2026-12-06, ended at 0 / -1000)': [
    P(0, 10_000),
    { type: 'redeem', c: 0, t: 0, pct: null },
    { type: 'spend', c: 0, t: 0, how: 'wallet', pct: 100, otp_extra: 0 },
    { type: 'reversal', sel: 2, other_terminal: false },
    P(0, 20_000),
    { type: 'reversal', sel: 1, other_terminal: false },
    { type: 'advance', days: 95.5 },
    { type: 'reversal', sel: 2, other_terminal: false },
    { type: 'reversal', sel: 0, other_terminal: false },
  ],
  'a redemption reversed after its sale\'s claw-back took its lot as debt and a spend\'s reversal paid it: approved, nothing moved (it was 422)': [
    P(1, 10_000),
    { type: 'redeem', c: 1, t: 0, pct: null },
    { type: 'spend', c: 1, t: 0, how: 'wallet', pct: 100, otp_extra: 0 },
    { type: 'reversal', sel: 2, other_terminal: false },
    { type: 'reversal', sel: 0, other_terminal: false },
    { type: 'reversal', sel: 1, other_terminal: false },
  ],
  'a redemption voided while its money is there, refused once spent': [
    P(2, 11_000, { basket: 'both', split: 60 }),
    P(2, 7_000, { t: 1, basket: 'cof', split: 40 }),
    { type: 'redeem', c: 2, t: 1, pct: 70 },
    { type: 'reversal', sel: 0, other_terminal: false },
    { type: 'redeem', c: 2, t: 0, pct: null },
    { type: 'spend', c: 2, t: 0, how: 'wallet', pct: 90, otp_extra: 0 },
    { type: 'reversal', sel: 1, other_terminal: false },
    { type: 'reversal', sel: 3, other_terminal: false },
    { type: 'reversal', sel: 3, other_terminal: false },
  ],
};

describe('money against a model', () => {
  it.each(Object.keys(scenarios))('%s', async (name) => {
    await runSequence(scenarios[name]!);
  });

  it('random sequences of purchases, redemptions, spends, refunds, reversals and replays agree with the model', async () => {
    await fc.assert(fc.asyncProperty(fc.array(actionArb, { minLength: 15, maxLength: 45, size: 'max' }), runSequence), { seed: Number(process.env.MODEL_SEED ?? 20261201), numRuns: Number(process.env.MODEL_RUNS ?? 20), endOnFailure: false });
  }, 240_000);

  // MODEL_TALLY=1: what the sequences reached, printed at the end (no test of its own).
  afterAll(() => {
    if (process.env.MODEL_TALLY) console.log([...tally].sort().map(([k, n]) => `${n}\t${k}`).join('\n'));
  });
});
