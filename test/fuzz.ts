// A bounded, seeded fuzzer of a running gateway, from outside (test/fuzz.test.ts runs it in
// `npm test`): every route of /openapi.json over real HTTP, the WebSocket terminal channel,
// ISO 8583 over TCP and signed processor callbacks, with the keys of every kind. After each
// case it checks what the ground rules promise: an answer within 2 s, never a 5xx, every error
// problem+json with its status and code, a refused admin call changing none of the businesses'
// rows, no ISO 96; now and then that /readyz is 200; at the end that no card number the fuzzer
// sent is in the logs, Redis or PostgreSQL, and that every ledger transaction of its businesses
// is one an answer approved. Findings are collected, not thrown, so that one run lists them all.

import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { createMessage, decode, encode, peekHeader, type IsoMessage } from '../adapters/iso8583/codec.ts';
import { answerable, headerOf } from '../adapters/iso8583/peek-header.ts';
import { frame } from '../adapters/iso8583/framing.ts';
import { isoReference, reversalReference } from '../adapters/iso8583/mapping.ts';
import { luhnValid } from '../core/luhn.ts';
import { signatureHeader } from '../core/signature.ts';
import type { RedisClient, Sql } from '../processor/stores.ts';
import { bodyBytes, mutate, mutation, odd_headers, text_spoil, valueOf, weird_strings, weird_value, type Hints, type JsonSchema, type Mutation, type TextSpoil } from './fuzz-values.ts';
import { testCard } from './helpers.ts';

export interface FuzzTarget {
  /** http://127.0.0.1:<port> */
  readonly base: string;
  readonly iso_port: number;
  readonly platform_key: string;
  readonly sql: Sql;
  readonly redis: RedisClient;
  /** Everything the gateway logged so far. */
  readonly logs: () => string;
}

export interface Finding {
  readonly surface: 'http' | 'ws' | 'iso' | 'callback' | 'process' | 'stores';
  readonly what: string;
  readonly input: string;
}

export const answer_ms_max = 2_000;

/**
 * Routes whose answer waits, by design and bounded at 2 s, on something outside the request: a
 * statement on the ledger writer catching up (caught-up.ts), a webhook URL on its name resolving
 * (adapters/webhooks/address.ts). They get that bound and a second more before a hang is called.
 */
function answerMs(method: string, path: string): number {
  const waits = (method === 'GET' && /^\/v1\/contacts\/[^/]+\/statement/.test(path)) || (method !== 'GET' && path.startsWith('/v1/webhooks'));
  return waits ? answer_ms_max + 1_000 : answer_ms_max;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/** One HTTP request as bytes go, with no client of its own deciding headers; undefined after `answer_ms_max`. */
export function send(base: string, method: string, path: string, headers: Record<string, string>, body?: Buffer, wait_ms = answer_ms_max): Promise<Answer | undefined> {
  return new Promise((resolve) => {
    const url = new URL(base);
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(body.length) }) } }, (res) => {
      const chunks: Buffer[] = [];
      // An event stream (/v1/feed) never ends: its headers are the answer.
      if (String(res.headers['content-type']).startsWith('text/event-stream')) {
        req.destroy();
        return resolve({ status: res.statusCode ?? 0, headers: res.headers, text: '' });
      }
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', () => resolve(undefined));
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve(undefined);
    }, wait_ms);
    req.on('error', () => {
      clearTimeout(timer);
      resolve({ status: 0, headers: {}, text: 'connection error' });
    });
    req.end(body);
  });
}

async function json(base: string, method: string, path: string, key: string | undefined, body?: unknown): Promise<any> {
  // Setting up, not fuzzing: no 2 s bound.
  const a = await send(base, method, path, { 'content-type': 'application/json', ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) }, body === undefined ? undefined : Buffer.from(JSON.stringify(body)), 15_000);
  if (a === undefined || a.status >= 300) throw new Error(`${method} ${path}: ${a?.status} ${a?.text}`);
  return a.text === '' ? undefined : JSON.parse(a.text);
}

// ---------------------------------------------------------------------------------------------
// The world: two businesses made through the API, what the fuzzer aims at.

export interface Shop {
  readonly business_id: string;
  readonly admin_key: string;
  readonly terminal_key: string;
  readonly terminal_id: string;
  /** A terminal whose key the fuzzer may rotate. */
  readonly spare_terminal_id: string;
  readonly terminal_code: string;
  readonly merchant_id: string;
  readonly merchant_code: string;
  readonly venue_id: string;
  readonly contact_ids: readonly string[];
  readonly cards: readonly string[];
  readonly wallet_codes: readonly string[];
  readonly scheme_id: string;
  readonly offer_id: string;
  readonly processor: { readonly id: string; readonly secret: string };
  readonly spare_processor_id: string;
  readonly webhook_id: string;
  readonly acquirer: string;
  readonly emails: readonly string[];
}

let card_seq = 0;

async function makeShop(base: string, platform_key: string, tag: string, run: string): Promise<Shop> {
  const b = await json(base, 'POST', '/v1/businesses', platform_key, { name: `Fuzz ${tag}`, currency: 'EUR' });
  const admin = b.admin_key as string;
  const merchant_code = `FZ${tag}${run}`.slice(0, 15);
  const m = await json(base, 'POST', '/v1/merchants', admin, { name: 'M', code: merchant_code, contribution_fee_percent: 10 });
  const v = await json(base, 'POST', '/v1/venues', admin, { name: 'V', merchant_id: m.id });
  const t = await json(base, 'POST', '/v1/terminals', admin, { venue_id: v.id, code: 'FZT00001' });
  const spare = await json(base, 'POST', '/v1/terminals', admin, { venue_id: v.id, code: 'FZT00002' });
  const contacts = [];
  const cards: string[] = [];
  for (let i = 0; i < 3; i++) {
    const card = testCard(91_000_000 + Number(run.slice(-4)) * 10 + card_seq++);
    cards.push(card);
    contacts.push(await json(base, 'POST', '/v1/contacts', admin, { first_name: `F${i}`, email: `f${i}.${tag}${run}@example.com`, cims: [{ type: 'card', value: card }, { type: 'email', value: `f${i}.${tag}${run}@example.com` }] }));
  }
  const scheme = await json(base, 'POST', '/v1/schemes', admin, { name: 'S', signup: 'self' });
  const offer = await json(base, 'POST', '/v1/offers', admin, { name: '5%', goal: 'spend', award: { percent: 5 } });
  const processor = await json(base, 'POST', '/v1/processors', admin, { name: 'P' });
  const spare_processor = await json(base, 'POST', '/v1/processors', admin, { name: 'P2' });
  const webhook = await json(base, 'POST', '/v1/webhooks', admin, { url: 'https://example.com/hook', events: ['*'] });
  const acquirer = String(10_000 + (Number(run.slice(-5)) % 80_000)) + (tag === 'A' ? '1' : '2');
  await json(base, 'POST', '/v1/iso8583/links', admin, { acquirer_id: acquirer });
  // Money to spend and redeem: purchases award 5% cashback to each contact.
  for (const [i, card] of cards.entries()) {
    await json(base, 'POST', '/v1/purchases', t.api_key, { reference: `seed-${i}`, cim: { type: 'card', value: card }, amount: 100_000, currency: 'EUR' });
  }
  return {
    business_id: b.id,
    admin_key: admin,
    terminal_key: t.api_key,
    terminal_id: t.id,
    spare_terminal_id: spare.id,
    terminal_code: 'FZT00001',
    merchant_id: m.id,
    merchant_code,
    venue_id: v.id,
    contact_ids: contacts.map((c) => c.id),
    cards,
    wallet_codes: contacts.map((c) => c.wallet_code),
    scheme_id: scheme.id,
    offer_id: offer.id,
    processor: { id: processor.id, secret: processor.signing_secret },
    spare_processor_id: spare_processor.id,
    webhook_id: webhook.id,
    acquirer,
    emails: [0, 1, 2].map((i) => `f${i}.${tag}${run}@example.com`),
  };
}

