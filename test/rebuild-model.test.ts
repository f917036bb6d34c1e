// `npm run rebuild` (spec/OPERATIONS.md: "reloads from PostgreSQL everything the hot path needs")
// against seeded random histories: two gateways with stores of their own (A and its twin B) get
// the same history step by step (purchases with items and `pay`, instant discounts, caps of each
// period, budgets, first-purchase, birthday, happy-hour and tier offers, tier changes, the clock
// moved on, contacts created and referred, scheme joins by code, redemptions with pools, spends
// by OTP and wallet code, refunds, reversals of each kind and before their original, refusals,
// wallet-code rotations, spend blocks, offers PATCHed), each reply the same on both. Then A's
// Redis is emptied and rebuilt: every key as it was (what the README says rebuild does not restore
// aside), and the next operations (one purchase per contact, repeats of every reference) answer
// on A as on B. Fixed seed (REBUILD_MODEL_SEED to explore).

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type ApiResponse, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import type { RedisClient } from '../processor/stores.ts';
import { comparableRedis } from './redis-state.ts';
import { journalMarks, waitForLedger } from '../processor/ledger/caught-up.ts';
import { rebuild } from '../processor/ledger/rebuild.ts';

const seed = Number(process.env.REBUILD_MODEL_SEED ?? 20261201);
const steps = Number(process.env.REBUILD_MODEL_STEPS ?? 250);
const hour_ms = 3_600_000;

interface Side {
  stores: OwnStores;
  gw: TestGateway;
  biz: BusinessFixture;
  own_key: string;
  offers: Map<string, string>;
  scheme_id: string;
  contacts: { id: string; card: string; wallet_code: string; referral_code: string }[];
}

let offset_ms = 0;
/** The first letters of the period kinds the business's tiers have now. */
let tier_kinds = new Set(['m']);
const sides: Side[] = [];
let card_seq = 0;

function clockOn(gw: TestGateway) {
  const clock = gw.processor.stores.clock;
  const real = Date.now;
  clock.now = () => real() + offset_ms;
}

async function ok(r: Promise<ApiResponse>, status = 201): Promise<any> {
  const got = await r;
  if (got.status !== status) throw new Error(`setup: ${got.status} ${got.text}`);
  return got.body;
}

const today = () => new Date(Date.now() + offset_ms).toISOString().slice(5, 10);

async function makeSide(name: string): Promise<Side> {
  const stores = await startOwnStores(name);
  const gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  clockOn(gw);
  const biz = await createBusiness(gw);
  const own_venue = await ok(call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Own' }));
  const own = await ok(call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: own_venue.id, code: 'OWN00001' }));
  const scheme = await ok(call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Club', signup: 'codes' }));
  const offers = new Map<string, string>();
  const bodies: Record<string, unknown>[] = [
    { name: 'pct', goal: 'spend', award: { percent: 5 }, validity_days: 1, limits: { budget: 3_000 } },
    { name: 'day', goal: 'spend', award: { fixed: 100 }, limits: { per_contact: { count: 1, period: 'day' } }, pool: biz.merchant_code, validity_days: 3 },
    { name: 'week', goal: 'spend', award: { fixed: 50 }, limits: { per_contact: { count: 2, period: 'week' } } },
    { name: 'month', goal: 'spend', award: { fixed: 30 }, conditions: { min_amount: 2_000 }, limits: { per_contact: { count: 2, period: 'month' } } },
    { name: 'life', goal: 'spend', award: { fixed: 20 }, limits: { per_contact: { count: 3, period: 'lifetime' } }, pool: 'club' },
    { name: 'disc', kind: 'instant_discount', goal: 'spend', award: { percent: 10 }, conditions: { min_amount: 3_000 }, max_award: 400, limits: { per_contact: { count: 2, period: 'week' } } },
    { name: 'welcome', goal: 'first_purchase', award: { fixed: 300 }, instant_redeem: true },
    { name: 'bday', goal: 'birthday', award: { fixed: 200 } },
    { name: 'happy', goal: 'happy_hour', award: { fixed: 40 }, conditions: { time_from: '00:00', time_to: '12:00' } },
    { name: 'gold', goal: 'spend', award: { fixed: 70 }, conditions: { tiers: ['gold'] } },
    { name: 'coffee', goal: 'product', award: { percent: 10 }, conditions: { products: { skus: ['COF'] } }, limits: { budget: 1_000 } },
    { name: 'signup', scheme_id: scheme.id, goal: 'signup', award: { fixed: 500 } },
    { name: 'referral', goal: 'referral', award: { fixed: 400 }, limits: { budget: 800 } },
  ];
  for (const body of bodies) offers.set(String(body.name), (await ok(call(gw, 'POST', '/v1/offers', biz.admin_key, { kind: 'cashback', ...body }))).id);
  await ok(call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 100, period: 'month' }]), 200);
  return { stores, gw, biz, own_key: own.api_key, offers, scheme_id: scheme.id, contacts: [] };
}

