// Contract: bad input never yields a 5xx and never changes state. Every POST (and PATCH) endpoint
// gets malformed bodies, bodies of the wrong shape, wrong types and out-of-range values, and
// answers a 4xx problem+json; then the stores are checked for any change. Property tests throw
// random bodies at the endpoints.

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, platform_key, startTestGateway, testCard, type BusinessFixture, patient_probes, type TestGateway } from './helpers.ts';
import { countRows, expectProblem, expectRefused, expectValidation, unique, walletOf } from './contract-util.ts';
import { body_bytes_max, list_body_bytes_max } from '../adapters/http/body.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let card: string;
let contact_id: string;
let offer_id: string;
let business_marker: string;

const counted = ['merchants', 'venues', 'terminals', 'contacts', 'offers', 'contact_cims'] as const;
let counts_before: Record<string, number>;

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of counted) out[table] = await countRows(gw, table, biz.business_id);
  return out;
}

beforeAll(async () => {
  gw = await startTestGateway(patient_probes);
  biz = await createBusiness(gw);
  card = testCard(30_001);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { tags: ['t'], cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  contact_id = c.body.id;
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5%', goal: 'spend', award: { percent: 5 } });
  expect(o.status, o.text).toBe(201);
  offer_id = o.body.id;
  business_marker = unique('BADINPUT');
  counts_before = await counts();
});
afterAll(async () => {
  await gw.close();
});

interface Endpoint {
  readonly method: string;
  readonly path: () => string;
  readonly key: () => string;
  /** A valid body, for the field-by-field variations. */
  readonly valid: () => Record<string, unknown>;
  /** The largest body it takes: 64 KiB, or 1 MiB for those whose lists go to 10,000 (adapters/http/body.ts). */
  readonly bytes_max?: number;
}

const endpoints: Record<string, Endpoint> = {
  businesses: { method: 'POST', path: () => '/v1/businesses', key: () => platform_key, valid: () => ({ name: business_marker, currency: 'EUR' }) },
  merchants: { method: 'POST', path: () => '/v1/merchants', key: () => biz.admin_key, valid: () => ({ name: 'M', code: 'BADM0001' }) },
  venues: { method: 'POST', path: () => '/v1/venues', key: () => biz.admin_key, valid: () => ({ name: 'V' }) },
  terminals: { method: 'POST', path: () => '/v1/terminals', key: () => biz.admin_key, valid: () => ({ venue_id: biz.venue_id, code: 'BADT0001' }) },
  contacts: { method: 'POST', path: () => '/v1/contacts', key: () => biz.admin_key, valid: () => ({ first_name: 'X' }) },
  cims: { method: 'POST', path: () => `/v1/contacts/${contact_id}/cims`, key: () => biz.admin_key, valid: () => ({ type: 'loyalty_id', value: 'BAD-L-1' }) },
  offers: { method: 'POST', path: () => '/v1/offers', key: () => biz.admin_key, valid: () => ({ name: 'O', goal: 'spend', award: { percent: 50 } }), bytes_max: list_body_bytes_max },
  contact_patch: { method: 'PATCH', path: () => `/v1/contacts/${contact_id}`, key: () => biz.admin_key, valid: () => ({ tags: ['changed'] }) },
  offer_patch: { method: 'PATCH', path: () => `/v1/offers/${offer_id}`, key: () => biz.admin_key, valid: () => ({ active: false }), bytes_max: list_body_bytes_max },
  purchases: {
    method: 'POST',
    path: () => '/v1/purchases',
    key: () => biz.terminal_key,
    valid: () => ({ reference: unique('bad-'), cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' }),
  },
};

const not_json = ['{', '{"name": ', '}', 'nul', "{'name': 'x'}", '{"a":1}garbage', '{"a":1,}', '\u0000', 'NaN'];
const not_objects = ['[]', '[{}]', '42', '-1', 'null', '"a string"', 'true', '1e400'];

/** Sends a raw body; the helper sends strings as they are. */
function send(e: Endpoint, body: string | Record<string, unknown>, headers: Record<string, string> = {}) {
  return call(gw, e.method, e.path(), e.key(), body, headers);
}

describe('malformed bodies on every endpoint', () => {
  for (const [name, e] of Object.entries(endpoints)) {
    it(`${e.method} ${name}: not JSON, empty, or JSON that is not an object → 400 validation_failed`, async () => {
      for (const body of [...not_json, ...not_objects]) {
        const res = await send(e, body);
        expectValidation(res);
      }
      // No body at all.
      const empty = await call(gw, e.method, e.path(), e.key());
      expectValidation(empty);
    });

    it(`${e.method} ${name}: a body over ${(e.bytes_max ?? body_bytes_max) / 1024} KiB → 400 problem+json validation_failed`, async () => {
      const big = { ...e.valid(), padding: 'x'.repeat((e.bytes_max ?? body_bytes_max) + 1024) };
      expectProblem(await send(e, big), 400, 'validation_failed');
      // Announced by Content-Length too.
      const text = JSON.stringify(big);
      expectProblem(await send(e, text, { 'content-length': String(Buffer.byteLength(text)) }), 400, 'validation_failed');
    });

    it(`${e.method} ${name}: strings PostgreSQL cannot hold (NUL, lone surrogate) → 400`, async () => {
      const valid = e.valid();
      const field = 'value' in valid ? 'value' : (Object.keys(valid).find((k) => typeof valid[k] === 'string') ?? 'name');
      for (const escape of ['\\u0000', '\\ud800', '\\udfff']) {
        const text = JSON.stringify({ ...valid, [field]: 'A_B' }).replace('A_B', `A${escape}B`);
        expectValidation(await send(e, text));
      }
    });
  }
});

describe('wrong types and out-of-range values', () => {
  it('POST /v1/purchases', async () => {
    const e = endpoints.purchases!;
    const variations: [Record<string, unknown>, string | RegExp][] = [
      [{ amount: -1 }, 'amount'],
      [{ amount: 0 }, 'amount'],
      [{ amount: 12.5 }, 'amount'],
      [{ amount: '1000' }, 'amount'],
      [{ amount: true }, 'amount'],
      [{ amount: null }, 'amount'],
      [{ amount: 1_000_000_000_000 }, 'amount'], // 13 digits
      [{ amount: 1e21 }, 'amount'],
      [{ amount: 9_007_199_254_740_993 }, 'amount'],
      [{ amount: undefined }, 'amount'],
      [{ currency: 'XYZ' }, 'currency'],
      [{ currency: 'eur' }, 'currency'],
      [{ currency: '' }, 'currency'],
      [{ currency: 978 }, 'currency'],
      [{ currency: 'USD' }, 'currency'],
      [{ currency: undefined }, 'currency'],
      [{ reference: 'r'.repeat(65) }, 'reference'],
      [{ reference: '' }, 'reference'],
      [{ reference: 42 }, 'reference'],
      [{ reference: undefined }, 'reference'],
      [{ cim: undefined }, 'cim'],
      [{ cim: 'card' }, 'cim'],
      [{ cim: null }, 'cim'],
      [{ cim: [] }, 'cim'],
      [{ cim: { type: 'iris', value: 'x' } }, 'cim.type'],
      [{ cim: { type: 'card' } }, 'cim.value'],
      [{ cim: { type: 'card', value: 4_242_424_242_424_242 } }, 'cim.value'],
      [{ cim: { type: 'card', value: '4242424242424241' } }, 'cim.value'], // fails Luhn
      [{ cim: { type: 'card', value: '' } }, 'cim.value'],
      [{ cim: { type: 'email', value: 'x'.repeat(300) } }, 'cim.value'],
      [{ items: {} }, 'items'],
      [{ items: [{ sku: 'A', quantity: 1, amount: 999 }] }, 'items'],
      [{ items: [{ sku: 'A', quantity: 1, amount: -1 }, { sku: 'B', quantity: 1, amount: 1001 }] }, 'items.0.amount'],
      [{ items: [{ sku: 'A', quantity: 0, amount: 1000 }] }, 'items.0.quantity'],
      [{ items: [{ sku: 1, quantity: 1, amount: 1000 }] }, 'items.0.sku'],
      [{ items: [{ sku: 'A', amount: 1000 }] }, 'items.0.quantity'],
      [{ items: Array.from({ length: 501 }, () => ({ sku: 'A', quantity: 1, amount: 2 })), amount: 1002 }, 'items'],
      [{ occurred_at: 'yesterday' }, 'occurred_at'],
      [{ occurred_at: 1_700_000_000 }, 'occurred_at'],
      [{ occurred_at: '2026-13-45T10:00:00Z' }, 'occurred_at'],
      [{ pay: 'wallet' }, 'pay'],
      [{ pay: { amount: 100 } }, 'pay'],
    ];
    const wallet = await walletOf(gw, biz.admin_key, contact_id);
    for (const [change, path] of variations) {
      const res = await send(e, { ...e.valid(), ...change });
      expectValidation(res, path);
    }
    expect(await walletOf(gw, biz.admin_key, contact_id)).toEqual(wallet);
  });

  it('POST /v1/offers amounts', async () => {
    const e = endpoints.offers!;
    for (const award of [{ fixed: -1 }, { fixed: 12.5 }, { fixed: '100' }, { fixed: 1e13 }, { percent: 100.5 }, { percent: null }]) {
      expectValidation(await send(e, { ...e.valid(), award }), /^award/);
    }
    for (const max_award of [-5, 1.5, '10', 1e13]) expectValidation(await send(e, { ...e.valid(), max_award }), 'max_award');
    for (const budget of [-5, 1.5]) expectValidation(await send(e, { ...e.valid(), limits: { budget } }), 'limits.budget');
    // A validity that ends before it starts (or as it starts) could never award: refused.
    for (const valid_to of ['2026-01-01T00:00:00Z', '2026-06-01T00:00:00Z']) {
      expectValidation(await send(e, { ...e.valid(), valid_from: '2026-06-01T00:00:00Z', valid_to }), 'valid_from');
    }
  });

  it('POST /v1/merchants, /v1/venues, /v1/terminals, /v1/businesses', async () => {
    for (const contribution_fee_percent of [-1, 100.01, '10', 10.555]) {
      expectValidation(await send(endpoints.merchants!, { name: 'M', code: 'BADM0002', contribution_fee_percent }), 'contribution_fee_percent');
    }
    expectValidation(await send(endpoints.merchants!, { name: 'M', code: 12345 }), 'code');
    expectValidation(await send(endpoints.venues!, { name: 'V', merchant_id: 42 }), 'merchant_id');
    expectValidation(await send(endpoints.venues!, { name: ['V'] }), 'name');
    expectValidation(await send(endpoints.terminals!, { venue_id: biz.venue_id, code: 42 }), 'code');
    expectValidation(await send(endpoints.terminals!, { venue_id: null, code: 'T1' }), 'venue_id');
    expectValidation(await send(endpoints.businesses!, { name: business_marker, currency: 'EUR', reward_resolution: 42 }), 'reward_resolution');
    expectValidation(await send(endpoints.businesses!, { name: business_marker, currency: ['EUR'] }), 'currency');
  });

  it('POST /v1/contacts and its CIMs', async () => {
    for (const cims of [{}, 'card', [{ type: 'card' }], [{ value: '4242' }], [{ type: 'card', value: 1234 }], [null]]) {
      expectValidation(await send(endpoints.contacts!, { cims }), /^cims/);
    }
    expectValidation(await send(endpoints.contacts!, { cims: Array.from({ length: 21 }, (_, i) => ({ type: 'loyalty_id', value: `L${i}` })) }), 'cims');
    expectValidation(await send(endpoints.contacts!, { tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }), 'tags');
    expectValidation(await send(endpoints.contacts!, { referred_by: 42 }), 'referred_by');
    expectValidation(await send(endpoints.cims!, { type: 'card', value: 42 }), 'value');
    expectValidation(await send(endpoints.cims!, { type: 'phone', value: '+1' }), 'value');
  });
});

describe('bad input changed nothing', () => {
  it('no row was added or changed, no wallet moved, no transaction was made', async () => {
    expect(await counts()).toEqual(counts_before);
    const sql = gw.processor.stores.sql;
    const [b] = await sql<{ n: number }[]>`select count(*)::int as n from businesses where name = ${business_marker}`;
    expect(b!.n).toBe(0);
    const contact = await call(gw, 'GET', `/v1/contacts/${contact_id}`, biz.admin_key);
    expect(contact.body.tags).toEqual(['t']);
    const offer = await call(gw, 'GET', `/v1/offers/${offer_id}`, biz.admin_key);
    expect(offer.body.active).toBe(true);
    expect(await walletOf(gw, biz.admin_key, contact_id)).toMatchObject({ open: 0, commerce: 0 });
    // One good purchase: once it is in the ledger (the writer drains in order), it is the only one.
    const good = await send(endpoints.purchases!, endpoints.purchases!.valid());
    expect(good.status, good.text).toBe(201);
    expect(good.body.wallet).toEqual({ open: 0, commerce: 50 });
    await eventually('recorded', async () => (await call(gw, 'GET', `/v1/transactions/${good.body.id}`, biz.admin_key)).body.ledger === 'recorded');
    expect(await countRows(gw, 'ledger_transactions', biz.business_id)).toBe(1);
  });
});

describe('properties: random bodies never yield a 5xx', () => {
  const problem_or_success = (res: Awaited<ReturnType<typeof call>>) => {
    if (res.status >= 400) expectRefused(res);
    else expect([200, 201], res.text).toContain(res.status);
  };

  it('random JSON values to POST /v1/purchases', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        problem_or_success(await call(gw, 'POST', '/v1/purchases', biz.terminal_key, JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });

  it('near-valid purchases: each field mostly valid, sometimes absent or random', async () => {
    const references = ['prop-a', 'prop-b', 'prop-c', 'prop-d']; // few, so replays and conflicts happen too
    // Weighted towards valid, so that whole bodies are often valid and reach the hot path.
    const field = <T>(valid: fc.Arbitrary<T>) =>
      fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: fc.jsonValue(), weight: 1 }, { arbitrary: fc.constant(undefined), weight: 1 });
    const optional = <T>(valid: fc.Arbitrary<T>) =>
      fc.oneof({ arbitrary: fc.constant(undefined), weight: 8 }, { arbitrary: valid, weight: 1 }, { arbitrary: fc.jsonValue(), weight: 1 });
    const cim = fc.oneof(
      { arbitrary: fc.constant({ type: 'card', value: card }), weight: 6 },
      { arbitrary: fc.record({ type: fc.constantFrom('card', 'phone', 'email', 'loyalty_id', 'gift_pass', 'wallet_code', 'contact_code', 'iris'), value: fc.oneof(fc.string(), fc.jsonValue()) }), weight: 2 },
      { arbitrary: fc.jsonValue(), weight: 1 },
    );
    const purchase = fc.record({
      reference: field(fc.constantFrom(...references)),
      cim,
      amount: field(fc.oneof(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: -10, max: 0 }), fc.double(), fc.constant(999_999_999_999), fc.constant(1e12))),
      currency: field(fc.constantFrom('EUR', 'EUR', 'EUR', 'USD', 'eur', '')),
      items: optional(fc.array(fc.record({ sku: field(fc.string({ minLength: 1 })), quantity: optional(fc.integer()), amount: field(fc.integer({ min: -5, max: 2000 })) }), { maxLength: 3 })),
      occurred_at: optional(fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string())),
      pay: optional(fc.record({ amount: fc.jsonValue(), otp: fc.jsonValue() })),
    });
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(purchase, async (body) => {
        const text = JSON.stringify(Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)));
        const res = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, text);
        problem_or_success(res);
        seen.add(res.status >= 400 ? res.body.code : String(res.status));
      }),
      { numRuns: 400 },
    );
    // The bodies reached past validation: purchases were made, replayed and refused as conflicts.
    expect([...seen].sort()).toEqual(expect.arrayContaining(['201', 'idempotency_conflict', 'validation_failed']));
  });

  it('random text (not necessarily JSON) to POST /v1/purchases', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 200 }), async (text) => {
        problem_or_success(await call(gw, 'POST', '/v1/purchases', biz.terminal_key, text));
      }),
      { numRuns: 200 },
    );
  });

  it('random JSON objects to every other POST and PATCH endpoint', async () => {
    const others = Object.entries(endpoints).filter(([name]) => name !== 'purchases' && name !== 'businesses');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...others), fc.oneof(fc.jsonValue(), fc.dictionary(fc.constantFrom('name', 'code', 'type', 'value', 'cims', 'tags', 'award', 'goal', 'timezone', 'venue_id', 'merchant_id', 'birth_date', 'conditions'), fc.jsonValue())), async ([, e], value) => {
        problem_or_success(await call(gw, e.method, e.path(), e.key(), JSON.stringify(value)));
      }),
      { numRuns: 300 },
    );
  });
});