export interface World {
  readonly a: Shop;
  readonly b: Shop;
  readonly openapi: { paths: Record<string, Record<string, any>> };
  /** Transaction ids and terminal references that an answer approved: what the ledger may hold. */
  readonly approved_ids: Set<string>;
  readonly approved_refs: Set<string>;
  /** Card numbers sent where cards go (CIMs, DE2, callbacks): none may be stored or logged. */
  readonly pans: Set<string>;
}

export async function makeWorld(target: FuzzTarget): Promise<World> {
  const run = String(Date.now() % 100_000).padStart(5, '0');
  const a = await makeShop(target.base, target.platform_key, 'A', run);
  const b = await makeShop(target.base, target.platform_key, 'B', run);
  const doc = await send(target.base, 'GET', '/openapi.json', {}, undefined, 15_000);
  const pans = new Set<string>([...a.cards, ...b.cards, ...Array.from({ length: 8 }, (_, i) => testCard(92_000_000 + i))]);
  return { a, b, openapi: JSON.parse(doc!.text), approved_ids: new Set(), approved_refs: new Set(), pans };
}

/** Field values that reach past "not found": both businesses' ids, cards and codes. */
function hintsOf(w: World): Hints {
  const { a, b } = w;
  const cards = [...w.pans].slice(0, 10);
  const cim = [
    ...cards.map((value) => ({ type: 'card', value })),
    ...a.wallet_codes.map((value) => ({ type: 'wallet_code', value })),
    { type: 'email', value: a.emails[0]! },
    { type: 'phone', value: '+4915112345678' },
    { type: 'contact_code', value: 'ABCDEFGHJK' },
  ];
  return {
    cim,
    currency: ['EUR', 'EUR', 'EUR', 'EUR', 'EUR', 'EUR', 'USD', 'eur', 'XXX'],
    items: [[{ sku: 'A', quantity: 1, amount: 100 }], [{ sku: 'B', family: 'f', quantity: 0.5, amount: 50 }, { sku: 'C', quantity: 2, amount: 0 }]],
    venue_id: [a.venue_id, b.venue_id],
    merchant_id: [a.merchant_id, b.merchant_id],
    contact_id: [...a.contact_ids, b.contact_ids[0]!],
    scheme_id: [a.scheme_id, b.scheme_id, null],
    referred_by: [a.contact_ids[0]!, b.contact_ids[0]!],
    wallet_code: [...a.wallet_codes, b.wallet_codes[0]!],
    original_reference: ['seed-0', 'seed-1', 'fz-1', 'fz-2'],
    reference: ['fz-1', 'seed-0'],
    amount: [1, 100, 2500, 5000, 100_000],
    acquirer_id: [a.acquirer, b.acquirer, '1234567'],
    url: ['https://example.com/hook2', 'http://127.0.0.1:1/x', 'https://[::1]/', 'ftp://x'],
    merchants: [[a.merchant_id], [b.merchant_id]],
    venues: [[a.venue_id], [b.venue_id]],
    code: ['FZT00009', 'M1', 'ABCD'],
    occurred_at: [new Date(Date.now() - 60_000).toISOString(), '2020-01-01T00:00:00Z', new Date(Date.now() + 3_600_000).toISOString()],
    pay: [{ amount: 100, wallet_code: a.wallet_codes[0]! }, { amount: 1 }, { amount: 100, otp: '123456' }],
    otp: ['123456', '000000'],
    birth_date: ['1990-02-28', '2000-02-30', '0000-01-01'],
    signup: ['self', 'auto', 'codes', 'email_domain'],
    from: ['2026-01-01T00:00:00Z', new Date().toISOString()],
    to: ['2027-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
    since: ['2026-01-01T00:00:00Z', '-1'],
    cim_type: ['card', 'email', 'wallet_code', 'contact_code', 'nope'],
    cim_value: [...cards.slice(0, 3), ...a.wallet_codes, a.emails[0]!],
    limit: [1, 10, 100, 0, 101],
  };
}

/**
 * Bodies that pass validation, for the routes whose schemas alone rarely give one (refinements
 * across fields): what reaches the scripts, before it is mutated. The references come new, or
 * name one before (for refunds and reversals).
 */
function validBody(w: World, path: string): fc.Arbitrary<unknown> | undefined {
  const { a } = w;
  const ref = fc.oneof(fc.stringMatching(/^fz-[a-z0-9]{8}$/), fc.constantFrom('seed-0', 'seed-1', 'fz-1'));
  const cim = fc.oneof(
    fc.constantFrom(...a.cards).map((value) => ({ type: 'card', value })),
    fc.constantFrom(...a.wallet_codes).map((value) => ({ type: 'wallet_code', value })),
    fc.constantFrom(...a.emails).map((value) => ({ type: 'email', value })),
    fc.constantFrom(...w.b.cards).map((value) => ({ type: 'card', value })),
  );
  const amount = fc.oneof(fc.integer({ min: 1, max: 10_000 }), fc.constantFrom(1, 999_999_999_999));
  const purchase = fc.record({ reference: ref, cim, amount, currency: fc.constant('EUR') }).chain((p) =>
    fc.oneof(
      fc.constant(p),
      fc.constant({ ...p, items: [{ sku: 'A', quantity: 1, amount: p.amount }] }),
      fc.constant({ ...p, pay: { amount: Math.min(p.amount, 50), wallet_code: a.wallet_codes[0]! } }),
      fc.constant({ ...p, occurred_at: new Date(Date.now() - 3_600_000).toISOString() }),
    ),
  );
  switch (path) {
    case '/v1/purchases':
    case '/v1/purchases/quote':
      return purchase;
    case '/v1/redemptions':
      return fc.record({ reference: ref, cim, amount: amount }, { requiredKeys: ['reference', 'cim'] });
    case '/v1/spends':
      return fc.record({ reference: ref, amount: fc.integer({ min: 1, max: 500 }), currency: fc.constant('EUR'), wallet_code: fc.constantFrom(...a.wallet_codes, ...w.b.wallet_codes) });
    case '/v1/refunds':
      return fc.record({ reference: ref, original_reference: ref, amount }, { requiredKeys: ['reference', 'original_reference'] });
    case '/v1/reversals':
      return fc.record({ reference: ref, original_reference: ref });
    case '/v1/contacts/lookup':
      return fc.record({ cim });
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP: every route of the document.

interface RouteInfo {
  readonly method: string;
  readonly path: string;
  readonly key: string;
  readonly body?: JsonSchema;
  readonly body_type?: string;
  readonly query: readonly { name: string; schema: JsonSchema }[];
}

function routesOf(w: World): RouteInfo[] {
  const out: RouteInfo[] = [];
  for (const [path, methods] of Object.entries(w.openapi.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const content = op.requestBody?.content ?? {};
      const body_type = Object.keys(content)[0];
      const key = /^Key: ([a-z ]+)\./.exec(op.description ?? '')?.[1] ?? 'none';
      const query = (op.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => ({ name: p.name, schema: p.schema ?? {} }));
      out.push({ method: method.toUpperCase(), path, key, ...(body_type === undefined ? {} : { body: content[body_type].schema, body_type }), query });
    }
  }
  return out;
}

/** Path parameter values: the businesses' own (each route's kind), another's, and ids that are no ids. */
function idsFor(w: World, path: string): string[] {
  const { a, b } = w;
  const odd = ['x', 'con_', '%00', '..%2F..%2Fpackage.json', '%F0%9F%98%80', 'a'.repeat(300), '%E2%80%AE', '%ED%A0%80', '1e309', '-1', encodeURIComponent('\ud83d\ude00')];
  const own = path.startsWith('/v1/contacts') ? [...a.contact_ids, b.contact_ids[0]!]
    : path.startsWith('/v1/terminals') ? [a.spare_terminal_id, b.spare_terminal_id]
    : path.startsWith('/v1/processors') ? [a.spare_processor_id, b.spare_processor_id]
    : path.startsWith('/v1/callbacks') ? [a.processor.id, b.processor.id]
    : path.startsWith('/v1/schemes') ? [a.scheme_id, b.scheme_id]
    : path.startsWith('/v1/offers') ? [a.offer_id, b.offer_id]
    : path.startsWith('/v1/webhooks') ? [a.webhook_id, b.webhook_id]
    : path.startsWith('/v1/transactions') ? [...[...w.approved_ids].slice(0, 3), 'txn_0000000000000000000']
    : path.startsWith('/console') ? ['index.html', 'app.js', '..%2Fpackage.json', 'nope.css']
    : [];
  return [...own, ...own, ...odd];
}

const keys_of = (w: World, platform: string) => ({
  platform: platform,
  admin: w.a.admin_key,
  terminal: w.a.terminal_key,
  other_admin: w.b.admin_key,
  other_terminal: w.b.terminal_key,
  bogus: 'sk_' + 'x'.repeat(37),
  huge: 'k'.repeat(9_000),
});

/** `arb` one time in `n`, else undefined. */
function rarely<T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ arbitrary: fc.constant(undefined), weight: n - 1 }, { arbitrary: arb, weight: 1 });
}