/** A reply as both sides may compare it: ids, codes and times that differ between two gateways taken out. */
function comparable(side: Side, r: ApiResponse): unknown {
  const names = new Map([...side.offers].map(([n, id]) => [id, n]));
  const walk = (v: unknown, key = ''): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (['id', 'code', 'referral_code', 'referred_by', 'contact_id', 'scheme_id', 'created_at', 'transaction_id', 'original_id', 'otp', 'wallet_code', 'instance', 'request_id', 'occurred_at', 'at'].includes(k)) continue;
        out[k] = walk(x, k);
      }
      return out;
    }
    if (key === 'offer_id') return names.get(String(v)) ?? v;
    if (key === 'pool' && v === side.biz.merchant_code) return 'MERCHANT';
    if (key === 'expires_at' && typeof v === 'string') return Math.round(Date.parse(v) / 60_000); // to the minute
    if (typeof v === 'string') return v.split(side.biz.merchant_code).join('MERCHANT');
    return v;
  };
  return { status: r.status, replayed: r.headers.get('idempotent-replayed'), body: walk(r.body) };
}

/**
 * Two sides' answers alike: equal, but for an `expires_at` (to the minute) one minute apart: the
 * sides play a step one after the other on the real clock, so an expiry near a half minute
 * rounded differently on each (the full suite under load found 29937520 against 29937521).
 */
function alike(a: unknown, b: unknown, key?: string): boolean {
  if (key === 'expires_at' && typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= 1;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => alike(x, b[i]));
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const [ka, kb] = [Object.keys(a), Object.keys(b)];
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && alike((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], k));
  }
  return a === b;
}

// ---- The history: steps drawn once from a fixed seed, played on both sides.

type Step =
  | { k: 'purchase'; c: number; amount: number; items: boolean; pay: number; own: boolean }
  | { k: 'redeem'; c: number; amount: number | null; own: boolean }
  | { k: 'spend_code'; c: number; amount: number }
  | { k: 'spend_otp'; c: number; amount: number; otp_amount: number }
  | { k: 'refund'; t: number; amount: number | null }
  | { k: 'reverse'; t: number }
  | { k: 'reverse_first'; c: number; amount: number }
  | { k: 'repeat'; t: number; other: boolean }
  | { k: 'advance'; hours: number }
  | { k: 'rotate'; c: number }
  | { k: 'block'; c: number; on: boolean }
  | { k: 'patch'; offer: string; body: number }
  | { k: 'tiers'; period: number }
  | { k: 'contact'; referred: number | null; birthday: boolean }
  | { k: 'join'; c: number };

const contact = fc.nat(20);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('purchase' as const), c: contact, amount: fc.integer({ min: 100, max: 9_000 }), items: fc.boolean(), pay: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 800 })), own: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('redeem' as const), c: contact, amount: fc.option(fc.integer({ min: 1, max: 600 })), own: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('spend_code' as const), c: contact, amount: fc.integer({ min: 1, max: 700 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('spend_otp' as const), c: contact, amount: fc.integer({ min: 1, max: 500 }), otp_amount: fc.integer({ min: 1, max: 600 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('refund' as const), t: fc.nat(200), amount: fc.option(fc.integer({ min: 1, max: 5_000 })) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('reverse' as const), t: fc.nat(200) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reverse_first' as const), c: contact, amount: fc.integer({ min: 100, max: 5_000 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('repeat' as const), t: fc.nat(200), other: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('advance' as const), hours: fc.integer({ min: 1, max: 9 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('rotate' as const), c: contact }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('block' as const), c: contact, on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('patch' as const), offer: fc.constantFrom('pct', 'day', 'week', 'month', 'life', 'disc', 'coffee', 'happy'), body: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tiers' as const), period: fc.nat(2) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('contact' as const), referred: fc.option(contact), birthday: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('join' as const), c: contact }) },
);

