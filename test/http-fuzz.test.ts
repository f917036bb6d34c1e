// The ground rule of API.md, EVENTS.md, TERMINAL.md and OPERATIONS.md, as properties over one
// real gateway: "Bad input never yields a 5xx and never changes state." Every route gets a valid
// body (or query) that is then spoilt the way clients go wrong: a field dropped, duplicated, of
// the wrong JSON type; numbers huge, negative, fractional, 1e308, -0; strings with NUL, a lone
// surrogate, 60 KB or 64 KB long; nesting 10,000 deep; arrays of 20,000 and 100,000; unknown,
// `__proto__` and `constructor` keys; wrong or doubled headers, a Content-Length that lies,
// chunked bodies; paths with encoded slashes, `..`, unicode, very long ids; absurd queries. Each
// answer: no 5xx, a 4xx is problem+json whose `code` is the pages' code for its status. After
// each batch: the wallets, the ledger's transaction count and the contact count moved only by
// what was answered 2xx. At the end the process is alive. Fixed seed, bounded runs (HTTP_FUZZ_SEED,
// HTTP_FUZZ_RUNS explore further).

import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signatureHeader } from '../core/signature.ts';
import { send } from './fuzz.ts';
import { call, createBusiness, eventually, platform_key, startTestGateway, testCard, type BusinessFixture, patient_probes, type TestGateway } from './helpers.ts';

const seed = Number(process.env.HTTP_FUZZ_SEED ?? 20261201);
const runs = Number(process.env.HTTP_FUZZ_RUNS ?? 1_200);
const batch = 100;

/** The codes the pages give each status (API.md's list; 431 and 408, node's answers before any route, say validation_failed, per the README). */
const codes_of: Record<number, readonly string[]> = {
  400: ['validation_failed'],
  401: ['unauthorized', 'signature_invalid'],
  403: ['forbidden'],
  404: ['not_found', 'contact_not_found', 'original_not_found'],
  409: ['idempotency_conflict', 'already_reversed', 'cim_taken'],
  422: ['insufficient_funds', 'spend_blocked', 'otp_invalid', 'otp_expired', 'wallet_code_invalid', 'amount_exceeds_original', 'signup_not_allowed'],
  429: ['rate_limited'],
  431: ['validation_failed'],
};

let gw: TestGateway;
let base: string;
let biz: BusinessFixture;
let spare_terminal_id: string;
let processor: { id: string; secret: string };
let world: { contacts: string[]; cards: string[]; wallet_codes: string[]; scheme_id: string; codes_scheme_id: string; offer_id: string; webhook_id: string };