export interface HttpCase {
  readonly route: number;
  readonly key: string;
  readonly auth_form: 'bearer' | 'lower' | 'none' | 'basic' | 'double';
  readonly ids: readonly number[];
  readonly query: readonly [string, unknown][];
  readonly body: unknown;
  readonly mutations: readonly Mutation[];
  readonly spoil: TextSpoil;
  readonly headers: Record<string, string>;
  readonly terminal_header?: number;
  readonly method_swap?: string;
}

function httpCaseArb(w: World, routes: RouteInfo[], hints: Hints): fc.Arbitrary<HttpCase> {
  return fc.integer({ min: 0, max: routes.length - 1 }).chain((i) => {
    const route = routes[i]!;
    const query = fc.array(
      fc.oneof(
        ...route.query.map((q) => fc.tuple(fc.constant(q.name), fc.oneof(valueOf(q.schema, hints, q.name), weird_value))),
        fc.tuple(fc.constantFrom('limit', 'from', 'to', 'since', 'cim_type', 'cim_value', 'starting_after', 'x'), weird_value),
      ),
      { maxLength: 4 },
    );
    return fc.record({
      route: fc.constant(i),
      key: fc.oneof({ arbitrary: fc.constant(route.key.split(' ')[0]!), weight: 12 }, { arbitrary: fc.constantFrom('platform', 'admin', 'terminal', 'other_admin', 'other_terminal', 'bogus', 'huge'), weight: 4 }),
      auth_form: fc.oneof({ arbitrary: fc.constant('bearer' as const), weight: 20 }, { arbitrary: fc.constantFrom('lower', 'none', 'basic', 'double'), weight: 1 }),
      ids: fc.array(fc.nat(), { minLength: 2, maxLength: 2 }),
      query,
      body: route.body === undefined ? fc.oneof(fc.constant(undefined), weird_value) : fc.oneof(valueOf(route.body, hints), validBody(w, route.path) ?? valueOf(route.body, hints)),
      mutations: fc.oneof({ arbitrary: fc.constant([]), weight: 3 }, { arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }), weight: 2 }),
      spoil: text_spoil,
      headers: odd_headers,
      terminal_header: rarely(fc.nat(), 6),
      method_swap: rarely(fc.constantFrom('HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH', 'TRACE'), 12),
    }, { requiredKeys: ['route', 'key', 'auth_form', 'ids', 'query', 'body', 'mutations', 'spoil', 'headers'] });
  });
}

/** Percent-encoded; a lone surrogate as the bytes CESU-8 would give it (%ED%A0%80: not UTF-8). */
function pct(text: string): string {
  return text.split(/([\ud800-\udfff])/).map((part) => (/^[\ud800-\udfff]$/.test(part) ? '%ED%A0%80' : encodeURIComponent(part))).join('');
}

function queryString(pairs: readonly [string, unknown][]): string {
  if (pairs.length === 0) return '';
  return '?' + pairs.map(([k, v]) => `${pct(k)}=${pct(typeof v === 'string' ? v : JSON.stringify(v) ?? '')}`).join('&');
}

/** The request a case makes: method, path and query, headers, body bytes. */
export function httpRequestOf(w: World, routes: RouteInfo[], c: HttpCase, platform: string) {
  const route = routes[c.route]!;
  let n = 0;
  const path = route.path.replace(/\{(\w+)\}/g, () => {
    const pool = idsFor(w, route.path);
    return pool[c.ids[n++]! % pool.length]!;
  });
  const key = (keys_of(w, platform) as Record<string, string>)[c.key] ?? w.a.admin_key;
  const auth = c.auth_form === 'bearer' ? `Bearer ${key}` : c.auth_form === 'lower' ? `bearer  ${key}` : c.auth_form === 'basic' ? `Basic ${Buffer.from(`${key}:`).toString('base64')}` : c.auth_form === 'double' ? `Bearer ${key} Bearer ${key}` : undefined;
  let body = c.body;
  for (const m of c.mutations) body = mutate(body, m);
  const bytes = route.body === undefined && c.body === undefined && c.spoil === 'none' ? undefined : bodyBytes(body, c.spoil);
  const headers: Record<string, string> = { ...c.headers };
  if (route.body_type === 'application/x-ndjson' && headers['content-type'] === 'application/json') headers['content-type'] = 'application/x-ndjson';
  if (auth !== undefined) headers.authorization = auth;
  if (c.terminal_header !== undefined) headers['pocketgate-terminal'] = [w.a.terminal_id, w.b.terminal_id, w.a.spare_terminal_id, 'ter_x', '\u00e9'][c.terminal_header % 5]!;
  for (const [k, v] of Object.entries(headers)) if (/[^\x20-\x7e]/.test(v)) headers[k] = Buffer.from(v, 'utf8').toString('latin1');
  const ndjson = route.body_type === 'application/x-ndjson' && bytes !== undefined ? Buffer.concat([bytes, Buffer.from('\n'), bytes]) : bytes;
  return { method: c.method_swap ?? route.method, path: path + queryString(c.query), headers, body: ndjson };
}

