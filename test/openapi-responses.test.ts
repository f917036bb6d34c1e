// Every real response agrees with /openapi.json: POS integrators and back offices generate their
// clients from it. One business is driven through every documented operation (the happy path and
// the main refusals the pages name), and each answer is checked against the document: its status
// is listed for that path and method (exactly, or by its range), its media type is one the
// document gives for that status, and its body validates against that schema, $refs resolved
// against the document's components. Objects are taken as closed: a field the gateway sends that
// the schema does not declare is a failure (a generated client drops it, or refuses the body).

import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signatureHeader } from '../core/signature.ts';
import { call, platform_key, startTestGateway, testCard, type ApiResponse, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { startReceiver, type Receiver } from './webhook-helpers.ts';

type Doc = { paths: Record<string, Record<string, Operation>>; components?: Record<string, unknown> };
type Operation = { security?: unknown[]; responses: Record<string, { content?: Record<string, { schema?: unknown }> }> };

let own: OwnStores;
let gw: TestGateway;
let receiver: Receiver;
let doc: Doc;
let ajv: InstanceType<typeof Ajv2020.default>;

/** Each answer that disagrees with the document, as `<operation> <status>: what`. */
let disagreements: string[] = [];
/** `<METHOD> <path> <status>` of every answer seen. */
const seen = new Set<string>();

/**
 * The document's schemas with every object closed: a schema that lists properties lists them all,
 * so an undeclared field fails, and so does an object that declares none (a map, whose values
 * have a schema and no properties are listed, stays a map).
 */
function closed(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closed);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, closed(s)])) : closed(v);
  const types = ([] as unknown[]).concat(out.type ?? []);
  const open = out.additionalProperties === undefined || out.additionalProperties === true || (typeof out.additionalProperties === 'object' && Object.keys(out.additionalProperties as object).length === 0);
  const map = out.properties === undefined && out.additionalProperties !== undefined && out.additionalProperties !== true;
  if ((types.includes('object') || out.properties !== undefined) && open && !map) out.additionalProperties = false;
  return out;
}

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');
const validators = new Map<string, ValidateFunction>();

function validatorOf(path: string, method: string, status: string, media: string): ValidateFunction {
  const ref = `openapi.json#/paths/${pointer(path, method, 'responses', status, 'content', media, 'schema')}`;
  let v = validators.get(ref);
  if (v === undefined) validators.set(ref, (v = ajv.compile({ $ref: ref })));
  return v;
}

function mediaOf(res: ApiResponse): string | undefined {
  return res.headers.get('content-type')?.split(';')[0]!.trim().toLowerCase();
}

/** What in `res` disagrees with the document's `method path`. */
function disagreement(method: string, path: string, res: ApiResponse): string | undefined {
  const operation = doc.paths[path]?.[method.toLowerCase()];
  if (operation === undefined) return 'not in the document';
  const status = String(res.status);
  const listed = [status, `${status[0]}XX`].find((s) => operation.responses[s] !== undefined);
  if (listed === undefined) return `status ${status} not listed (listed: ${Object.keys(operation.responses).join(', ')}); body ${res.text.slice(0, 200)}`;
  const content = operation.responses[listed]!.content;
  const media = mediaOf(res);
  if (content === undefined || Object.keys(content).length === 0) return res.text.length === 0 ? undefined : `a body where the document has none: ${res.text.slice(0, 200)}`;
  const declared = Object.keys(content).find((m) => m.split(';')[0]!.trim().toLowerCase() === media);
  if (declared === undefined) return `content type ${media} not listed for ${listed} (listed: ${Object.keys(content).join(', ')})`;
  if (!/json$/.test(media!)) return undefined;
  const validate = validatorOf(path, method.toLowerCase(), listed, declared);
  if (validate(res.body)) return undefined;
  const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : ''}`);
  return `body does not validate: ${errors.join('; ')}; body ${res.text.slice(0, 400)}`;
}

interface Ask {
  readonly params?: Record<string, string>;
  readonly query?: Record<string, string>;
  readonly key?: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/**
 * Calls `<METHOD> <documented path>` and checks the answer against the document; `status` is the
 * answer the pages name for this call (checked too, so each case drives what it says it does).
 */
/** The code each refusal's status has, where the pages give it one code (API.md's list); others are named with the status: `'422 insufficient_funds'`. */
const code_of_status: Readonly<Record<number, string>> = { 400: 'validation_failed', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 503: 'unavailable' };

async function api(operation: string, expected: number | `${number} ${string}`, ask: Ask = {}): Promise<ApiResponse> {
  const [status, code] = typeof expected === 'number' ? [expected, code_of_status[expected]] : [Number(expected.split(' ')[0]), expected.split(' ')[1]];
  const [method, path] = operation.split(' ') as [string, string];
  let url = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(ask.params?.[name] ?? `missing-${name}`));
  if (ask.query !== undefined) url += `?${new URLSearchParams(ask.query)}`;
  const res = await call(gw, method, url, ask.key, ask.body, ask.headers);
  check(method, path, res);
  expect(res.status, `${operation}: ${res.text.slice(0, 300)}`).toBe(status);
  if (status >= 400 && mediaOf(res) === 'application/problem+json') expect(res.body?.code, `${operation}: ${res.text.slice(0, 300)}`).toBe(code);
  return res;
}

function check(method: string, path: string, res: ApiResponse): void {
  seen.add(`${method} ${path} ${res.status}`);
  const wrong = disagreement(method, path, res);
  if (wrong !== undefined) disagreements.push(`${method} ${path} ${res.status}: ${wrong}`);
}

/** A signed callback (EVENTS.md), checked as any other answer. */
async function callback(processor: { id: string; secret: string }, body: unknown, status: number, signature?: string): Promise<ApiResponse> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const t = Math.floor(gw.processor.stores.clock.now() / 1000);
  const res = await gw.app.request(`/v1/callbacks/${processor.id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'pocketgate-signature': signature ?? signatureHeader([processor.secret], t, text) },
    body: text,
  });
  const raw = await res.text();
  let parsed: unknown = raw;
  try {
    parsed = JSON.parse(raw);
  } catch {}
  const answer = { status: res.status, headers: res.headers, body: parsed as any, text: raw };
  check('POST', '/v1/callbacks/{processor_id}', answer);
  expect(res.status, raw).toBe(status);
  if (status >= 400) expect(answer.body.code, raw).toBe(status === 401 ? 'signature_invalid' : 'validation_failed');
  return answer;
}