/** A POS request sent, to pick originals and repeats from. */
interface Sent {
  readonly path: string;
  readonly own: boolean;
  /** Each side's body (wallet codes are each side's own). */
  readonly bodies: Record<string, unknown>[];
}
const sent: Sent[] = [];
let ref_seq = 0;
const late: { reference: string; c: number; amount: number }[] = [];
/** References of originals sent after their reversal. */
const late_sent = new Set<string>();

const patches = (name: string, n: number): Record<string, unknown> =>
  [
    { limits: { per_contact: { count: 1, period: 'week' } } },
    { limits: { budget: 2_000 } },
    { active: false },
    { active: true, limits: { per_contact: { count: 3, period: 'month' } } },
  ][n]!;

function purchaseBody(c: Side['contacts'][number], s: Extract<Step, { k: 'purchase' }>, reference: string): Record<string, unknown> {
  const items = s.items ? [{ sku: 'COF', quantity: 1, amount: Math.floor(s.amount / 3) }, { sku: 'BUN', quantity: 2, amount: s.amount - Math.floor(s.amount / 3) }] : undefined;
  return { reference, cim: { type: 'card', value: c.card }, amount: s.amount, currency: 'EUR', ...(items ? { items } : {}), ...(s.pay > 0 ? { pay: { amount: Math.min(s.pay, s.amount), wallet_code: c.wallet_code } } : {}) };
}

/** One step on one side: the replies it got, comparable. */
async function play(side: Side, s: Step, refs: string[]): Promise<unknown[]> {
  const { gw, biz } = side;
  const out: unknown[] = [];
  const n = side.contacts.length;
  const who = (c: number) => side.contacts[c % n]!;
  const me = sides.indexOf(side);
  const pos = async (path: string, body: Record<string, unknown>, own = false) => {
    const r = await call(gw, 'POST', path, own ? side.own_key : biz.terminal_key, body);
    out.push(comparable(side, r));
    return r;
  };
  switch (s.k) {
    case 'purchase': {
      await pos('/v1/purchases', purchaseBody(who(s.c), s, refs[0]!), s.own);
      return out;
    }
    case 'redeem': {
      await pos('/v1/redemptions', { reference: refs[0]!, cim: { type: 'card', value: who(s.c).card }, ...(s.amount === null ? {} : { amount: s.amount }) }, s.own);
      return out;
    }
    case 'spend_code':
      await pos('/v1/spends', { reference: refs[0]!, amount: s.amount, currency: 'EUR', wallet_code: who(s.c).wallet_code });
      return out;
    case 'spend_otp': {
      const o = await call(gw, 'POST', `/v1/contacts/${who(s.c).id}/spend-otp`, biz.admin_key, { amount: s.otp_amount });
      out.push(comparable(side, o));
      if (o.status === 201) await pos('/v1/spends', { reference: refs[0]!, amount: s.amount, currency: 'EUR', otp: o.body.otp });
      return out;
    }
    case 'refund':
    case 'reverse': {
      const originals = sent.filter((x) => (s.k === 'refund' ? x.path === '/v1/purchases' : x.path !== '/v1/refunds'));
      const o = originals[s.t % Math.max(1, originals.length)];
      const original_reference = o ? String(o.bodies[me]!.reference) : 'never-sent';
      const extra = s.k === 'refund' && s.amount !== null ? { amount: s.amount } : {};
      await pos(s.k === 'refund' ? '/v1/refunds' : '/v1/reversals', { reference: refs[0]!, original_reference, ...extra }, o?.own ?? false);
      return out;
    }
    case 'reverse_first': {
      // A reversal before its original: the original, sent later (next step of the kind), is refused.
      await pos('/v1/reversals', { reference: refs[0]!, original_reference: refs[1]! });
      return out;
    }
    case 'repeat': {
      const o = sent[s.t % Math.max(1, sent.length)];
      if (!o) return out;
      const mine = o.bodies[me]!;
      const body = s.other ? { ...mine, ...('amount' in mine ? { amount: Number(mine.amount) + 1 } : { original_reference: 'other' }) } : mine;
      await pos(o.path, body, o.own);
      return out;
    }
    case 'advance':
      return out; // the clock is moved once for both sides
    case 'rotate':
      return [comparable(side, await call(gw, 'POST', `/v1/contacts/${who(s.c).id}/wallet-code`, biz.admin_key))];
    case 'block':
      return [comparable(side, await call(gw, 'PATCH', `/v1/contacts/${who(s.c).id}`, biz.admin_key, { spend_blocked: s.on }))];
    case 'patch':
      return [comparable(side, await call(gw, 'PATCH', `/v1/offers/${side.offers.get(s.offer)}`, biz.admin_key, patches(s.offer, s.body)))];
    case 'tiers': {
      const period = ['month', 'quarter', 'year'][s.period]!;
      tier_kinds = new Set(['m', period[0]!]);
      return [comparable(side, await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 100, period }, { name: 'silver', min_period_units: 30, period: 'month' }]))];
    }
    case 'contact': {
      const r = await call(gw, 'POST', '/v1/contacts', biz.admin_key, {
        cims: [{ type: 'card', value: testCard(73_000_000 + card_seq) }],
        ...(s.birthday ? { birth_date: `1990-${today()}` } : {}),
        ...(s.referred !== null && n > 0 ? { referred_by: who(s.referred).referral_code } : {}),
      });
      if (r.status === 201) side.contacts.push({ id: r.body.id, card: testCard(73_000_000 + card_seq), wallet_code: r.body.wallet_code, referral_code: r.body.referral_code });
      return [comparable(side, r)];
    }
    case 'join': {
      const codes = await ok(call(gw, 'POST', `/v1/schemes/${side.scheme_id}/codes`, biz.admin_key, { count: 1 }));
      return [comparable(side, await call(gw, 'POST', `/v1/schemes/${side.scheme_id}/signups`, biz.admin_key, { contact_id: who(s.c).id, code: codes.codes[0] }))];
    }
  }
}