/** What every answer must be: in time, no 5xx, an error as problem+json with its status and a code. */
export function checkAnswer(a: Answer | undefined, method: string): string | undefined {
  if (a === undefined) return 'no answer in time';
  if (a.status === 0) return 'connection error';
  if (a.status >= 500) return `status ${a.status}`;
  if (a.status < 400 || method === 'HEAD') return undefined;
  const type = String(a.headers['content-type'] ?? '');
  if (!type.startsWith('application/problem+json')) return `${a.status} with content-type ${type || '(none)'}`;
  let p: any;
  try {
    p = JSON.parse(a.text);
  } catch {
    return `${a.status} problem that is not JSON`;
  }
  if (typeof p?.code !== 'string' || p.status !== a.status || typeof p.type !== 'string' || typeof p.title !== 'string' || typeof p.detail !== 'string') return `${a.status} problem without its fields`;
  return undefined;
}

const admin_tables = ['merchants', 'venues', 'terminals', 'contacts', 'contact_cims', 'offers', 'schemes', 'tiers', 'processors', 'webhook_endpoints', 'iso8583_links'] as const;

/** A digest of every row the admin API writes for the two businesses (a refused call must leave it as it was). */
export async function adminDigest(sql: Sql, w: World): Promise<string> {
  const ids = [w.a.business_id, w.b.business_id];
  const digest = (rows: { d: string | null }[]) => rows[0]!.d ?? '-';
  const parts = await Promise.all([
    ...admin_tables.map((t) => sql<{ d: string | null }[]>`select md5(string_agg(x::text, '|' order by x::text)) as d from ${sql(t)} x where business_id = any(${ids})`.then(digest)),
    sql<{ d: string | null }[]>`select md5(string_agg(x::text, '|' order by x::text)) as d from businesses x where id = any(${ids})`.then(digest),
    sql<{ d: string | null }[]>`select md5(string_agg(x::text, '|' order by x::text)) as d from scheme_members x join schemes s on s.id = x.scheme_id where s.business_id = any(${ids})`.then(digest),
    sql<{ d: string | null }[]>`select md5(string_agg(x::text, '|' order by x::text)) as d from scheme_codes x join schemes s on s.id = x.scheme_id where s.business_id = any(${ids})`.then(digest),
    sql<{ d: string | null }[]>`select md5(string_agg(x::text, '|' order by x::text)) as d from processor_secrets x join processors p on p.id = x.processor_id where p.business_id = any(${ids})`.then(digest),
  ]);
  return parts.join(',');
}

/** Transaction ids in a 2xx answer (a POS reply, a callback's processed events). */
function noteApproved(w: World, text: string): void {
  for (const m of text.matchAll(/"(?:id|transaction_id)":"(txn_[0-9a-z]+)"/g)) w.approved_ids.add(m[1]!);
}

/** Card numbers sent where a card goes (a card CIM's value, a callback's card number): Luhn-valid, 13 to 19 digits. */
function cardsIn(w: World, text: string): void {
  for (const m of text.matchAll(/"(?:value|number)":"([0-9 -]{13,40})"/g)) {
    const digits = m[1]!.replace(/\D/g, '');
    if (digits.length >= 13 && digits.length <= 19 && luhnValid(digits)) w.pans.add(digits);
  }
}

export interface Tally {
  cases: number;
  readonly statuses: Record<string, number>;
}

function summarise(input: unknown): string {
  const s = JSON.stringify(input, (_k, v) => (typeof v === 'string' && v.length > 200 ? `${v.slice(0, 40)}…(${v.length})` : v));
  return s.length > 1_500 ? `${s.slice(0, 1_500)}…` : s;
}

export async function fuzzHttp(target: FuzzTarget, w: World, seed: number, runs: number, findings: Finding[]): Promise<Tally> {
  const routes = routesOf(w);
  const hints = hintsOf(w);
  const cases = fc.sample(httpCaseArb(w, routes, hints), { seed, numRuns: runs });
  const tally: Tally = { cases: 0, statuses: {} };
  let digest = await adminDigest(target.sql, w);
  for (const [n, c] of cases.entries()) {
    const req = httpRequestOf(w, routes, c, target.platform_key);
    if (req.body !== undefined && /card|4111|5\d{15}/.test(req.body.toString('latin1'))) cardsIn(w, req.body.toString('utf8'));
    const a = await send(target.base, req.method, req.path, req.headers, req.body, answerMs(req.method, req.path));
    tally.cases++;
    const key = `${req.method} ${routes[c.route]!.path} ${a?.status ?? 'timeout'}${a?.status === 400 ? ` ${firstErrorPath(a.text)}` : ''}`;
    tally.statuses[key] = (tally.statuses[key] ?? 0) + 1;
    const wrong = checkAnswer(a, req.method);
    const input = summarise({ ...req, body: req.body?.toString('utf8') });
    if (wrong !== undefined) findings.push({ surface: 'http', what: `${req.method} ${routes[c.route]!.path}: ${wrong}${a === undefined ? '' : ` ${a.text.slice(0, 200)}`}`, input });
    if (a !== undefined && a.status >= 200 && a.status < 300) noteApproved(w, a.text);
    if (a !== undefined && a.status < 400) digest = await adminDigest(target.sql, w);
    else if (req.method !== 'GET' && req.method !== 'HEAD') {
      const after = await adminDigest(target.sql, w);
      if (after !== digest) findings.push({ surface: 'http', what: `${req.method} ${routes[c.route]!.path}: refused ${a?.status ?? 'timeout'} but the businesses' rows changed`, input });
      digest = after;
    }
    if (n % 100 === 99) await checkAlive(target, findings);
  }
  return tally;
}

function firstErrorPath(text: string): string {
  try {
    return String(JSON.parse(text).errors?.[0]?.path);
  } catch {
    return '?';
  }
}

// Raw HTTP/1.1, for what no HTTP client sends: request lines, versions, header lines and
// chunked framing that are not HTTP, each answered (a status, problem+json) and the connection closed.

export interface RawHttpCase {
  readonly method: string;
  readonly path: string;
  readonly version: string;
  readonly lines: readonly string[];
  readonly framing: 'length' | 'chunked' | 'bad_chunk' | 'none' | 'both';
  readonly body: string;
}