beforeAll(async () => {
  gw = await startTestGateway(patient_probes, true);
  base = `http://127.0.0.1:${gw.port}`;
  biz = await createBusiness(gw);
  const ok = async (method: string, path: string, body?: unknown, key = biz.admin_key) => {
    const r = await call(gw, method, path, key, body);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
    return r.body;
  };
  spare_terminal_id = (await ok('POST', '/v1/terminals', { venue_id: biz.venue_id, code: 'HF000002' })).id;
  const offer = await ok('POST', '/v1/offers', { name: '5%', goal: 'spend', award: { percent: 5 } });
  await ok('POST', '/v1/offers', { name: 'sku off', kind: 'instant_discount', goal: 'product', award: { fixed: 100 }, conditions: { products: { skus: ['A'] } } });
  const scheme = await ok('POST', '/v1/schemes', { name: 'S', signup: 'self' });
  const codes_scheme = await ok('POST', '/v1/schemes', { name: 'C', signup: 'codes' });
  const p = await ok('POST', '/v1/processors', { name: 'P' });
  processor = { id: p.id, secret: p.signing_secret };
  const webhook = await ok('POST', '/v1/webhooks', { url: 'https://example.com/hook', events: ['*'] });
  const contacts: string[] = [];
  const cards: string[] = [];
  const wallet_codes: string[] = [];
  for (let i = 0; i < 3; i++) {
    const card = testCard(77_100_000 + (Date.now() % 10_000) * 10 + i);
    const c = await ok('POST', '/v1/contacts', { first_name: `H${i}`, cims: [{ type: 'card', value: card }, { type: 'email', value: `hf${i}.${card}@example.com` }] });
    contacts.push(c.id);
    cards.push(card);
    wallet_codes.push(c.wallet_code);
    await ok('POST', '/v1/purchases', { reference: `hf-seed-${i}`, cim: { type: 'card', value: card }, amount: 100_000, currency: 'EUR' }, biz.terminal_key);
    await ok('POST', '/v1/redemptions', { reference: `hf-seed-r${i}`, cim: { type: 'card', value: card }, amount: 2_000 }, biz.terminal_key);
  }
  world = { contacts, cards, wallet_codes, scheme_id: scheme.id, codes_scheme_id: codes_scheme.id, offer_id: offer.id, webhook_id: webhook.id };
  // The six transactions above in the ledger before anything is counted.
  await eventually('the ledger to hold the seed transactions', async () => ((await state()).ledger === 6 ? true : undefined));
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

// ---------------------------------------------------------------------------------------------
// Every route with a request that succeeds (or is refused on its merits), before it is spoilt.

interface Route {
  readonly method: string;
  /** `{id}` is the id a case may replace. */
  readonly path: string;
  readonly key: 'admin' | 'terminal' | 'platform' | 'none' | 'signed';
  readonly id?: () => string;
  readonly query?: (n: number) => Record<string, string>;
  readonly body?: (n: number) => unknown;
  readonly ndjson?: true;
}

function routes(): Route[] {
  const card = (n: number) => ({ type: 'card', value: world.cards[n % 3]! });
  const ref = (n: number) => `hf-${n}`;
  const contact = () => world.contacts[1]!;
  const event = (n: number) => ({ id: `evt-${n}`, type: 'transaction.cleared', created_at: new Date().toISOString(), data: { transaction_id: `ptx-${n}`, card: { number: world.cards[n % 3] }, amount: 1_000, currency: 'EUR', merchant_code: biz.merchant_code } });
  return [
    { method: 'POST', path: '/v1/purchases', key: 'terminal', body: (n) => ({ reference: ref(n), cim: card(n), amount: 1_000, currency: 'EUR', items: [{ sku: 'A', quantity: 1, amount: 1_000 }], occurred_at: new Date(Date.now() - 60_000).toISOString(), pay: { amount: 10, wallet_code: world.wallet_codes[n % 3] } }) },
    { method: 'POST', path: '/v1/purchases/quote', key: 'terminal', body: (n) => ({ reference: ref(n), cim: card(n), amount: 1_000, currency: 'EUR', items: [{ sku: 'A', family: 'f', brand: 'b', type: 't', quantity: 2, amount: 1_000 }] }) },
    { method: 'POST', path: '/v1/redemptions', key: 'terminal', body: (n) => ({ reference: ref(n), cim: card(n), amount: 10 }) },
    { method: 'POST', path: '/v1/spends', key: 'terminal', body: (n) => ({ reference: ref(n), amount: 5, currency: 'EUR', wallet_code: world.wallet_codes[n % 3] }) },
    { method: 'POST', path: '/v1/refunds', key: 'terminal', body: (n) => ({ reference: ref(n), original_reference: `hf-seed-${n % 3}`, amount: 1 }) },
    { method: 'POST', path: '/v1/reversals', key: 'terminal', body: (n) => ({ reference: ref(n), original_reference: `hf-${n - 1}` }) },
    { method: 'GET', path: '/v1/wallets', key: 'terminal', query: (n) => ({ cim_type: 'card', cim_value: world.cards[n % 3]! }) },
    { method: 'POST', path: '/v1/businesses', key: 'platform', body: (n) => ({ name: `HF ${n}`, currency: 'EUR', reward_resolution: 'best' }) },
    { method: 'POST', path: '/v1/merchants', key: 'admin', body: (n) => ({ name: 'M', code: `HFM${n}`, contribution_fee_percent: 2.5, settle_on: 'spend' }) },
    { method: 'GET', path: '/v1/merchants', key: 'admin', query: () => ({ limit: '2', starting_after: biz.merchant_id }) },
    { method: 'POST', path: '/v1/venues', key: 'admin', body: () => ({ name: 'V', merchant_id: biz.merchant_id, timezone: 'Europe/Paris' }) },
    { method: 'GET', path: '/v1/venues', key: 'admin', query: () => ({ limit: '1' }) },
    { method: 'POST', path: '/v1/terminals', key: 'admin', body: (n) => ({ venue_id: biz.venue_id, code: `H${String(n).padStart(7, '0')}`.slice(0, 8) }) },
    { method: 'GET', path: '/v1/terminals', key: 'admin', query: () => ({ limit: '1' }) },
    { method: 'POST', path: '/v1/terminals/{id}/rotate-key', key: 'admin', id: () => spare_terminal_id },
    { method: 'POST', path: '/v1/contacts/import', key: 'admin', ndjson: true, body: (n) => ({ first_name: 'I', email: `imp${n}@example.com`, tags: ['x'] }) },
    { method: 'POST', path: '/v1/contacts/lookup', key: 'admin', body: (n) => ({ cim: card(n) }) },
    { method: 'POST', path: '/v1/contacts', key: 'admin', body: (n) => ({ first_name: 'N', last_name: 'L', email: `new${n}@example.com`, phone: `+3361234${String(n).padStart(4, '0')}`, birth_date: '1990-02-03', tags: ['t'], cims: [{ type: 'loyalty_id', value: `LY${n}` }] }) },
    { method: 'GET', path: '/v1/contacts/{id}', key: 'admin', id: contact },
    { method: 'PATCH', path: '/v1/contacts/{id}', key: 'admin', id: contact, body: () => ({ tags: ['a'], spend_blocked: false, birth_date: '1991-01-01' }) },
    { method: 'POST', path: '/v1/contacts/{id}/cims', key: 'admin', id: contact, body: (n) => ({ type: 'gift_pass', value: `GP${n}` }) },
    { method: 'GET', path: '/v1/contacts/{id}/wallet', key: 'admin', id: contact },
    { method: 'POST', path: '/v1/contacts/{id}/spend-otp', key: 'admin', id: contact, body: () => ({ amount: 100, ttl_seconds: 60 }) },
    { method: 'GET', path: '/v1/contacts/{id}/statement', key: 'admin', id: contact, query: () => ({ from: '2026-01-01T00:00:00Z', to: '2099-01-01T00:00:00Z' }) },
    { method: 'GET', path: '/v1/settlements', key: 'admin', query: () => ({ merchant_id: biz.merchant_id, from: '2026-01-01T00:00:00Z', to: '2099-01-01T00:00:00Z' }) },
    { method: 'POST', path: '/v1/schemes', key: 'admin', body: () => ({ name: 'S2', signup: 'email_domain', email_domains: ['example.com'] }) },
    { method: 'GET', path: '/v1/schemes/{id}', key: 'admin', id: () => world.scheme_id },
    { method: 'POST', path: '/v1/schemes/{id}/codes', key: 'admin', id: () => world.codes_scheme_id, body: () => ({ count: 2 }) },
    { method: 'POST', path: '/v1/schemes/{id}/signups', key: 'admin', id: () => world.scheme_id, body: () => ({ contact_id: world.contacts[2] }) },
    { method: 'PUT', path: '/v1/tiers', key: 'admin', body: () => [{ name: 'silver', min_period_units: 100, period: 'month' }, { name: 'gold', min_period_units: 1_000, period: 'month' }] },
    { method: 'POST', path: '/v1/offers', key: 'admin', body: () => ({ name: 'O', active: false, kind: 'cashback', goal: 'spend', award: { percent: 1 }, conditions: { min_amount: 1000, days_of_week: [1, 2], time_from: '15:00', time_to: '18:00' }, max_award: 2000, limits: { per_contact: { count: 1, period: 'day' }, budget: 100_000 }, validity_days: 90, pool: 'coffee' }) },
    { method: 'GET', path: '/v1/offers/{id}', key: 'admin', id: () => world.offer_id },
    { method: 'PATCH', path: '/v1/offers/{id}', key: 'admin', id: () => world.offer_id, body: () => ({ active: true, max_award: 100_000 }) },
    { method: 'POST', path: '/v1/iso8583/links', key: 'admin', body: (n) => ({ acquirer_id: String(40_000 + n) }) },
    { method: 'POST', path: '/v1/processors', key: 'admin', body: () => ({ name: 'P2', award_on: 'authorization' }) },
    { method: 'POST', path: '/v1/processors/{id}/rotate-secret', key: 'admin', id: () => processor.id },
    { method: 'GET', path: '/v1/transactions/{id}', key: 'admin', id: () => 'txn_0000000000000000000000000' },
    { method: 'GET', path: '/v1/transactions', key: 'admin', query: () => ({ limit: '5' }) },
    { method: 'GET', path: '/v1/stats', key: 'admin', query: () => ({ since: '2026-01-01T00:00:00Z' }) },
    { method: 'POST', path: '/v1/callbacks/{id}', key: 'signed', id: () => processor.id, body: (n) => (n % 2 === 0 ? event(n) : { events: [event(n), { ...event(n + 1), type: 'transaction.reversed', data: { transaction_id: `ptx-${n}` } }] }) },
    { method: 'POST', path: '/v1/webhooks', key: 'admin', body: () => ({ url: 'https://example.com/h2', events: ['transaction.approved'], description: 'd' }) },
    { method: 'PATCH', path: '/v1/webhooks/{id}', key: 'admin', id: () => world.webhook_id, body: () => ({ url: 'https://example.com/hook', events: ['*'], status: 'enabled' }) },
    { method: 'GET', path: '/v1/webhooks/{id}/deliveries', key: 'admin', id: () => world.webhook_id, query: () => ({ status: 'pending', limit: '10' }) },
    { method: 'GET', path: '/v1/business', key: 'admin' },
    { method: 'GET', path: '/healthz', key: 'none' },
    { method: 'GET', path: '/readyz', key: 'none' },
  ];
}

// ---------------------------------------------------------------------------------------------
// What a case does to its route's request.

const long = (n: number) => 'x'.repeat(n);
const big_array = (n: number) => Array.from({ length: n }, () => 0);

/** Values a field should not hold. */
const bad_values: readonly unknown[] = [
  null, true, false, 0, -1, -0, 0.5, 1.5, 1e21, 1e308, -1e308, 2 ** 53 + 2, Number.MIN_VALUE, '', ' ', '1', 'NaN',
  '\u0000', 'a\u0000b', '\ud800', 'x\udfffy', long(60_000), long(65_536), [], [null], {}, { '': 1 },
  'nest-array', 'nest-object', 'array-20k', 'array-100k',
];

type Spoil =
  | { kind: 'drop'; pick: number }
  | { kind: 'replace'; pick: number; value: number }
  | { kind: 'extra'; pick: number; key: string; value: number }
  | { kind: 'duplicate'; first: boolean; value: number }
  | { kind: 'proto'; key: '__proto__' | 'constructor' | 'prototype' }
  | { kind: 'text'; what: 'number_1e309' | 'number_minus_zero' | 'escaped_nul' | 'escaped_surrogate' | 'bad_utf8' | 'truncated' | 'empty' | 'not_json' }
  | { kind: 'none' };

type HeaderSpoil =
  | 'none' | 'no_content_type' | 'text_plain' | 'form' | 'xml' | 'charset_latin1' | 'gzip' | 'two_content_types'
  | 'no_auth' | 'bearer_empty' | 'basic' | 'two_bearers' | 'lowercase_scheme' | 'other_key' | 'huge_key' | 'idempotency_odd'
  | 'terminal_header_bogus' | 'chunked' | 'length_short' | 'length_long' | 'length_duplicate';

type PathSpoil = 'none' | 'encoded_slash' | 'dot_dot' | 'unicode' | 'long_8k' | 'long_20k' | 'encoded_dot_dot' | 'trailing_slash' | 'double_slash' | 'percent_bad';
type QuerySpoil = 'none' | 'repeat' | 'limit_neg' | 'limit_1e9' | 'limit_frac' | 'cursor_garbage' | 'from_garbage' | 'unknown' | 'huge_value' | 'nul';

interface Case {
  readonly route: number;
  readonly spoil: Spoil;
  readonly header: HeaderSpoil;
  readonly path: PathSpoil;
  readonly query: QuerySpoil;
}

const pick = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const value = fc.nat({ max: bad_values.length - 1 });
const spoil_arb: fc.Arbitrary<Spoil> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('drop' as const), pick }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('replace' as const), pick, value }), weight: 8 },
  { arbitrary: fc.record({ kind: fc.constant('extra' as const), pick, key: fc.constantFrom('zz_unknown', 'id', 'business_id', 'status', 'terminal_id', 'contact_id'), value }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('duplicate' as const), first: fc.boolean(), value }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('proto' as const), key: fc.constantFrom('__proto__' as const, 'constructor' as const, 'prototype' as const) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('text' as const), what: fc.constantFrom('number_1e309' as const, 'number_minus_zero' as const, 'escaped_nul' as const, 'escaped_surrogate' as const, 'bad_utf8' as const, 'truncated' as const, 'empty' as const, 'not_json' as const) }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'none' as const }), weight: 2 },
);
const case_arb = (n_routes: number): fc.Arbitrary<Case> => fc.record({
  route: fc.nat({ max: n_routes - 1 }),
  spoil: spoil_arb,
  header: fc.oneof({ arbitrary: fc.constant('none' as const), weight: 12 }, { arbitrary: fc.constantFrom<HeaderSpoil>('no_content_type', 'text_plain', 'form', 'xml', 'charset_latin1', 'gzip', 'two_content_types', 'no_auth', 'bearer_empty', 'basic', 'two_bearers', 'lowercase_scheme', 'other_key', 'huge_key', 'idempotency_odd', 'terminal_header_bogus', 'chunked', 'length_short', 'length_long', 'length_duplicate'), weight: 4 }),
  path: fc.oneof({ arbitrary: fc.constant('none' as const), weight: 12 }, { arbitrary: fc.constantFrom<PathSpoil>('encoded_slash', 'dot_dot', 'unicode', 'long_8k', 'long_20k', 'encoded_dot_dot', 'trailing_slash', 'double_slash', 'percent_bad'), weight: 2 }),
  query: fc.oneof({ arbitrary: fc.constant('none' as const), weight: 8 }, { arbitrary: fc.constantFrom<QuerySpoil>('repeat', 'limit_neg', 'limit_1e9', 'limit_frac', 'cursor_garbage', 'from_garbage', 'unknown', 'huge_value', 'nul'), weight: 3 }),
});