/** The request a step sent on each side, remembered for later originals and repeats (bodies as `play` sent them). */
function remember(s: Step, refs: string[], wallet_codes: string[]) {
  const bodies = (make: (c: Side['contacts'][number], wallet_code: string) => Record<string, unknown>) =>
    sides.map((side, i) => make(side.contacts[('c' in s ? s.c : 0) % side.contacts.length]!, wallet_codes[i]!));
  if (s.k === 'purchase') sent.push({ path: '/v1/purchases', own: s.own, bodies: bodies((c, wallet_code) => purchaseBody({ ...c, wallet_code }, s, refs[0]!)) });
  if (s.k === 'redeem') sent.push({ path: '/v1/redemptions', own: s.own, bodies: bodies((c) => ({ reference: refs[0]!, cim: { type: 'card', value: c.card }, ...(s.amount === null ? {} : { amount: s.amount }) })) });
  if (s.k === 'spend_code') sent.push({ path: '/v1/spends', own: false, bodies: bodies((_c, wallet_code) => ({ reference: refs[0]!, amount: s.amount, currency: 'EUR', wallet_code })) });
  if (s.k === 'reverse_first') late.push({ reference: refs[1]!, c: s.c, amount: s.amount });
}

// ---- Redis, comparable (as test/rebuild.test.ts): claims (r:), journals (j:), the expiry index
// (e:), leases, the console's counts and the probe aside; hashes as sorted hex pairs without zeros.

// Guess counters (g:) and live OTPs (o:, p:, ot:) too: not in the ledger, not rebuilt (README).
const snapshot = (client: RedisClient) => comparableRedis(client, ['r', 'j', 'e', 'g', 'o', 'p', 'ot'], 'left out');

/** Keys whose value or expiry (beyond 2 s) differ; hash fields shown by name. */
function differences(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const out: string[] = [];
  const readable = (v: unknown) => JSON.stringify(v, (k, x) => (k === 'pairs' ? (x as string[]).map((p) => `${Buffer.from(p.slice(0, p.indexOf('=')), 'hex').toString('latin1')}=${p.slice(p.indexOf('=') + 1)}`) : x));
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const b = before[key] as { expires?: number } | undefined;
    const a = after[key] as { expires?: number } | undefined;
    // Rebuild dates an expiry from the test clock as moved by the end, a script from the clock as
    // moved when it ran, or from Redis's own: apart by at most what the clock was moved.
    const near = (d: number) => Math.abs(d) <= offset_ms / 1000 + 2;
    const same_expiry = b?.expires === undefined || a?.expires === undefined || b.expires === -1 || near(a.expires - b.expires);
    const strip = (v: { expires?: number } | undefined) => (v === undefined ? undefined : JSON.stringify({ ...v, expires: 0 }));
    if (strip(b) !== strip(a) || !same_expiry) out.push(`${key}\n  before ${readable(b)}\n  after  ${readable(a)}`);
  }
  return out.sort();
}