const raw_http_case: fc.Arbitrary<RawHttpCase> = fc.record({
  method: fc.oneof({ arbitrary: fc.constantFrom('GET', 'POST', 'POST', 'HEAD', 'PATCH'), weight: 6 }, { arbitrary: fc.constantFrom('CONNECT', 'get', 'G ET', 'PRI', ''), weight: 1 }, { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 8 }), weight: 1 }),
  path: fc.constantFrom('/v1/purchases', '/v1/merchants', '/healthz', '*', 'http://x/v1/purchases', '/v1/../v1/merchants', '/%', '/\u00e9', '//v1//merchants', '/v1/terminal', ''),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1', ''),
  lines: fc.array(fc.oneof(
    { arbitrary: fc.constantFrom('Host: x', 'Content-Type: application/json', 'Accept: */*'), weight: 6 },
    fc.constantFrom('Content-Type: application/json; charset=latin1', 'Expect: 100-continue', 'Connection: upgrade', 'Upgrade: websocket', 'Transfer-Encoding: gzip, chunked', 'Authorization: Bearer', 'X: \u00ff\u00fe', ' folded', 'NoColon', 'X-A:\tb', 'Content-Length: -1', 'Content-Length: 1e3', 'Content-Length: 3, 3'),
    fc.string({ unit: 'binary-ascii', maxLength: 20 }).map((l) => l.replace(/[\r\n]/g, '')),
  ), { maxLength: 4 }),
  framing: fc.constantFrom('length', 'length', 'length', 'chunked', 'chunked', 'bad_chunk', 'none', 'both'),
  body: fc.constantFrom('', '{}', '{"reference":"r"}', '[', 'x'.repeat(100)),
});

function rawHttpBytes(c: RawHttpCase, key: string): string {
  const lines = [`${c.method} ${c.path} ${c.version}`.trim(), 'Connection: close', `Authorization: Bearer ${key}`, ...c.lines];
  if (c.framing === 'length' || c.framing === 'both') lines.push(`Content-Length: ${Buffer.byteLength(c.body)}`);
  if (c.framing === 'chunked' || c.framing === 'both') lines.push('Transfer-Encoding: chunked');
  const body = c.framing === 'chunked' || c.framing === 'both' ? `${Buffer.byteLength(c.body).toString(16)}\r\n${c.body}\r\n0\r\n\r\n` : c.framing === 'bad_chunk' ? `zz\r\n${c.body}\r\n` : c.framing === 'length' ? c.body : '';
  if (c.framing === 'bad_chunk') lines.push('Transfer-Encoding: chunked');
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** What the server writes back before it closes (or what came within the wait). */
function rawExchange(base: string, bytes: string): Promise<{ answer: string; closed: boolean }> {
  const url = new URL(base);
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect({ port: Number(url.port), host: url.hostname }, () => socket.write(bytes, 'latin1'));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ answer, closed: false });
    }, answer_ms_max);
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ answer, closed: true });
    });
    socket.on('error', () => {});
  });
}

export async function fuzzRawHttp(target: FuzzTarget, w: World, seed: number, runs: number, findings: Finding[]): Promise<Tally> {
  const tally: Tally = { cases: 0, statuses: {} };
  for (const c of fc.sample(raw_http_case, { seed, numRuns: runs })) {
    const bytes = rawHttpBytes(c, w.a.admin_key);
    const { answer, closed } = await rawExchange(target.base, bytes);
    tally.cases++;
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0);
    tally.statuses[String(status)] = (tally.statuses[String(status)] ?? 0) + 1;
    const input = summarise({ bytes: bytes.slice(0, 400) });
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    // A request the server is still reading (an upgrade, an Expect) may stay open; nothing else may.
    if (!closed && answer === '' && !/upgrade|expect|connect/i.test(bytes)) findings.push({ surface: 'http', what: `raw: no answer within ${answer_ms_max} ms`, input });
    else if (status >= 500) findings.push({ surface: 'http', what: `raw: ${status} ${body.slice(0, 200)}`, input });
    else if (status >= 400 && c.method !== 'HEAD' && !/content-type: application\/problem\+json/i.test(head)) findings.push({ surface: 'http', what: `raw: ${status} without problem+json: ${answer.slice(0, 200)}`, input });
  }
  return tally;
}

export async function checkAlive(target: FuzzTarget, findings: Finding[]): Promise<void> {
  const r = await send(target.base, 'GET', '/readyz', {});
  if (r?.status !== 200) findings.push({ surface: 'process', what: `/readyz ${r?.status ?? 'timeout'} ${r?.text.slice(0, 200) ?? ''}`, input: '' });
}

// ---------------------------------------------------------------------------------------------
// The WebSocket terminal channel: frames of every op, their bodies mutated, and frames that are no frames.

const op_routes: Record<string, string> = {
  purchase: '/v1/purchases',
  'purchase.quote': '/v1/purchases/quote',
  redemption: '/v1/redemptions',
  spend: '/v1/spends',
  refund: '/v1/refunds',
  reversal: '/v1/reversals',
  wallet: '/v1/contacts/lookup', // the same {cim} body
};

export interface WsCase {
  readonly op: string;
  readonly body: unknown;
  readonly mutations: readonly Mutation[];
  readonly shape: 'frame' | 'raw' | 'no_id' | 'binary' | 'huge' | 'numeric_id' | 'dup_id';
  readonly raw: string;
}

function wsCaseArb(w: World, hints: Hints): fc.Arbitrary<WsCase> {
  const ops = Object.keys(op_routes);
  return fc.oneof({ arbitrary: fc.constantFrom(...ops), weight: 10 }, { arbitrary: fc.constantFrom('auth', 'nope', '__proto__', 'constructor', 'toString'), weight: 1 }).chain((op) => {
    const schema = w.openapi.paths[Object.hasOwn(op_routes, op) ? op_routes[op]! : '/v1/purchases']!.post.requestBody.content['application/json'].schema as JsonSchema;
    return fc.record({
      op: fc.constant(op),
      body: fc.oneof(valueOf(schema, hints), validBody(w, op === 'wallet' ? '/v1/contacts/lookup' : Object.hasOwn(op_routes, op) ? op_routes[op]! : '/v1/purchases')!),
      mutations: fc.oneof({ arbitrary: fc.constant([]), weight: 3 }, { arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }), weight: 2 }),
      shape: fc.oneof({ arbitrary: fc.constant('frame' as const), weight: 20 }, { arbitrary: fc.constantFrom('raw', 'no_id', 'binary', 'huge', 'numeric_id', 'dup_id'), weight: 3 }),
      raw: fc.oneof(fc.constantFrom(...weird_strings), fc.string({ unit: 'binary', maxLength: 60 }), fc.constantFrom('{"id":"r","op":"purchase","body":', '{"id":"r","op":"purchase","body":{}}}', '[1,2]', 'null', '{"id":"\\ud800","op":"wallet","body":{}}')),
    });
  });
}