beforeAll(async () => {
  own = await startOwnStores('openapi_responses');
  receiver = await startReceiver();
  gw = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url, webhooks: { retry_base_ms: 600_000, allow_private: true, worker: true } });
  doc = (await call(gw, 'GET', '/openapi.json', undefined)).body;
  ajv = new Ajv2020.default({ strict: false, allErrors: true, validateFormats: true });
  addFormats.default(ajv);
  ajv.addSchema(closed(doc) as object, 'openapi.json');
});
afterAll(async () => {
  await gw?.close();
  await receiver?.close();
  await own?.stop();
});
afterEach(() => {
  const found = disagreements;
  disagreements = [];
  expect(found).toEqual([]);
});

const when = new Date(Date.now() - 60_000).toISOString();

describe.sequential('one business through every documented operation', () => {
  // What each step made, for the steps after it.
  const s = {} as Record<'admin' | 'business' | 'merchant' | 'venue' | 'terminal' | 'terminal_key' | 'scheme' | 'domain_scheme' | 'codes_scheme' | 'signup_code' | 'offer' | 'contact' | 'wallet_code' | 'contact_code' | 'contact2' | 'purchase' | 'webhook', string>;
  const card = testCard(7101);
  const card2 = testCard(7102);

  it('platform: a business, and its refusals', async () => {
    const b = await api('POST /v1/businesses', 201, { key: platform_key, body: { name: 'OpenAPI shop', currency: 'EUR', reward_resolution: 'all' } });
    s.admin = b.body.admin_key;
    s.business = b.body.id;
    await api('POST /v1/businesses', 400, { key: platform_key, body: { currency: 'EUR' } });
    await api('POST /v1/businesses', 401, { body: { name: 'x', currency: 'EUR' } });
    await api('POST /v1/businesses', 403, { key: s.admin, body: { name: 'x', currency: 'EUR' } });
  });

  it('business network: merchants, venues, terminals', async () => {
    const m = await api('POST /v1/merchants', 201, { key: s.admin, body: { name: 'Cafe', code: 'OAMERCH1', contribution_fee_percent: 10, settle_on: 'award' } });
    s.merchant = m.body.id;
    await api('POST /v1/merchants', 201, { key: s.admin, body: { name: 'Bakery', code: 'OAMERCH2' } });
    await api('POST /v1/merchants', 400, { key: s.admin, body: { name: 'Cafe again', code: 'OAMERCH1' } });
    await api('POST /v1/merchants', 400, { key: s.admin, body: { name: 'No code' } });
    await api('GET /v1/merchants', 200, { key: s.admin, query: { limit: '1' } });
    await api('GET /v1/merchants', 400, { key: s.admin, query: { limit: '0' } });
    await api('GET /v1/merchants/{id}', 200, { key: s.admin, params: { id: s.merchant } });
    await api('GET /v1/merchants/{id}', 404, { key: s.admin, params: { id: 'mer_doesnotexist000000' } });

    const v = await api('POST /v1/venues', 201, { key: s.admin, body: { name: 'Cafe venue', merchant_id: s.merchant, timezone: 'Europe/Paris' } });
    s.venue = v.body.id;
    await api('POST /v1/venues', 201, { key: s.admin, body: { name: 'Own venue' } });
    await api('POST /v1/venues', 404, { key: s.admin, body: { name: 'Nowhere', merchant_id: 'mer_doesnotexist000000' } });
    await api('POST /v1/venues', 400, { key: s.admin, body: { name: 'Bad zone', timezone: 'Mars/Olympus' } });
    await api('GET /v1/venues', 200, { key: s.admin });
    await api('GET /v1/venues', 400, { key: s.admin, query: { limit: 'x' } });
    await api('GET /v1/venues/{id}', 200, { key: s.admin, params: { id: s.venue } });
    await api('GET /v1/venues/{id}', 404, { key: s.admin, params: { id: 'ven_doesnotexist000000' } });

    const t = await api('POST /v1/terminals', 201, { key: s.admin, body: { venue_id: s.venue, code: 'OATERM01' } });
    s.terminal = t.body.id;
    s.terminal_key = t.body.api_key;
    await api('POST /v1/terminals', 400, { key: s.admin, body: { venue_id: s.venue, code: 'OATERM01' } });
    await api('POST /v1/terminals', 404, { key: s.admin, body: { venue_id: 'ven_doesnotexist000000', code: 'OATERM02' } });
    await api('POST /v1/terminals', 400, { key: s.admin, body: { venue_id: s.venue } });
    await api('GET /v1/terminals', 200, { key: s.admin });
    await api('GET /v1/terminals', 400, { key: s.admin, query: { limit: '1001' } });
    await api('GET /v1/terminals/{id}', 200, { key: s.admin, params: { id: s.terminal } });
    await api('GET /v1/terminals/{id}', 404, { key: s.admin, params: { id: 'trm_doesnotexist000000' } });
    const rotated = await api('POST /v1/terminals/{id}/rotate-key', 201, { key: s.admin, params: { id: s.terminal } });
    s.terminal_key = rotated.body.api_key;
    await api('POST /v1/terminals/{id}/rotate-key', 404, { key: s.admin, params: { id: 'trm_doesnotexist000000' } });
  });

  it('rewards: schemes, codes, sign-ups, tiers, offers', async () => {
    const self = await api('POST /v1/schemes', 201, { key: s.admin, body: { name: 'Club', signup: 'self' } });
    s.scheme = self.body.id;
    const domain = await api('POST /v1/schemes', 201, { key: s.admin, body: { name: 'Staff', signup: 'email_domain', email_domains: ['staff.example'] } });
    s.domain_scheme = domain.body.id;
    const codes = await api('POST /v1/schemes', 201, { key: s.admin, body: { name: 'Invited', signup: 'codes' } });
    s.codes_scheme = codes.body.id;
    await api('POST /v1/schemes', 201, { key: s.admin, body: { name: 'Everyone', signup: 'auto' } });
    await api('POST /v1/schemes', 400, { key: s.admin, body: { name: 'Bad', signup: 'sometimes' } });
    await api('GET /v1/schemes', 200, { key: s.admin });
    await api('GET /v1/schemes/{id}', 200, { key: s.admin, params: { id: s.domain_scheme } });
    await api('GET /v1/schemes/{id}', 404, { key: s.admin, params: { id: 'sch_doesnotexist000000' } });
    const issued = await api('POST /v1/schemes/{id}/codes', 201, { key: s.admin, params: { id: s.codes_scheme }, body: { count: 2 } });
    s.signup_code = issued.body.codes[0];
    await api('POST /v1/schemes/{id}/codes', 201, { key: s.admin, params: { id: s.codes_scheme }, body: { codes: ['WELCOME-OPENAPI'] } });
    await api('POST /v1/schemes/{id}/codes', 400, { key: s.admin, params: { id: s.codes_scheme }, body: {} });
    await api('POST /v1/schemes/{id}/codes', 404, { key: s.admin, params: { id: 'sch_doesnotexist000000' }, body: { count: 1 } });

    await api('PUT /v1/tiers', 200, { key: s.admin, body: [{ name: 'silver', min_period_units: 10, period: 'month' }, { name: 'gold', min_period_units: 100, period: 'year' }] });
    await api('PUT /v1/tiers', 400, { key: s.admin, body: [{ name: 'silver', period: 'decade' }] });
    await api('GET /v1/tiers', 200, { key: s.admin });

    const cashback = await api('POST /v1/offers', 201, { key: s.admin, body: { name: '5% cashback', goal: 'spend', award: { percent: 5 } } });
    s.offer = cashback.body.id;
    const rich = {
      name: 'Club lunch',
      scheme_id: s.scheme,
      kind: 'cashback',
      goal: 'spend',
      award: { fixed: 100 },
      conditions: { min_amount: 1000, merchants: [s.merchant], venues: [s.venue], days_of_week: [1, 2, 3, 4, 5, 6, 7], time_from: '00:00', time_to: '23:59', tiers: ['silver'], tags: ['student'] },
      max_award: 2000,
      limits: { per_contact: { count: 5, period: 'day' }, budget: 100_000 },
      instant_redeem: false,
      validity_days: 90,
      pool: 'OAMERCH1',
      valid_from: '2020-01-01T00:00:00Z',
      valid_to: '2099-01-01T00:00:00Z',
    };
    await api('POST /v1/offers', 201, { key: s.admin, body: rich });
    await api('POST /v1/offers', 201, { key: s.admin, body: { name: 'Coffee beans', goal: 'product', kind: 'instant_discount', award: { percent: 10 }, conditions: { products: { skus: ['BEANS'], families: [], brands: [], types: [] } } } });
    await api('POST /v1/offers', 201, { key: s.admin, body: { name: 'Welcome', goal: 'signup', scheme_id: s.scheme, award: { fixed: 200 } } });
    await api('POST /v1/offers', 201, { key: s.admin, body: { name: 'Refer a friend', goal: 'referral', award: { fixed: 300 }, instant_redeem: true } });
    // Awards with a pool and an expiry: the wallet's pools and expiring lots, the awards' pool and expires_at.
    await api('POST /v1/offers', 201, { key: s.admin, body: { name: 'Coffee club', goal: 'spend', award: { fixed: 50 }, pool: 'coffee-club', validity_days: 30 } });
    await api('POST /v1/offers', 400, { key: s.admin, body: { name: 'No award', goal: 'spend' } });
    await api('POST /v1/offers', 404, { key: s.admin, body: { name: 'Ghost scheme', goal: 'spend', award: { percent: 1 }, scheme_id: 'sch_doesnotexist000000' } });
    await api('GET /v1/offers', 200, { key: s.admin });
    await api('GET /v1/offers/{id}', 200, { key: s.admin, params: { id: s.offer } });
    await api('GET /v1/offers/{id}', 404, { key: s.admin, params: { id: 'off_doesnotexist000000' } });
    await api('PATCH /v1/offers/{id}', 200, { key: s.admin, params: { id: s.offer }, body: { active: true, max_award: null } });
    await api('PATCH /v1/offers/{id}', 400, { key: s.admin, params: { id: s.offer }, body: { award: { percent: 'five' } } });
    await api('PATCH /v1/offers/{id}', 404, { key: s.admin, params: { id: 'off_doesnotexist000000' }, body: { active: false } });
  });

  it('contacts: create, import, look up, read, patch, CIMs, wallet, OTP, wallet code, statement', async () => {
    const referrer = await api('POST /v1/contacts', 201, {
      key: s.admin,
      body: { first_name: 'Ada', last_name: 'Lovelace', email: 'ada@staff.example', phone: '+33612345678', birth_date: '1990-01-01', tags: ['student'], cims: [{ type: 'card', value: card }, { type: 'email', value: 'ada@staff.example' }] },
    });
    s.contact = referrer.body.id;
    s.wallet_code = referrer.body.wallet_code;
    s.contact_code = referrer.body.code;
    const referred = await api('POST /v1/contacts', 201, { key: s.admin, body: { first_name: 'Bob', cims: [{ type: 'card', value: card2 }], referred_by: referrer.body.referral_code } });
    s.contact2 = referred.body.id;
    await api('POST /v1/contacts', '409 cim_taken', { key: s.admin, body: { cims: [{ type: 'card', value: card }] } });
    await api('POST /v1/contacts', 400, { key: s.admin, body: { birth_date: '1990-13-45' } });

    const ndjson = `${JSON.stringify({ first_name: 'Imported', cims: [{ type: 'email', value: 'imported@example.com' }] })}\nnot json\n`;
    await api('POST /v1/contacts/import', 200, { key: s.admin, body: ndjson, headers: { 'content-type': 'application/x-ndjson' } });
    await api('POST /v1/contacts/import', 400, { key: s.admin, body: ndjson, headers: { 'content-type': 'text/csv' } });

    await api('POST /v1/contacts/lookup', 200, { key: s.admin, body: { cim: { type: 'card', value: card } } });
    await api('POST /v1/contacts/lookup', '404 contact_not_found', { key: s.admin, body: { cim: { type: 'email', value: 'nobody@example.com' } } });
    await api('POST /v1/contacts/lookup', 400, { key: s.admin, body: { cim: { type: 'fax', value: '1' } } });

    await api('GET /v1/contacts/{id}', 200, { key: s.admin, params: { id: s.contact } });
    await api('GET /v1/contacts/{id}', 404, { key: s.admin, params: { id: 'con_doesnotexist000000' } });
    await api('PATCH /v1/contacts/{id}', 200, { key: s.admin, params: { id: s.contact }, body: { tags: ['student', 'vip'], spend_blocked: false } });
    await api('PATCH /v1/contacts/{id}', 400, { key: s.admin, params: { id: s.contact }, body: { spend_blocked: 'maybe' } });
    await api('PATCH /v1/contacts/{id}', 404, { key: s.admin, params: { id: 'con_doesnotexist000000' }, body: { tags: [] } });

    await api('POST /v1/contacts/{id}/cims', 201, { key: s.admin, params: { id: s.contact }, body: { type: 'loyalty_id', value: 'LOY-OPENAPI-1' } });
    await api('POST /v1/contacts/{id}/cims', '409 cim_taken', { key: s.admin, params: { id: s.contact2 }, body: { type: 'loyalty_id', value: 'LOY-OPENAPI-1' } });
    await api('POST /v1/contacts/{id}/cims', 400, { key: s.admin, params: { id: s.contact }, body: { type: 'phone', value: 'not a phone' } });
    await api('POST /v1/contacts/{id}/cims', 404, { key: s.admin, params: { id: 'con_doesnotexist000000' }, body: { type: 'loyalty_id', value: 'LOY-OPENAPI-2' } });

    await api('GET /v1/contacts/{id}/wallet', 200, { key: s.admin, params: { id: s.contact } });
    await api('GET /v1/contacts/{id}/wallet', 404, { key: s.admin, params: { id: 'con_doesnotexist000000' } });
    await api('POST /v1/contacts/{id}/spend-otp', 201, { key: s.admin, params: { id: s.contact }, body: { amount: 100, ttl_seconds: 60 } });
    await api('POST /v1/contacts/{id}/spend-otp', 400, { key: s.admin, params: { id: s.contact }, body: { amount: 100, ttl_seconds: 5 } });
    await api('POST /v1/contacts/{id}/spend-otp', 404, { key: s.admin, params: { id: 'con_doesnotexist000000' }, body: { amount: 100 } });
    await api('POST /v1/contacts/{id}/wallet-code', 201, { key: s.admin, params: { id: s.contact2 } });
    await api('POST /v1/contacts/{id}/wallet-code', 404, { key: s.admin, params: { id: 'con_doesnotexist000000' } });

    await api('POST /v1/schemes/{id}/signups', 201, { key: s.admin, params: { id: s.scheme }, body: { contact_id: s.contact } });
    await api('POST /v1/schemes/{id}/signups', 201, { key: s.admin, params: { id: s.codes_scheme }, body: { contact_id: s.contact, code: s.signup_code } });
    await api('POST /v1/schemes/{id}/signups', '422 signup_not_allowed', { key: s.admin, params: { id: s.domain_scheme }, body: { contact_id: s.contact2 } });
    await api('POST /v1/schemes/{id}/signups', 400, { key: s.admin, params: { id: s.scheme }, body: {} });
    await api('POST /v1/schemes/{id}/signups', 404, { key: s.admin, params: { id: s.scheme }, body: { contact_id: 'con_doesnotexist000000' } });
  });

  it('POS: purchases, quotes, redemptions, spends, refunds, reversals, wallets', async () => {
    const key = s.terminal_key;
    const purchase = { reference: 'oa-p1', cim: { type: 'card', value: card }, amount: 5000, currency: 'EUR', items: [{ sku: 'BEANS', family: 'coffee', brand: 'House', type: 'retail', quantity: 1, amount: 5000 }], occurred_at: when };
    await api('POST /v1/purchases/quote', 200, { key, body: purchase });
    await api('POST /v1/purchases/quote', 400, { key, body: { ...purchase, amount: -1 } });
    await api('POST /v1/purchases/quote', '404 contact_not_found', { key, body: { ...purchase, cim: { type: 'email', value: 'nobody@example.com' } } });
    const p = await api('POST /v1/purchases', 201, { key, body: purchase });
    s.purchase = p.body.id;
    const lots = await api('GET /v1/contacts/{id}/wallet', 200, { key: s.admin, params: { id: s.contact } });
    expect(lots.body.pools.length).toBeGreaterThan(0);
    expect(lots.body.expiring.length).toBeGreaterThan(0);
    const replay = await api('POST /v1/purchases', 201, { key, body: purchase });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    await api('POST /v1/purchases', '409 idempotency_conflict', { key, body: { ...purchase, amount: 4000, items: undefined } });
    await api('POST /v1/purchases', 400, { key, body: { ...purchase, reference: '' } });
    await api('POST /v1/purchases', '404 contact_not_found', { key, body: { ...purchase, reference: 'oa-p-unknown', cim: { type: 'email', value: 'nobody@example.com' } } });
    await api('POST /v1/purchases', '422 insufficient_funds', { key, body: { reference: 'oa-p-pay-too-much', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR', pay: { amount: 1000, wallet_code: s.wallet_code } } });
    await api('POST /v1/purchases', 401, { key: 'tk_not_a_key', body: purchase });
    // The referred contact's first purchase pays the referrer (an instant_redeem award, open money).
    await api('POST /v1/purchases', 201, { key, body: { reference: 'oa-p2', cim: { type: 'card', value: card2 }, amount: 1200, currency: 'EUR' } });
    // As an admin acting for its terminal.
    await api('POST /v1/purchases', 201, { key: s.admin, headers: { 'pocketgate-terminal': s.terminal }, body: { reference: 'oa-p3', cim: { type: 'contact_code', value: s.contact_code }, amount: 800, currency: 'EUR' } });

    await api('POST /v1/redemptions', 201, { key, body: { reference: 'oa-r1', cim: { type: 'card', value: card }, amount: 50 } });
    await api('POST /v1/redemptions', 201, { key, body: { reference: 'oa-r2', cim: { type: 'card', value: card } } });
    await api('POST /v1/redemptions', 400, { key, body: { reference: 'oa-r3', cim: { type: 'card', value: card }, amount: 'all' } });
    await api('POST /v1/redemptions', '404 contact_not_found', { key, body: { reference: 'oa-r4', cim: { type: 'email', value: 'nobody@example.com' } } });

    const otp = await api('POST /v1/contacts/{id}/spend-otp', 201, { key: s.admin, params: { id: s.contact }, body: { amount: 100 } });
    await api('POST /v1/spends', 201, { key, body: { reference: 'oa-s1', amount: 10, currency: 'EUR', otp: otp.body.otp } });
    await api('POST /v1/spends', 201, { key, body: { reference: 'oa-s2', amount: 10, currency: 'EUR', wallet_code: s.wallet_code } });
    await api('POST /v1/spends', '422 insufficient_funds', { key, body: { reference: 'oa-s3', amount: 900_000, currency: 'EUR', wallet_code: s.wallet_code } });
    await api('POST /v1/spends', '422 wallet_code_invalid', { key, body: { reference: 'oa-s4', amount: 10, currency: 'EUR', wallet_code: '1234567812345678' } });
    await api('POST /v1/spends', '422 otp_invalid', { key, body: { reference: 'oa-s5', amount: 10, currency: 'EUR', otp: otp.body.otp === '000000' ? '000001' : '000000' } });
    await api('POST /v1/spends', 400, { key, body: { reference: 'oa-s6', amount: 10, currency: 'EUR' } });

    await api('POST /v1/refunds', 201, { key, body: { reference: 'oa-f1', original_reference: 'oa-p1', amount: 1000 } });
    await api('POST /v1/refunds', '422 amount_exceeds_original', { key, body: { reference: 'oa-f2', original_reference: 'oa-p1', amount: 900_000 } });
    await api('POST /v1/refunds', '404 original_not_found', { key, body: { reference: 'oa-f3', original_reference: 'oa-nothing' } });
    await api('POST /v1/refunds', 400, { key, body: { reference: 'oa-f4' } });

    await api('POST /v1/reversals', 201, { key, body: { reference: 'oa-v1', original_reference: 'oa-s2' } });
    await api('POST /v1/reversals', '409 already_reversed', { key, body: { reference: 'oa-v2', original_reference: 'oa-s2' } });
    await api('POST /v1/reversals', '404 original_not_found', { key, body: { reference: 'oa-v3', original_reference: 'oa-nothing' } });
    await api('POST /v1/reversals', 400, { key, body: { reference: 'oa-v4' } });

    await api('GET /v1/wallets', 200, { key, query: { cim_type: 'card', cim_value: card } });
    await api('GET /v1/wallets', 200, { key: s.admin, query: { cim_type: 'wallet_code', cim_value: s.wallet_code } });
    await api('GET /v1/wallets', '404 contact_not_found', { key, query: { cim_type: 'email', cim_value: 'nobody@example.com' } });
    await api('GET /v1/wallets', 400, { key, query: { cim_type: 'card' } });

    await api('GET /v1/terminal', 400, { key });
    await api('GET /v1/contacts/{id}/wallet', 200, { key: s.admin, params: { id: s.contact } });
  });

  it('reading back: transactions, statements, settlements', async () => {
    await api('GET /v1/transactions/{id}', 200, { key: s.admin, params: { id: s.purchase } });
    await api('GET /v1/transactions/{id}', 404, { key: s.admin, params: { id: 'txn_doesnotexist000000' } });
    const statement = await api('GET /v1/contacts/{id}/statement', 200, { key: s.admin, params: { id: s.contact } });
    // Every kind of transaction read back: sign-up and referral awards, redemptions, spends, refunds, reversals.
    for (const line of statement.body.lines as { transaction_id: string }[]) await api('GET /v1/transactions/{id}', 200, { key: s.admin, params: { id: line.transaction_id } });
    await api('GET /v1/contacts/{id}/statement', 200, { key: s.admin, params: { id: s.contact }, query: { from: '2020-01-01T00:00:00Z', to: '2099-01-01T00:00:00Z' } });
    await api('GET /v1/contacts/{id}/statement', 400, { key: s.admin, params: { id: s.contact }, query: { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' } });
    await api('GET /v1/contacts/{id}/statement', 404, { key: s.admin, params: { id: 'con_doesnotexist000000' } });
    // Every transaction naming the contact, each read back too.
    const latest = await api('GET /v1/contacts/{id}/transactions', 200, { key: s.admin, params: { id: s.contact }, query: { limit: '100' } });
    for (const t of latest.body.data as { id: string }[]) await api('GET /v1/transactions/{id}', 200, { key: s.admin, params: { id: t.id } });
    await api('GET /v1/contacts/{id}/transactions', 400, { key: s.admin, params: { id: s.contact }, query: { limit: '0' } });
    await api('GET /v1/contacts/{id}/transactions', 404, { key: s.admin, params: { id: 'con_doesnotexist000000' } });
    await api('GET /v1/settlements', 200, { key: s.admin });
    await api('GET /v1/settlements', 200, { key: s.admin, query: { merchant_id: s.merchant, from: '2020-01-01T00:00:00Z' } });
    await api('GET /v1/settlements', 400, { key: s.admin, query: { from: 'yesterday' } });
  });

  it('ISO 8583 links and payment processors, their callbacks', async () => {
    await api('POST /v1/iso8583/links', 201, { key: s.admin, body: { acquirer_id: '12345678901' } });
    await api('POST /v1/iso8583/links', 400, { key: s.admin, body: { acquirer_id: 'abc' } });

    const created = await api('POST /v1/processors', 201, { key: s.admin, body: { name: 'Acquirer', award_on: 'authorization' } });
    const processor = { id: created.body.id as string, secret: created.body.signing_secret as string };
    await api('POST /v1/processors', 400, { key: s.admin, body: { name: 'Acquirer', award_on: 'never' } });
    await api('GET /v1/processors', 200, { key: s.admin });
    await api('GET /v1/processors/{id}', 200, { key: s.admin, params: { id: processor.id } });
    await api('GET /v1/processors/{id}', 404, { key: s.admin, params: { id: 'prc_doesnotexist000000' } });
    const rotated = await api('POST /v1/processors/{id}/rotate-secret', 201, { key: s.admin, params: { id: processor.id } });
    processor.secret = rotated.body.signing_secret;
    await api('POST /v1/processors/{id}/rotate-secret', 404, { key: s.admin, params: { id: 'prc_doesnotexist000000' } });

    const event = (id: string, type: string, data: Record<string, unknown>) => ({ id, type, created_at: new Date().toISOString(), data });
    const sale = { transaction_id: 'oa-cb-1', card: { number: card }, amount: 3000, currency: 'EUR', merchant_code: 'OAMERCH1', terminal_code: 'POS-7', occurred_at: when };
    const made = await callback(processor, event('evt_oa_1', 'transaction.authorized', sale), 200);
    await api('GET /v1/transactions/{id}', 200, { key: s.admin, params: { id: made.body.transaction_id } });
    await callback(processor, event('evt_oa_1', 'transaction.authorized', sale), 200); // replayed
    await callback(
      processor,
      {
        events: [
          event('evt_oa_2', 'transaction.cleared', { ...sale, amount: 2500 }),
          event('evt_oa_3', 'transaction.refunded', { transaction_id: 'oa-cb-2', original_transaction_id: 'oa-cb-1', amount: 100, currency: 'EUR', merchant_code: 'OAMERCH1' }),
          event('evt_oa_4', 'transaction.reversed', { transaction_id: 'oa-cb-missing' }),
          event('evt_oa_5', 'transaction.authorized', { ...sale, transaction_id: 'oa-cb-3', card: { number: testCard(7199) } }),
          event('evt_oa_6', 'transaction.authorized', { ...sale, transaction_id: 'oa-cb-4', merchant_code: 'NOSUCH' }),
          event('evt_oa_7', 'transaction.authorized', { transaction_id: 'oa-cb-5' }),
          { id: 'evt_oa_8', type: 'transaction.exploded', data: {} },
          { type: 'transaction.authorized', data: sale },
        ],
      },
      200,
    );
    await callback(processor, event('evt_oa_9', 'transaction.authorized', sale), 401, 't=1,v1=00');
    await callback(processor, 'not json', 400);
  });

  it('webhooks: endpoints, deliveries, a retry', async () => {
    const created = await api('POST /v1/webhooks', 201, { key: s.admin, body: { url: receiver.url, events: ['*'], description: 'ERP' } });
    s.webhook = created.body.id;
    await api('POST /v1/webhooks', 400, { key: s.admin, body: { url: 'ftp://example.com/x', events: ['*'] } });
    await api('GET /v1/webhooks', 200, { key: s.admin });
    await api('GET /v1/webhooks/{id}', 200, { key: s.admin, params: { id: s.webhook } });
    await api('GET /v1/webhooks/{id}', 404, { key: s.admin, params: { id: 'whk_doesnotexist000000' } });
    await api('PATCH /v1/webhooks/{id}', 200, { key: s.admin, params: { id: s.webhook }, body: { events: ['transaction.approved', 'award.created', 'award.expired'], status: 'enabled' } });
    await api('PATCH /v1/webhooks/{id}', 400, { key: s.admin, params: { id: s.webhook }, body: { status: 'paused' } });
    await api('PATCH /v1/webhooks/{id}', 404, { key: s.admin, params: { id: 'whk_doesnotexist000000' }, body: { status: 'disabled' } });
    const rerolled = await api('POST /v1/webhooks/{id}/rotate-secret', 201, { key: s.admin, params: { id: s.webhook } });
    expect(rerolled.body.signing_secret).toMatch(/^whsec_/);
    await api('POST /v1/webhooks/{id}/rotate-secret', 404, { key: s.admin, params: { id: 'whk_doesnotexist000000' } });
    // A purchase after the webhook exists: its events are delivered.
    await api('POST /v1/purchases', 201, { key: s.terminal_key, body: { reference: 'oa-p-hook', cim: { type: 'card', value: card }, amount: 2000, currency: 'EUR' } });
    const deadline = Date.now() + 15_000;
    let deliveries: ApiResponse;
    do {
      await new Promise((r) => setTimeout(r, 100));
      deliveries = await call(gw, 'GET', `/v1/webhooks/${s.webhook}/deliveries`, s.admin);
    } while (!(deliveries.body?.data ?? []).some((d: { status: string }) => d.status === 'succeeded') && Date.now() < deadline);
    const listed = await api('GET /v1/webhooks/{id}/deliveries', 200, { key: s.admin, params: { id: s.webhook }, query: { limit: '50' } });
    await api('GET /v1/webhooks/{id}/deliveries', 400, { key: s.admin, params: { id: s.webhook }, query: { status: 'lost' } });
    await api('GET /v1/webhooks/{id}/deliveries', 404, { key: s.admin, params: { id: 'whk_doesnotexist000000' } });
    const event_id = listed.body.data[0].event_id as string;
    await api('POST /v1/webhooks/{id}/deliveries/{event_id}/retry', 202, { key: s.admin, params: { id: s.webhook, event_id } });
    await api('POST /v1/webhooks/{id}/deliveries/{event_id}/retry', 404, { key: s.admin, params: { id: s.webhook, event_id: 'evt_doesnotexist000000' } });
    // What the endpoint received: each event as the document's `webhooks` describes it (EVENTS.md's payloads).
    expect(receiver.received.length).toBeGreaterThan(0);
    const described = Object.keys((doc as { webhooks?: object }).webhooks ?? {}).sort();
    expect(described).toEqual(['award.created', 'award.expired', 'transaction.approved']);
    for (const { json, headers } of receiver.received) {
      const type = (json as { type: string }).type;
      expect(headers['pocketgate-event-id']).toBe((json as { id: string }).id);
      const validate = ajv.getSchema(`openapi.json#/webhooks/${pointer(type, 'post', 'requestBody', 'content', 'application/json', 'schema')}`);
      expect(validate, type).toBeDefined();
      if (!validate!(json)) disagreements.push(`webhook ${type}: ${ajv.errorsText(validate!.errors)}; ${JSON.stringify(json).slice(0, 300)}`);
    }
    await api('DELETE /v1/webhooks/{id}', 204, { key: s.admin, params: { id: s.webhook } });
    await api('DELETE /v1/webhooks/{id}', 404, { key: s.admin, params: { id: s.webhook } });
  });

  it('the console and the operations endpoints', async () => {
    await api('GET /v1/business', 200, { key: s.admin });
    await api('GET /v1/stats', 200, { key: s.admin });
    await api('GET /v1/stats', 400, { key: s.admin, query: { since: 'then' } });
    await api('GET /v1/transactions', 200, { key: s.admin, query: { limit: '5' } });
    await api('GET /v1/transactions', 400, { key: s.admin, query: { limit: '-1' } });
    const feed = await gw.app.request('/v1/feed', { headers: { authorization: `Bearer ${s.admin}` } });
    check('GET', '/v1/feed', { status: feed.status, headers: feed.headers, body: undefined, text: '' });
    await feed.body?.cancel();
    await api('GET /console', 200);
    await api('GET /console/', 301);
    // Its scripts, its style and its icon.
    for (const file of ['app.js', 'style.css', 'icon.svg']) await api('GET /console/{file}', 200, { params: { file } });
    await api('GET /console/{file}', 404, { params: { file: 'nothing.js' } });
    await api('GET /healthz', 200);
    await api('GET /readyz', 200);
    await api('GET /metrics', 200);
    await api('GET /openapi.json', 200);
    await api('GET /docs', 200);
    await api('GET /docs/', 301);
    await api('GET /docs/swagger-ui-dist/swagger-ui.css', 200);
    await api('GET /docs/swagger-ui-dist/swagger-ui-bundle.js', 200);
  });

  it('every keyed operation: 401 without a key, 403 with a key of another kind', async () => {
    const keys = { platform: platform_key, admin: s.admin, terminal: s.terminal_key };
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        if (operation.security === undefined) continue;
        const params = Object.fromEntries([...path.matchAll(/\{(\w+)\}/g)].map((m) => [m[1]!, 'xyz_doesnotexist000000']));
        const body = method === 'get' ? undefined : {};
        await api(`${method.toUpperCase()} ${path}`, 401, { params, body });
        const description = (operation as { description?: string }).description ?? '';
        const kind = /^Key: (platform|admin or terminal|admin|terminal)\./.exec(description)?.[1];
        const other = kind === 'platform' ? keys.admin : kind === 'admin' ? keys.terminal : kind === 'terminal' ? keys.platform : kind === 'admin or terminal' ? keys.platform : undefined;
        if (other !== undefined && path !== '/v1/terminal') await api(`${method.toUpperCase()} ${path}`, 403, { params, key: other, body });
      }
    }
  });

  it('a store that cannot serve: 503 unavailable, /readyz 503 with its body', async () => {
    const redis = own.redis.client;
    await redis.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' });
    try {
      await api('GET /readyz', 503);
      await api('POST /v1/purchases', 503, { key: s.terminal_key, body: { reference: 'oa-p-oom', cim: { type: 'card', value: card }, amount: 100, currency: 'EUR' } });
    } finally {
      await redis.configSet({ maxmemory: '0' });
    }
  });

  it('drove every documented operation to a success and, where it takes input or a key, to a refusal', () => {
    const missing: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods)) {
        const op = `${method.toUpperCase()} ${path}`;
        const statuses = [...seen].filter((k) => k.startsWith(`${op} `)).map((k) => Number(k.slice(op.length + 1)));
        // GET /v1/terminal's success is the upgrade (101), which test/terminal.test.ts drives.
        if (!statuses.some((st) => st < 400) && path !== '/v1/terminal') missing.push(`${op}: no success`);
        if (path.startsWith('/v1/') && !statuses.some((st) => st >= 400 && st < 500)) missing.push(`${op}: no refusal`);
      }
    }
    expect(missing).toEqual([]);
  });
});