/** Each offer's budget and per-contact period as it is now. */
async function currentLimits(side: Side): Promise<Map<string, { budget: boolean; period: string | null }>> {
  const r = await call(side.gw, 'GET', '/v1/offers', side.biz.admin_key);
  const list = (Array.isArray(r.body) ? r.body : r.body.data) as { id: string; limits?: { budget?: number; per_contact?: { period: string } } }[];
  return new Map(list.map((o) => [o.id, { budget: typeof o.limits?.budget === 'number', period: o.limits?.per_contact?.period ?? null }]));
}

/**
 * A PATCH that drops an offer's budget, or changes its cap's period, leaves the old counter in
 * Redis, read by nothing (a limit added again is counted afresh from the ledger: limit-seed.ts);
 * rebuild, deriving limits from the offer as it is now (README), writes none: left out. A cap hash
 * left with no field is left out whole, as Redis holds no empty hash: a contact whose only counter was
 * stale (a lifetime count, the offer made weekly, its purchase reversed: the reversal gives back
 * the weekly count it never made) has the key before the rebuild and none after (seed 11 at 400
 * steps found it `{"pairs":[]}` against none).
 */
function withoutStaleLimits(snap: Record<string, unknown>, limits: Map<string, { budget: boolean; period: string | null }>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(snap)) {
    const budgeted = /^b:\{(.+)\}$/.exec(key);
    if (budgeted && limits.get(budgeted[1]!)?.budget === false) continue;
    if (key.startsWith('c:')) {
      // Units of a period kind the tiers no longer have: read by nothing, not rebuilt.
      const pairs = (v as { pairs: string[] }).pairs.filter((p) => {
        const field = Buffer.from(p.slice(0, p.indexOf('=')), 'hex').toString();
        return !/^u[mqy]$/.test(field) || tier_kinds.has(field[1]!);
      });
      out[key] = { ...(v as object), pairs };
      continue;
    }
    if (key.startsWith('k:')) {
      const pairs = (v as { pairs: string[] }).pairs.filter((p) => {
        const [offer, period] = Buffer.from(p.slice(0, p.indexOf('=')), 'hex').toString().split('|') as [string, string];
        const now = limits.get(offer)?.period;
        if (!/^[dwml]/.test(period)) return true; // 'once': an offer awarded once per contact (signup, referral, first purchase)
        return now === undefined || now === null ? false : period[0] === now[0];
      });
      if (pairs.length > 0) out[key] = { ...(v as object), pairs };
      continue;
    }
    out[key] = v;
  }
  return out;
}

// ---- The test.

let history: Step[] = [];
const mismatches: string[] = [];

beforeAll(async () => {
  sides.push(await makeSide('rbm_a'), await makeSide('rbm_b'));
  for (let i = 0; i < 4; i++) {
    for (const side of sides) await play(side, { k: 'contact', referred: null, birthday: i === 3 }, []);
    card_seq++;
  }
  history = fc.sample(fc.array(step, { minLength: steps, maxLength: steps }), { seed, numRuns: 1 })[0]!;
}, 120_000);

afterAll(async () => {
  for (const side of sides) {
    await side.gw.close().catch(() => {});
    await side.stores.stop();
  }
});