class WsProbe {
  private readonly replies: string[] = [];
  private waiter: (() => void) | undefined;
  closed: { code: number; reason: string } | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.replies.push(String(d));
      this.waiter?.();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.waiter?.();
    });
    ws.on('error', () => {});
  }

  static open(base: string, key: string): Promise<WsProbe> {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/terminal`, { headers: { authorization: `Bearer ${key}` } });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsProbe(ws)));
      ws.once('unexpected-response', (_q, res) => reject(new Error(`upgrade refused ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** The next reply, or undefined when the socket closes or nothing comes in time. */
  async next(ms = answer_ms_max): Promise<string | undefined> {
    const deadline = Date.now() + ms;
    while (this.replies.length === 0 && this.closed === undefined && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, deadline - Date.now());
      });
    }
    this.waiter = undefined;
    return this.replies.shift();
  }
}

function wsFrameOf(c: WsCase, id: string): { data: string | Buffer; binary: boolean; expect_close?: number; answered_as: string | null } {
  let body = c.body;
  for (const m of c.mutations) body = mutate(body, m);
  switch (c.shape) {
    case 'frame':
      return { data: JSON.stringify({ id, op: c.op, body }), binary: false, answered_as: id };
    case 'raw':
      return { data: c.raw, binary: false, answered_as: null };
    case 'no_id':
      return { data: JSON.stringify({ op: c.op, body }), binary: false, answered_as: null };
    case 'numeric_id':
      return { data: JSON.stringify({ id: 7, op: c.op, body }), binary: false, answered_as: null };
    case 'dup_id':
      return { data: `{"id":"${id}","op":"${c.op}","body":${JSON.stringify(body) ?? 'null'},"op":"wallet"}`, binary: false, answered_as: id };
    case 'binary':
      return { data: Buffer.from(JSON.stringify({ id, op: c.op, body })), binary: true, expect_close: 1003, answered_as: null };
    case 'huge':
      return { data: JSON.stringify({ id, op: c.op, body: { pad: 'z'.repeat(70_000) } }), binary: false, expect_close: 1009, answered_as: null };
  }
}

export async function fuzzWs(target: FuzzTarget, w: World, seed: number, runs: number, findings: Finding[]): Promise<Tally> {
  const cases = fc.sample(wsCaseArb(w, hintsOf(w)), { seed, numRuns: runs });
  const tally: Tally = { cases: 0, statuses: {} };
  let probe = await WsProbe.open(target.base, w.a.terminal_key);
  for (const [n, c] of cases.entries()) {
    const id = `f${n}`;
    const f = wsFrameOf(c, id);
    const input = summarise({ op: c.op, shape: c.shape, data: typeof f.data === 'string' ? f.data : `binary ${f.data.length}` });
    if (typeof f.data === 'string' && /card|4111/.test(f.data)) cardsIn(w, f.data);
    probe.ws.send(f.data, { binary: f.binary });
    const reply = await probe.next();
    tally.cases++;
    if (f.expect_close !== undefined) {
      if (reply !== undefined || probe.closed?.code !== f.expect_close) findings.push({ surface: 'ws', what: `expected close ${f.expect_close}, got ${probe.closed?.code ?? 'open'} ${reply?.slice(0, 200) ?? ''}`, input });
      tally.statuses[`close ${probe.closed?.code}`] = (tally.statuses[`close ${probe.closed?.code}`] ?? 0) + 1;
      probe = await WsProbe.open(target.base, w.a.terminal_key);
      continue;
    }
    const wrong = checkWsReply(reply, probe, f.answered_as);
    if (wrong !== undefined) {
      findings.push({ surface: 'ws', what: `${c.op}/${c.shape}: ${wrong}`, input });
      if (probe.closed !== undefined) probe = await WsProbe.open(target.base, w.a.terminal_key);
      continue;
    }
    const r = JSON.parse(reply!);
    const key = `${c.op} ${r.status}${r.status === 400 ? ` ${r.body?.errors?.[0]?.path}` : ''}`;
    tally.statuses[key] = (tally.statuses[key] ?? 0) + 1;
    if (r.status >= 200 && r.status < 300) noteApproved(w, reply!);
    if (n % 100 === 99) await checkAlive(target, findings);
  }
  probe.ws.close();
  return tally;
}