/** A bad value; the 10,000-deep ones as a marker that `stringify` writes out (JSON.stringify itself runs out of stack). */
function badValue(i: number): unknown {
  const v = bad_values[i];
  if (v === 'nest-array' || v === 'nest-object') return `@@${v}@@`;
  if (v === 'array-20k') return big_array(20_000);
  if (v === 'array-100k') return big_array(100_000);
  return v;
}

const deep_text = { array: `${'['.repeat(10_000)}1${']'.repeat(10_000)}`, object: `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}` };
function stringify(v: unknown): string {
  return JSON.stringify(v).replaceAll('"@@nest-array@@"', deep_text.array).replaceAll('"@@nest-object@@"', deep_text.object);
}

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };
function slots(v: unknown, out: Slot[] = []): Slot[] {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push({ parent: v, key: i }), slots(x, out)));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) (out.push({ parent: v as Record<string, unknown>, key: k }), slots(x, out));
  return out;
}

/** The body's text, spoilt. */
function bodyText(body: unknown, s: Spoil): Buffer {
  const copy = body === undefined ? {} : structuredClone(body);
  const all = slots(copy);
  const at = (p: number) => all[Math.floor(p * all.length)];
  switch (s.kind) {
    case 'drop': {
      const slot = at(s.pick);
      if (slot !== undefined) Array.isArray(slot.parent) ? slot.parent.splice(slot.key as number, 1) : delete slot.parent[slot.key as string];
      return Buffer.from(stringify(copy));
    }
    case 'replace': {
      const slot = at(s.pick);
      if (slot === undefined) return Buffer.from(stringify(badValue(s.value)));
      (slot.parent as Record<string | number, unknown>)[slot.key] = badValue(s.value);
      return Buffer.from(stringify(copy));
    }
    case 'extra': {
      const objects = [copy, ...all.map((x) => (x.parent as Record<string | number, unknown>)[x.key])].filter((o) => o !== null && typeof o === 'object' && !Array.isArray(o)) as Record<string, unknown>[];
      const target = objects[Math.floor(s.pick * objects.length)] ?? (copy as Record<string, unknown>);
      if (!Array.isArray(target)) target[s.key] = badValue(s.value);
      return Buffer.from(stringify(copy));
    }
    case 'duplicate': {
      // The first key again, before or after: a parser keeping either one must see a valid or refused body, never a crash.
      const text = stringify(copy);
      const key = /^\{"((?:[^"\\]|\\.)*)"/.exec(text)?.[1];
      if (key === undefined) return Buffer.from(text);
      const extra = `"${key}":${stringify(badValue(s.value))}`;
      return Buffer.from(s.first ? `{${extra},${text.slice(1)}` : `${text.slice(0, -1)},${extra}}`);
    }
    case 'proto': {
      const text = stringify(copy);
      const inner = s.key === '__proto__' ? '{"amount":1,"spend_blocked":true,"isAdmin":true}' : '{"prototype":{"polluted":1}}';
      return Buffer.from(text.startsWith('{') && text.length > 2 ? `{"${s.key}":${inner},${text.slice(1)}` : `{"${s.key}":${inner}}`);
    }
    case 'text': {
      const text = stringify(copy);
      switch (s.what) {
        case 'number_1e309': return Buffer.from(/\d/.test(text) ? text.replace(/(?<=:)\d+/, '1e309') : text);
        case 'number_minus_zero': return Buffer.from(text.replace(/(?<=:)\d+/, '-0.0'));
        case 'escaped_nul': return Buffer.from(text.replace(/(?<=:")/, '\\u0000'));
        case 'escaped_surrogate': return Buffer.from(text.replace(/(?<=:")/, '\\udc00'));
        case 'bad_utf8': return Buffer.concat([Buffer.from(text.slice(0, -2)), Buffer.from([0xff, 0xfe]), Buffer.from(text.slice(-2))]);
        case 'truncated': return Buffer.from(text.slice(0, Math.ceil(text.length / 2)));
        case 'empty': return Buffer.alloc(0);
        case 'not_json': return Buffer.from(`reference=${text}`);
      }
      break;
    }
    case 'none':
      return Buffer.from(stringify(copy));
  }
  return Buffer.from(stringify(copy));
}

function pathOf(route: Route, p: PathSpoil): string {
  const id = route.id?.();
  let path = id === undefined ? route.path : route.path.replace('{id}', id);
  const odd: Record<PathSpoil, string | undefined> = {
    none: undefined,
    encoded_slash: `${id ?? 'x'}%2Fwallet`,
    dot_dot: `../${id ?? 'x'}`,
    encoded_dot_dot: `%2E%2E%2F%2E%2E%2Fhealthz`,
    unicode: `\u00e9\u202e${id ?? ''}\ud83d\ude00`,
    long_8k: long(8_000),
    long_20k: long(20_000),
    trailing_slash: `${id ?? ''}/`,
    double_slash: `/${id ?? ''}`,
    percent_bad: `%E0%A4%A${id ?? ''}%`,
  };
  const replacement = odd[p];
  if (replacement === undefined) return path;
  if (id !== undefined) return path.replace(id, /[^\x21-\x7e]/.test(replacement) ? encodeURIComponent(replacement) : replacement);
  // A route without an id: the spoilt segment after it.
  return p === 'trailing_slash' ? `${path}/` : p === 'double_slash' ? path.replace('/v1/', '/v1//') : `${path}/${/[^\x21-\x7e]/.test(replacement) ? encodeURIComponent(replacement) : replacement}`;
}

function queryOf(route: Route, q: QuerySpoil, n: number): string {
  const params = new URLSearchParams(route.query?.(n) ?? {});
  const first = [...params.keys()][0] ?? 'limit';
  switch (q) {
    case 'none': break;
    case 'repeat': params.append(first, 'again'); params.append(first, ''); break;
    case 'limit_neg': params.set('limit', '-1'); break;
    case 'limit_1e9': params.set('limit', '1e9'); break;
    case 'limit_frac': params.set('limit', '2.5'); break;
    case 'cursor_garbage': params.set('starting_after', '\u0000\ud800'.replace('\ud800', '\u00ff') + long(300)); params.set('cursor', '!!'); break;
    case 'from_garbage': params.set('from', '2026-02-30T25:00:00Z'); params.set('to', '-1'); params.set('since', '99999-01-01T00:00:00Z'); break;
    case 'unknown': params.set('zz', '1'); params.set('__proto__', '1'); params.set('constructor', 'x'); break;
    case 'huge_value': params.set(first, long(9_000)); break;
    case 'nul': params.set(first, '\u0000'); break;
  }
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

interface Request {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  /** Sent over a socket as bytes, for what node's client will not send. */
  readonly raw?: Buffer;
}

function requestOf(route: Route, c: Case, n: number): Request {
  const path = pathOf(route, c.path) + queryOf(route, c.query, n);
  let body = route.body === undefined ? undefined : bodyText(route.body(n), c.spoil);
  if (route.ndjson && body !== undefined) body = Buffer.concat([body, Buffer.from('\n'), Buffer.from(JSON.stringify(route.body!(n + 100_000))), Buffer.from('\n')]);
  if (route.body === undefined && c.spoil.kind !== 'none') body = bodyText({ zz: 1 }, c.spoil);
  const key = route.key === 'admin' ? biz.admin_key : route.key === 'terminal' ? biz.terminal_key : route.key === 'platform' ? platform_key : undefined;
  const headers: Record<string, string> = { 'content-type': route.ndjson ? 'application/x-ndjson' : 'application/json' };
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  if (route.key === 'signed' && body !== undefined) headers['pocketgate-signature'] = signatureHeader([processor.secret], Math.floor(Date.now() / 1000), body);
  switch (c.header) {
    case 'none': break;
    case 'no_content_type': delete headers['content-type']; break;
    case 'text_plain': headers['content-type'] = 'text/plain'; break;
    case 'form': headers['content-type'] = 'application/x-www-form-urlencoded'; break;
    case 'xml': headers['content-type'] = 'application/xml'; break;
    case 'charset_latin1': headers['content-type'] += '; charset=iso-8859-1'; break;
    case 'gzip': headers['content-encoding'] = 'gzip'; break;
    case 'two_content_types': headers['content-type'] += ', text/html'; break;
    case 'no_auth': delete headers.authorization; break;
    case 'bearer_empty': headers.authorization = 'Bearer '; break;
    case 'basic': headers.authorization = `Basic ${Buffer.from(`${key}:`).toString('base64')}`; break;
    case 'two_bearers': headers.authorization = `Bearer ${key}, Bearer ${biz.terminal_key}`; break;
    case 'lowercase_scheme': headers.authorization = `bearer ${key}`; break;
    case 'other_key': headers.authorization = `Bearer ${route.key === 'terminal' ? biz.admin_key : biz.terminal_key}`; break;
    case 'huge_key': headers.authorization = `Bearer ${long(15_000)}`; break;
    case 'idempotency_odd': headers['idempotency-key'] = long(300); headers['idempotent-replayed'] = 'true'; break;
    case 'terminal_header_bogus': headers['pocketgate-terminal'] = `${biz.terminal_id}, ter_nope`; break;
    case 'chunked':
    case 'length_short':
    case 'length_long':
    case 'length_duplicate':
      return { method: route.method, path, headers, body, raw: rawBytes(route.method, path, headers, body ?? Buffer.alloc(0), c.header) };
  }
  return { method: route.method, path, headers, body };
}

function rawBytes(method: string, path: string, headers: Record<string, string>, body: Buffer, how: HeaderSpoil): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: x', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (how === 'chunked') {
    lines.push('Transfer-Encoding: chunked');
    const half = Math.floor(body.length / 2);
    const chunks = [body.subarray(0, half), body.subarray(half)].filter((b) => b.length > 0);
    return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), ...chunks.flatMap((ch) => [Buffer.from(`${ch.length.toString(16)}\r\n`), ch, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')]);
  }
  const length = how === 'length_short' ? Math.max(0, body.length - 3) : how === 'length_long' ? body.length + 10 : body.length;
  lines.push(`Content-Length: ${length}`);
  if (how === 'length_duplicate') lines.push(`Content-Length: ${length + 1}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), body]);
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/** Bytes over a socket; the first answer, or status 0 if none came. A body shorter than its length: the client stops sending (half-close). */
function sendRaw(raw: Buffer, half_close: boolean): Promise<Answer | undefined> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const socket = connect({ port: gw.port, host: '127.0.0.1' }, () => {
      socket.write(raw);
      if (half_close) socket.end();
    });
    const done = () => {
      clearTimeout(timer);
      const text = got.toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (m === null) return resolve(text === '' ? { status: 0, headers: {}, text: 'closed with no answer' } : { status: -1, headers: {}, text });
      const headers: Record<string, string> = {};
      for (const line of m[2]!.split('\r\n')) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
      resolve({ status: Number(m[1]), headers, text: m[3]!.split('\r\nHTTP/1.1 ')[0]! });
    };
    const timer = setTimeout(() => (socket.destroy(), done()), 4_000);
    socket.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    socket.on('close', done);
    socket.on('error', () => {});
  });
}

/** What the pages say of an answer: no 5xx; a 4xx is problem+json with the code of its status. */
function wrongWith(a: Answer | undefined, method: string): string | undefined {
  if (a === undefined) return 'no answer in time';
  if (a.status <= 0) return `no HTTP answer: ${a.text.slice(0, 100)}`;
  if (a.status >= 500) return `status ${a.status} ${a.text.slice(0, 300)}`;
  if (a.status < 400 || method === 'HEAD') return undefined;
  const type = String(a.headers['content-type'] ?? '');
  if (!type.startsWith('application/problem+json')) return `${a.status} as ${type || 'no content-type'}`;
  let p: any;
  try {
    p = JSON.parse(a.text);
  } catch {
    return `${a.status} problem not JSON: ${a.text.slice(0, 100)}`;
  }
  const allowed = codes_of[a.status];
  if (allowed === undefined) return `status ${a.status} is none of the pages' (code ${p.code})`;
  if (!allowed.includes(p.code)) return `${a.status} with code ${p.code}, the pages give ${allowed.join('|')}`;
  if (p.status !== a.status || typeof p.type !== 'string' || typeof p.title !== 'string' || typeof p.detail !== 'string') return `${a.status} problem without its fields ${a.text.slice(0, 200)}`;
  if (p.code === 'validation_failed' && a.status === 400 && !Array.isArray(p.errors)) return '400 validation_failed without errors[]';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// State: what only a 2xx may move.

interface State {
  readonly wallets: string;
  readonly ledger: number;
  readonly contacts: number;
}

async function wallets(): Promise<string> {
  return (await Promise.all(world.contacts.map(async (id) => (await call(gw, 'GET', `/v1/contacts/${id}/wallet`, biz.admin_key)).text))).join('\n');
}

async function contactCount(): Promise<number> {
  const [c] = await gw.processor.stores.sql<{ n: number }[]>`select count(*)::int as n from contacts where business_id = ${biz.business_id}`;
  return c!.n;
}

async function state(): Promise<State> {
  const sql = gw.processor.stores.sql;
  const [l] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where business_id = ${biz.business_id}`;
  const [c] = await sql<{ n: number }[]>`select count(*)::int as n from contacts where business_id = ${biz.business_id}`;
  return { wallets: await wallets(), ledger: l!.n, contacts: c!.n };
}

/** New transactions a 2xx answer made: its own id and the ids of the callback events it processed; none if replayed. */
function madeTransactions(a: Answer, route: Route): string[] {
  if (a.headers['idempotent-replayed'] === 'true') return [];
  let r: any;
  try {
    r = JSON.parse(a.text);
  } catch {
    return [];
  }
  if (route.key === 'terminal' && route.method === 'POST' && !route.path.includes('quote') && typeof r?.id === 'string') return [r.id];
  if (route.key === 'signed') return (Array.isArray(r?.results) ? r.results : [r]).filter((e: any) => e.status === 'processed' && e.replayed !== true).map((e: any) => e.transaction_id);
  return [];
}

function summary(req: Request): string {
  const body = (req.raw ?? req.body)?.toString('utf8') ?? '';
  const s = `${req.method} ${req.path.length > 200 ? `${req.path.slice(0, 100)}…(${req.path.length})` : req.path} ${JSON.stringify(Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, v.length > 80 ? `${v.slice(0, 40)}…(${v.length})` : v])))} ${body.length > 400 ? `${body.slice(0, 300)}…(${body.length})` : body}`;
  return s;
}

describe(`every route, its bodies, headers, paths and queries spoilt (seed ${seed}, ${runs} requests)`, () => {
  it('no 5xx, the pages\' code for every 4xx, and nothing changed but by a 2xx', async () => {
    const all = routes();
    const cases = fc.sample(case_arb(all.length), { seed, numRuns: runs });
    const findings: string[] = [];
    const tally: Record<string, number> = {};
    const examples: string[] = [];
    const recent: string[] = [];
    for (let start = 0; start < cases.length; start += batch) {
      const before = await state();
      const made = new Set<string>();
      let contacts_made = 0;
      let wallets_may_move = false;
      for (const [i, c] of cases.slice(start, start + batch).entries()) {
        const n = start + i;
        const route = all[c.route]!;
        const req = requestOf(route, c, n);
        const moves_money = route.key === 'terminal' || route.key === 'signed';
        const wallets_before = moves_money ? await wallets() : '';
        const makes_contacts = route.path.startsWith('/v1/contacts') && route.method === 'POST';
        const contacts_before = makes_contacts ? await contactCount() : 0;
        const a = req.raw !== undefined ? await sendRaw(req.raw, c.header === 'length_long') : await send(base, req.method, req.path, req.headers, req.body, 5_000);
        const wrong = wrongWith(a, req.method);
        recent.push(`    ${a?.status} ${summary(req).slice(0, 300)}`);
        if (recent.length > 4) recent.shift();
        const seen = `${route.method} ${route.path} ${a?.status}${a !== undefined && a.status >= 400 ? ` ${/"code":"(\w+)"/.exec(a.text)?.[1]}` : ''}`;
        tally[seen] = (tally[seen] ?? 0) + 1;
        if (process.env.HTTP_FUZZ_VERBOSE && tally[seen] <= 2) examples.push(`${seen}: ${a?.text.slice(0, 160)}\n    ${summary(req).slice(0, 400)}`);
        if (wrong !== undefined) findings.push(`${route.method} ${route.path}: ${wrong}\n    ${summary(req)}`);
        if (makes_contacts) {
          const answered = a !== undefined && a.status === 201 && route.path === '/v1/contacts' ? 1 : a !== undefined && a.status === 200 && route.ndjson ? Number(JSON.parse(a.text).imported ?? 0) : 0;
          const now = await contactCount();
          if (now !== contacts_before + answered) findings.push(`${route.method} ${route.path}: answered ${a?.status} (${answered} made) but contacts ${contacts_before} → ${now}\n    ${summary(req)}\n    ${a?.text.slice(0, 300)}\n  after:\n${recent.join('\n')}`);
        }
        if (a === undefined || a.status < 200 || a.status >= 300) {
          if (moves_money && (await wallets()) !== wallets_before) findings.push(`${route.method} ${route.path}: refused ${a?.status} but a wallet moved\n    ${summary(req)}`);
          continue;
        }
        for (const id of madeTransactions(a, route)) made.add(id);
        if (route.path === '/v1/contacts' && a.status === 201) contacts_made++;
        if (route.path === '/v1/contacts/import') contacts_made += Number(JSON.parse(a.text).imported ?? 0);
        if (route.key === 'terminal' || route.key === 'signed') wallets_may_move = true;
      }
      // The ledger writer records each approved transaction a few ms after its answer.
      const expected = before.ledger + made.size;
      const after = await eventually('the ledger to hold the batch', async () => {
        const s = await state();
        return s.ledger >= expected ? s : undefined;
      }, 10_000).catch(() => state());
      await new Promise((r) => setTimeout(r, 50));
      const settled = await state();
      if (settled.ledger !== expected) findings.push(`batch ${start}: ledger transactions ${before.ledger} → ${settled.ledger}, answers approved ${made.size}`);
      if (settled.contacts !== before.contacts + contacts_made) findings.push(`batch ${start}: contacts ${before.contacts} → ${settled.contacts}, answers created ${contacts_made}`);
      if (!wallets_may_move && after.wallets !== before.wallets) findings.push(`batch ${start}: wallets moved with no POS request approved\n${before.wallets}\n${after.wallets}`);
    }
    if (process.env.HTTP_FUZZ_VERBOSE) console.log(Object.entries(tally).sort().map(([k, v]) => `${v}\t${k}`).join('\n') + '\n' + examples.sort().join('\n'));
    expect(findings).toEqual([]);
  }, 180_000);

  it('the gateway is alive and ready after the run, and logged no error', async () => {
    const r = await send(base, 'GET', '/readyz', {});
    expect(r?.status).toBe(200);
    const errors = gw.logs.join('').split('\n').filter((l) => /"level":(50|60)/.test(l)).map((l) => l.slice(0, 500));
    expect(errors).toEqual([]);
  });
});