describe('rebuild against a twin that was not rebuilt', () => {
  it('plays the history on both sides alike', async () => {
    for (const [i, s] of history.entries()) {
      let refs = [`m${++ref_seq}`, `late${ref_seq}`];
      // A purchase after a reversal came first sends the late original under that reference.
      if (s.k === 'purchase' && late.length > 0 && s.c % 3 === 0) refs = [late.shift()!.reference];
      if (refs.length === 1) late_sent.add(refs[0]!);
      // Every record within the hot window's 48 h (README: at least that, at most 1.5×, kept): up to 30 h moved.
      if (s.k === 'advance' && offset_ms + s.hours * hour_ms > 30 * hour_ms) continue;
      if (s.k === 'advance') {
        offset_ms += s.hours * hour_ms;
        for (const side of sides) await side.gw.processor.expiry.sweep();
      }
      if (s.k === 'contact') card_seq++;
      // A tier kind added later counts from PostgreSQL's now() (tiers.units_since), which the test clock does not move.
      if (s.k === 'tiers' && offset_ms > 0) continue;
      const wallet_codes = sides.map((side) => side.contacts[('c' in s ? s.c : 0) % side.contacts.length]!.wallet_code);
      const [a, b] = [await play(sides[0]!, s, refs), await play(sides[1]!, s, refs)];
      if (!alike(a, b)) mismatches.push(`step ${i} ${JSON.stringify(s)}\n A ${JSON.stringify(a)}\n B ${JSON.stringify(b)}`);
      remember(s, refs, wallet_codes);
    }
    expect(mismatches, mismatches.join('\n')).toEqual([]);
  }, 120_000);

  let before: Record<string, unknown>;

  it('rebuilds A to every key it held', async () => {
    const a = sides[0]!;
    const { redis } = a.stores;
    expect(await waitForLedger(redis.client, await journalMarks(redis.client, a.gw.processor.stores.config.shard_count), 30_000)).toBe(true);
    const config = a.gw.processor.stores.config;
    await a.gw.close();
    before = await snapshot(redis.client);
    await redis.client.flushAll();
    const r = await rebuild(redis.client, a.stores.sql, config, { force: false, wait_ms: 30_000, now_ms: Date.now() + offset_ms });
    expect(r.outcome).toBe('rebuilt');
    if (r.outcome === 'rebuilt') expect(r.warnings).toEqual([]);
    const after = await snapshot(redis.client);
    a.gw = await startTestGateway({ redis_url: redis.url, database_url: a.stores.database_url });
    clockOn(a.gw);
    const limits = await currentLimits(a);
    const diff = differences(withoutStaleLimits(before, limits), withoutStaleLimits(after, limits));
    expect(diff, diff.join('\n')).toEqual([]);
  }, 120_000);

  it('answers the next operations on A as on its twin', async () => {
    const next: string[] = [];
    // Guess counters are not rebuilt (README): a 429 on one side only is theirs, and so is what
    // follows under that reference. The side not limited decided the repeat afresh and claimed the
    // reference (a refusal remembered), so another body is 409 there and decided afresh on the
    // other once its minute rolls over (seed 21 at 1,000 steps: 409 and 422, a seed exploration).
    const limited_t = new Set<number>();
    const both = async (what: string, s: Step, refs: string[]) => {
      const [a, b] = [await play(sides[0]!, s, refs), await play(sides[1]!, s, refs)];
      const limited = JSON.stringify([a, b]).includes('"status":429') || (s.k === 'repeat' && limited_t.has(s.t));
      if (limited && s.k === 'repeat') limited_t.add(s.t);
      if (!limited && !alike(a, b)) next.push(`${what} ${JSON.stringify(s)}\n A ${JSON.stringify(a)}\n B ${JSON.stringify(b)}`);
    };
    // README: a late original's refusal is not journaled; "after `npm run rebuild` the mark comes
    // back alone, and the first repeat is answered as the first arrival was": its repeats left out.
    const late_refs = new Set([...late_sent, ...late.map((l) => l.reference)]);
    for (let t = 0; t < sent.length; t++) if (!late_refs.has(String(sent[t]!.bodies[0]!.reference))) await both('repeat', { k: 'repeat', t, other: false }, []);
    for (let t = 0; t < sent.length; t += 3) if (!late_refs.has(String(sent[t]!.bodies[0]!.reference))) await both('other body', { k: 'repeat', t, other: true }, []);
    for (const l of late) await both('late original', { k: 'purchase', c: l.c, amount: l.amount, items: false, pay: 0, own: false }, [l.reference]);
    for (let round = 0; round < 2; round++)
      for (let c = 0; c < sides[0]!.contacts.length; c++) await both('purchase', { k: 'purchase', c, amount: 4_000, items: true, pay: 0, own: round === 1 }, [`n${round}-${c}`]);
    expect(next, next.join('\n')).toEqual([]);
  }, 120_000);
});