function checkWsReply(reply: string | undefined, probe: WsProbe, id: string | null): string | undefined {
  if (reply === undefined) return probe.closed ? `closed ${probe.closed.code} ${probe.closed.reason}` : `no reply within ${answer_ms_max} ms`;
  let r: any;
  try {
    r = JSON.parse(reply);
  } catch {
    return `reply not JSON: ${reply.slice(0, 200)}`;
  }
  if (r.id !== id && !(id === null)) return `reply for id ${r.id}, not ${id}`;
  if (typeof r.status !== 'number' || r.status >= 500) return `status ${r.status}: ${reply.slice(0, 300)}`;
  if (r.status >= 400 && (typeof r.body?.code !== 'string' || r.body.status !== r.status)) return `${r.status} body not a problem: ${reply.slice(0, 300)}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// ISO 8583: messages of every kind the contract names, fields mutated, and bytes that are no message.

export interface IsoCase {
  readonly template: number;
  readonly stan: number;
  readonly edits: readonly { readonly field: number; readonly value: string | null }[];
  readonly byte_edits: readonly { readonly at: number; readonly byte: number; readonly kind: 'set' | 'insert' | 'delete' }[];
  readonly garbage?: readonly number[];
}

const iso_fields = [2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 48, 49, 54, 70, 90, 14, 22, 35, 52, 55, 64, 128];

const field_value: fc.Arbitrary<string | null> = fc.oneof(
  fc.constant(null),
  fc.stringMatching(/^[0-9]{0,20}$/),
  fc.string({ unit: fc.constantFrom(...' 0123456789ABCDEF=;-/'), maxLength: 30 }),
  fc.constantFrom('', '000000', '999999999999', '1300000000', '0229240000', 'OTP=123456;', 'OTP=;', '=;;=', 'OTP=12345678901;X=' + 'y'.repeat(200), '\u00e9\u00e9', '\u0000', '310000', '200000', '000000', '990000', '301', '001', '999'),
  fc.string({ unit: 'binary-ascii', maxLength: 12 }),
);

function isoCaseArb(): fc.Arbitrary<IsoCase> {
  return fc.record({
    template: fc.nat({ max: 9 }),
    stan: fc.nat({ max: 999_999 }),
    edits: fc.array(fc.record({ field: fc.constantFrom(...iso_fields), value: field_value }), { maxLength: 3 }),
    byte_edits: fc.oneof({ arbitrary: fc.constant([]), weight: 4 }, { arbitrary: fc.array(fc.record({ at: fc.nat({ max: 200 }), byte: fc.nat({ max: 255 }), kind: fc.constantFrom('set', 'insert', 'delete') }), { minLength: 1, maxLength: 3 }), weight: 1 }),
    garbage: rarely(fc.array(fc.nat({ max: 255 }), { maxLength: 64 }), 15),
  }, { requiredKeys: ['template', 'stan', 'edits', 'byte_edits'] });
}

function isoTemplate(w: World, c: IsoCase, stan: string): IsoMessage {
  const { a, b } = w;
  const now = new Date();
  const de7 = `${String(now.getUTCMonth() + 1).padStart(2, '0')}${String(now.getUTCDate()).padStart(2, '0')}${now.toISOString().slice(11, 19).replace(/:/g, '')}`;
  const shop = c.template === 9 ? b : a;
  const base = { 7: de7, 11: stan, 32: shop.acquirer, 41: shop.terminal_code, 42: shop.merchant_code.padEnd(15, ' '), 49: '978' };
  const card = shop.cards[c.stan % shop.cards.length]!;
  const original = `0200${String((c.stan + 1) % 1_000_000).padStart(6, '0')}${de7}${shop.acquirer.padStart(11, '0')}${'0'.repeat(11)}`;
  switch (c.template) {
    case 0:
      return createMessage('0800', { 7: de7, 11: stan, 41: shop.terminal_code, 70: '301' });
    case 1:
      return createMessage('0100', { ...base, 2: card, 3: '310000' });
    case 2:
    case 9:
      return createMessage('0200', { ...base, 2: card, 3: '000000', 4: '000000002500' });
    case 3:
      return createMessage('0200', { ...base, 2: shop.wallet_codes[0]!, 3: '000000', 4: '000000000100' });
    case 4:
      return createMessage('0200', { ...base, 3: '000000', 4: '000000000100', 48: 'OTP=123456;' });
    case 5:
      return createMessage('0200', { ...base, 2: card, 3: '200000', 4: '000000000100', 90: original });
    case 6:
      return createMessage('0400', { ...base, 2: card, 3: '000000', 4: '000000002500', 90: original });
    case 7:
      return createMessage('0420', { ...base, 2: card, 3: '000000', 4: '000000002500', 90: original });
    default:
      return createMessage(['0201', '0401', '0421', '0110', '9999', '0000', '0300'][c.stan % 7]!, { ...base, 2: card, 3: '000000', 4: '000000000100' });
  }
}

/** The bytes of a case: its message with fields edited (encoded if the codec can, else a valid one's bytes edited). */
function isoBytesOf(w: World, c: IsoCase): Buffer {
  if (c.garbage !== undefined) return Buffer.from(c.garbage);
  const stan = String(c.stan).padStart(6, '0');
  const msg = isoTemplate(w, c, stan);
  let bytes = encode(msg);
  const edited: IsoMessage = { mti: msg.mti, fields: [...msg.fields] };
  for (const e of c.edits) edited.fields[e.field] = e.value ?? undefined;
  try {
    bytes = encode(edited);
  } catch {
    // a value the codec will not write: the raw bytes below carry the damage instead
  }
  const arr = [...bytes];
  for (const e of c.byte_edits) {
    const at = e.at % (arr.length + 1);
    if (e.kind === 'set' && at < arr.length) arr[at] = e.byte;
    else if (e.kind === 'insert') arr.splice(at, 0, e.byte);
    else if (e.kind === 'delete') arr.splice(at, 1);
  }
  return Buffer.from(arr.length === 0 ? [0x30] : arr);
}

class IsoProbe {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {});
  }
  static open(port: number): Promise<IsoProbe> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' }, () => resolve(new IsoProbe(s)));
      s.once('error', reject);
    });
  }
  /** The next reply's body (2-byte framing), or undefined on close or after the wait. */
  async next(ms = answer_ms_max): Promise<Buffer | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.buf.length >= 2) {
        const len = this.buf.readUInt16BE(0);
        if (this.buf.length >= 2 + len) {
          const body = this.buf.subarray(2, 2 + len);
          this.buf = this.buf.subarray(2 + len);
          return body;
        }
      }
      if (this.closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, Math.max(0, deadline - Date.now()));
      });
      this.waiter = undefined;
    }
  }
}

export async function fuzzIso(target: FuzzTarget, w: World, seed: number, runs: number, findings: Finding[]): Promise<Tally> {
  const cases = fc.sample(isoCaseArb(), { seed, numRuns: runs });
  const tally: Tally = { cases: 0, statuses: {} };
  let probe = await IsoProbe.open(target.iso_port);
  for (const [n, c] of cases.entries()) {
    const body = isoBytesOf(w, c);
    const input = summarise({ template: c.template, edits: c.edits, byte_edits: c.byte_edits, hex: body.toString('hex').slice(0, 600) });
    const head = (() => {
      try {
        return peekHeader(body);
      } catch {
        return {} as ReturnType<typeof peekHeader>;
      }
    })();
    let decoded: IsoMessage | undefined;
    try {
      decoded = decode(body);
      if (decoded.fields[2] !== undefined && /^\d{13,19}$/.test(decoded.fields[2]) && luhnValid(decoded.fields[2])) w.pans.add(decoded.fields[2]);
    } catch {
      // not a message: the gateway answers 30 or closes
    }
    let framed: Buffer;
    try {
      framed = frame(body);
    } catch {
      framed = Buffer.concat([Buffer.from([0, 0]), body]); // a zero-length frame, then bytes
    }
    probe.socket.write(framed);
    const reply = await probe.next();
    tally.cases++;
    if (reply === undefined) {
      // ISO8583.md "Bad input", one rule (answerable) for the gateway and this oracle: a message
      // that decodes is answered when its reply can be matched (DE11, and DE41 but on the network classes).
      const readable = decoded !== undefined && answerable(headerOf(decoded));
      if (!probe.closed) findings.push({ surface: 'iso', what: `no reply within ${answer_ms_max} ms, connection open`, input });
      else if (readable) findings.push({ surface: 'iso', what: `closed on a message that decodes and can be answered (mti ${head.mti})`, input });
      tally.statuses.closed = (tally.statuses.closed ?? 0) + 1;
      probe.socket.destroy();
      probe = await IsoProbe.open(target.iso_port);
      continue;
    }
    let r: IsoMessage;
    try {
      r = decode(reply);
    } catch (err) {
      findings.push({ surface: 'iso', what: `reply does not decode: ${(err as Error).message}`, input });
      continue;
    }
    const code = r.fields[39] ?? '(none)';
    tally.statuses[`${r.mti} ${code}`] = (tally.statuses[`${r.mti} ${code}`] ?? 0) + 1;
    if (code === '96' || code === '91') findings.push({ surface: 'iso', what: `DE39 ${code} to ${decoded?.mti ?? head.mti}`, input });
    if (code === '00' && decoded !== undefined && decoded.fields[32] !== undefined && decoded.fields[11] !== undefined && decoded.fields[7] !== undefined) {
      const reference = isoReference(decoded.fields[32], decoded.fields[11], decoded.fields[7]);
      w.approved_refs.add(decoded.mti.startsWith('04') ? reversalReference(reference) : reference);
    }
    if (n % 100 === 99) await checkAlive(target, findings);
  }
  probe.socket.destroy();
  return tally;
}

// ---------------------------------------------------------------------------------------------
// Signed processor callbacks.

export interface CallbackCase {
  readonly events: readonly { type: string; data: Record<string, unknown>; id: string; created_at: unknown }[];
  readonly batch: boolean;
  readonly mutations: readonly Mutation[];
  readonly spoil: TextSpoil;
  readonly signing: 'own' | 'other' | 'stale' | 'none' | 'garbage' | 'many';
}

function callbackCaseArb(w: World): fc.Arbitrary<CallbackCase> {
  const { a } = w;
  const data = fc.record({
    transaction_id: fc.oneof(fc.constantFrom('ptx-1', 'ptx-2', 'ptx-3'), fc.string({ minLength: 1, maxLength: 10 })),
    original_transaction_id: fc.constantFrom('ptx-1', 'ptx-2', 'nope'),
    card: fc.constantFrom(...[...w.pans].slice(0, 8), '4111111111111111', '4111-1111-1111-1112', '123').map((number) => ({ number })),
    cim: fc.constantFrom({ type: 'email', value: a.emails[0]! }, { type: 'wallet_code', value: a.wallet_codes[0]! }),
    amount: fc.oneof(fc.integer({ min: 1, max: 10_000 }), fc.constantFrom(...[0, -5, 1.5, 1e21])),
    currency: fc.constantFrom('EUR', 'EUR', 'USD', 'eur'),
    merchant_code: fc.constantFrom(a.merchant_code, w.b.merchant_code, 'NOPE'),
    terminal_code: fc.string({ maxLength: 8 }),
    occurred_at: fc.constantFrom(new Date().toISOString(), '2020-01-01T00:00:00Z', 'soon'),
    items: fc.array(fc.record({ sku: fc.string({ minLength: 1, maxLength: 5 }), amount: fc.nat({ max: 1000 }), quantity: fc.constantFrom(1, 0.5, 2) }, { requiredKeys: ['sku', 'amount'] }), { maxLength: 2 }),
  }, { requiredKeys: ['transaction_id', 'amount', 'currency', 'merchant_code'] });
  const event = fc.record({
    id: fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('evt-1', 'evt-2')),
    type: fc.constantFrom('transaction.authorized', 'transaction.cleared', 'transaction.cleared', 'transaction.refunded', 'transaction.reversed', 'transaction.other'),
    created_at: fc.constantFrom(new Date().toISOString(), 'yesterday', 0),
    data,
  });
  return fc.record({
    events: fc.array(event, { minLength: 1, maxLength: 4 }),
    batch: fc.boolean(),
    mutations: fc.oneof(fc.constant([]), fc.array(mutation, { minLength: 1, maxLength: 2 })),
    spoil: text_spoil,
    signing: fc.constantFrom('own', 'own', 'own', 'own', 'own', 'other', 'stale', 'none', 'garbage', 'many'),
  });
}

export async function fuzzCallbacks(target: FuzzTarget, w: World, seed: number, runs: number, findings: Finding[]): Promise<Tally> {
  const cases = fc.sample(callbackCaseArb(w), { seed, numRuns: runs });
  const tally: Tally = { cases: 0, statuses: {} };
  const now = () => Math.floor(Date.now() / 1000);
  for (const [n, c] of cases.entries()) {
    let body: unknown = c.batch ? { events: c.events } : c.events[0];
    for (const m of c.mutations) body = mutate(body, m);
    const bytes = bodyBytes(body, c.spoil === 'huge' ? 'none' : c.spoil);
    cardsIn(w, bytes.toString('utf8'));
    const signature = c.signing === 'own' ? signatureHeader([w.a.processor.secret], now(), bytes)
      : c.signing === 'other' ? signatureHeader([w.b.processor.secret], now(), bytes)
      : c.signing === 'stale' ? signatureHeader([w.a.processor.secret], now() - 400, bytes)
      : c.signing === 'garbage' ? `t=${now()},v1=${'g'.repeat(64)},v1`
      : c.signing === 'many' ? signatureHeader(Array.from({ length: 20 }, () => w.a.processor.secret), now(), bytes)
      : undefined;
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(signature === undefined ? {} : { 'pocketgate-signature': signature }) };
    const a = await send(target.base, 'POST', `/v1/callbacks/${w.a.processor.id}`, headers, bytes);
    tally.cases++;
    const key = `${c.signing} ${a?.status ?? 'timeout'}`;
    tally.statuses[key] = (tally.statuses[key] ?? 0) + 1;
    const input = summarise({ signing: c.signing, body: bytes.toString('utf8') });
    const wrong = checkAnswer(a, 'POST');
    if (wrong !== undefined) findings.push({ surface: 'callback', what: `${wrong} ${a?.text.slice(0, 200) ?? ''}`, input });
    else if (a!.status === 200) {
      noteApproved(w, a!.text);
      const r = JSON.parse(a!.text);
      const events = Array.isArray(r.results) ? r.results : [r];
      for (const e of events) if (!['processed', 'ignored', 'rejected'].includes(e.status)) findings.push({ surface: 'callback', what: `event answered ${JSON.stringify(e).slice(0, 200)}`, input });
    } else if (c.signing !== 'own' && a!.status !== 401) findings.push({ surface: 'callback', what: `signing ${c.signing} answered ${a!.status}`, input });
    if (n % 100 === 99) await checkAlive(target, findings);
  }
  return tally;
}

// ---------------------------------------------------------------------------------------------
// At the end: no card number anywhere, and no ledger transaction that no answer approved.

export async function findPans(target: FuzzTarget, w: World): Promise<string[]> {
  const pans = [...w.pans].filter((p) => p.length >= 13 && !w.a.wallet_codes.includes(p) && !w.b.wallet_codes.includes(p));
  const hits: string[] = [];
  const look = (where: string, text: string) => {
    for (const p of pans) if (text.includes(p)) hits.push(`${p.slice(0, 6)}…${p.slice(-4)} in ${where}`);
  };
  look('logs', target.logs());
  for await (const keys of target.redis.scanIterator({ COUNT: 1000 })) {
    for (const key of keys) {
      look(`redis key ${key}`, key);
      const type = String(await target.redis.sendCommand(['TYPE', key]));
      const read: Record<string, string[]> = { string: ['GET', key], hash: ['HGETALL', key], list: ['LRANGE', key, '0', '-1'], set: ['SMEMBERS', key], zset: ['ZRANGE', key, '0', '-1'], stream: ['XRANGE', key, '-', '+'] };
      if (read[type] !== undefined) look(`redis ${type} ${key}`, JSON.stringify(await target.redis.sendCommand(read[type]!)));
    }
  }
  const tables = await target.sql<{ name: string }[]>`select table_name as name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`;
  const patterns = pans.map((p) => `%${p}%`);
  for (const { name } of tables) {
    const rows = await target.sql<{ row: string }[]>`select t::text as row from ${target.sql(name)} t where t::text like any(${patterns})`;
    for (const r of rows) look(`postgres ${name}`, r.row);
  }
  return hits;
}

/** Ledger transactions of the two businesses that no answer approved (the ledger read once it has caught up). */
export async function unexplainedTransactions(target: FuzzTarget, w: World): Promise<string[]> {
  const rows = await target.sql<{ id: string; kind: string; reference: string | null; terminal_id: string | null }[]>`
    select id, kind, reference, terminal_id from ledger_transactions where business_id = any(${[w.a.business_id, w.b.business_id]}) and kind not in ('expiry', 'award')`;
  return rows
    .filter((r) => !w.approved_ids.has(r.id) && !(r.reference !== null && w.approved_refs.has(r.reference)) && !(r.reference ?? '').startsWith('seed-'))
    .map((r) => `${r.id} ${r.kind} ${r.reference}`);
}
