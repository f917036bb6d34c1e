// Contract: authentication and key kinds, the platform and business-network endpoints, and the
// operations endpoints, request by request through the HTTP API.

import { describe, expect, it } from 'vitest';
import { businessGatewayForFile } from './business-gateway.ts';
import { call, createBusiness, platform_key, type BusinessFixture, type TestGateway } from './helpers.ts';
import { countRows, expectProblem, expectValidation, unique } from './contract-util.ts';

let gw: TestGateway;
let biz: BusinessFixture;
businessGatewayForFile((made) => ({ gw, biz } = made));

describe('authentication', () => {
  const routes: [string, string, unknown?][] = [
    ['GET', '/v1/offers'],
    ['POST', '/v1/purchases', { reference: 'r', cim: { type: 'email', value: 'a@b.co' }, amount: 100, currency: 'EUR' }],
    ['POST', '/v1/businesses', { name: 'x', currency: 'EUR' }],
    ['POST', '/v1/contacts', {}],
    ['GET', '/v1/wallets?cim_type=email&cim_value=a@b.co'],
    ['GET', '/v1/transactions/txn_x'],
  ];

  it('answers 401 unauthorized problem+json without an Authorization header', async () => {
    for (const [method, path, body] of routes) {
      const r = await call(gw, method, path, undefined, body);
      expectProblem(r, 401, 'unauthorized');
      // The scheme its credentials take (RFC 9110 §11.6.1, RFC 6750 §3).
      expect(r.headers.get('www-authenticate'), path).toBe('Bearer');
    }
  });

  it('answers 401 to malformed Authorization headers', async () => {
    const headers = ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', biz.admin_key, `Token ${biz.admin_key}`, `Bearer ${'k'.repeat(300)}`, `Bearer${biz.admin_key}`];
    for (const authorization of headers) {
      expectProblem(await call(gw, 'GET', '/v1/offers', undefined, undefined, { authorization }), 401, 'unauthorized');
    }
  });

  it('takes the scheme name in any case (RFC 9110)', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const res = await call(gw, 'GET', '/v1/offers', undefined, undefined, { authorization: `${scheme} ${biz.admin_key}` });
      expect(res.status, `${scheme}: ${res.text}`).toBe(200);
    }
  });

  it('answers 401 to unknown keys, including a near miss of a real one', async () => {
    for (const key of ['sk_doesnotexist', `${biz.admin_key}x`, biz.admin_key.slice(0, -1), `${platform_key}x`]) {
      expectProblem(await call(gw, 'GET', '/v1/offers', key), 401, 'unauthorized');
    }
  });

  it('answers 403 forbidden to a terminal key on admin routes', async () => {
    const admin_routes: [string, string, unknown?][] = [
      ['POST', '/v1/merchants', { name: 'M', code: unique('TM') }],
      ['POST', '/v1/venues', { name: 'V' }],
      ['POST', '/v1/terminals', { venue_id: biz.venue_id, code: 'T9' }],
      ['POST', '/v1/contacts', { first_name: 'Eve' }],
      ['POST', '/v1/offers', { name: 'x', goal: 'spend', award: { percent: 5 } }],
      ['GET', '/v1/offers'],
      ['GET', '/v1/transactions/txn_x'],
      ['GET', '/v1/contacts/con_x'],
    ];
    for (const [method, path, body] of admin_routes) {
      expectProblem(await call(gw, method, path, biz.terminal_key, body), 403, 'forbidden');
    }
    // A refused call changes nothing.
    expect(await countRows(gw, 'contacts', biz.business_id)).toBe(0);
    expect(await countRows(gw, 'offers', biz.business_id)).toBe(0);
    expect(await countRows(gw, 'venues', biz.business_id)).toBe(1);
  });

  it('answers 403 to a terminal key on the streamed contact import', async () => {
    const res = await call(gw, 'POST', '/v1/contacts/import', biz.terminal_key, '{"first_name":"Eve"}\n', { 'content-type': 'application/x-ndjson' });
    expectProblem(res, 403, 'forbidden');
    expect(await countRows(gw, 'contacts', biz.business_id)).toBe(0);
  });

  it('answers 403 to an admin key on POST /v1/purchases', async () => {
    const res = await call(gw, 'POST', '/v1/purchases', biz.admin_key, { reference: 'adm-1', cim: { type: 'email', value: 'a@b.co' }, amount: 100, currency: 'EUR' });
    expectProblem(res, 403, 'forbidden');
  });

  it('answers 403 to the platform key on admin and POS routes', async () => {
    expectProblem(await call(gw, 'POST', '/v1/merchants', platform_key, { name: 'M', code: 'PM1' }), 403, 'forbidden');
    expectProblem(await call(gw, 'POST', '/v1/contacts', platform_key, {}), 403, 'forbidden');
    expectProblem(await call(gw, 'GET', '/v1/offers', platform_key), 403, 'forbidden');
    expectProblem(await call(gw, 'GET', `/v1/transactions/txn_x`, platform_key), 403, 'forbidden');
    expectProblem(await call(gw, 'POST', '/v1/purchases', platform_key, { reference: 'p', cim: { type: 'email', value: 'a@b.co' }, amount: 1, currency: 'EUR' }), 403, 'forbidden');
    expectProblem(await call(gw, 'GET', '/v1/wallets?cim_type=email&cim_value=a@b.co', platform_key), 403, 'forbidden');
  });

  it('answers 403 to business keys on POST /v1/businesses', async () => {
    const name = unique('Forbidden biz ');
    expectProblem(await call(gw, 'POST', '/v1/businesses', biz.admin_key, { name, currency: 'EUR' }), 403, 'forbidden');
    expectProblem(await call(gw, 'POST', '/v1/businesses', biz.terminal_key, { name, currency: 'EUR' }), 403, 'forbidden');
    const sql = gw.processor.stores.sql;
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from businesses where name = ${name}`;
    expect(row!.n).toBe(0);
  });

  it('stores keys only as hashes', async () => {
    const sql = gw.processor.stores.sql;
    const rows = await sql`select * from api_keys where business_id = ${biz.business_id}`;
    expect(rows).toHaveLength(2); // the admin key and the terminal key
    const stored = JSON.stringify(rows);
    for (const key of [biz.admin_key, biz.terminal_key]) {
      expect(stored).not.toContain(key);
      // Not even the secret part without its prefix.
      expect(stored).not.toContain(key.slice(3));
    }
    const network = JSON.stringify([
      ...(await sql`select * from businesses where id = ${biz.business_id}`),
      ...(await sql`select * from terminals where business_id = ${biz.business_id}`),
    ]);
    expect(network).not.toContain(biz.admin_key.slice(3));
    expect(network).not.toContain(biz.terminal_key.slice(3));
  });
});

describe('POST /v1/businesses', () => {
  it('creates a business with reward_resolution "all" by default and returns a working admin key', async () => {
    const name = unique('Biz ');
    const res = await call(gw, 'POST', '/v1/businesses', platform_key, { name, currency: 'GBP' });
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ name, currency: 'GBP', reward_resolution: 'all' });
    expect(typeof res.body.id).toBe('string');
    expect(typeof res.body.admin_key).toBe('string');
    expect(res.body.admin_key.length).toBeGreaterThanOrEqual(20);
    const offers = await call(gw, 'GET', '/v1/offers', res.body.admin_key);
    expect(offers.status).toBe(200);
  });

  it('accepts each resolution mode', async () => {
    for (const reward_resolution of ['all', 'best', 'best_per_scheme']) {
      const res = await call(gw, 'POST', '/v1/businesses', platform_key, { name: unique('Biz '), currency: 'EUR', reward_resolution });
      expect(res.status, res.text).toBe(201);
      expect(res.body.reward_resolution).toBe(reward_resolution);
    }
  });

  it('gives every business its own id and admin key', async () => {
    const a = await call(gw, 'POST', '/v1/businesses', platform_key, { name: unique('Biz '), currency: 'EUR' });
    const b = await call(gw, 'POST', '/v1/businesses', platform_key, { name: unique('Biz '), currency: 'EUR' });
    expect(a.body.id).not.toBe(b.body.id);
    expect(a.body.admin_key).not.toBe(b.body.admin_key);
  });

  it('refuses a bad currency with 400 validation_failed naming currency', async () => {
    for (const currency of ['EURO', 'eur', 'ABC', 'XXX', '', 978, null]) {
      expectValidation(await call(gw, 'POST', '/v1/businesses', platform_key, { name: 'Bad currency', currency }), 'currency');
    }
    expectValidation(await call(gw, 'POST', '/v1/businesses', platform_key, { name: 'No currency' }), 'currency');
  });

  it('refuses a bad name or resolution mode', async () => {
    expectValidation(await call(gw, 'POST', '/v1/businesses', platform_key, { currency: 'EUR' }), 'name');
    expectValidation(await call(gw, 'POST', '/v1/businesses', platform_key, { name: '   ', currency: 'EUR' }), 'name');
    expectValidation(await call(gw, 'POST', '/v1/businesses', platform_key, { name: 'x', currency: 'EUR', reward_resolution: 'most' }), 'reward_resolution');
  });
});

describe('POST /v1/merchants', () => {
  it('creates a merchant', async () => {
    const code = unique('MC').slice(0, 15);
    const res = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Bakery', code, contribution_fee_percent: 12.5, settle_on: 'spend' });
    expect(res.status, res.text).toBe(201);
    expect(typeof res.body.id).toBe('string');
    expect(res.body).toMatchObject({ name: 'Bakery', code, contribution_fee_percent: 12.5, settle_on: 'spend' });
  });

  it('refuses a duplicate code within one business but not across businesses', async () => {
    const code = unique('DUP').slice(0, 15);
    const first = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'One', code });
    expect(first.status, first.text).toBe(201);
    const before = await countRows(gw, 'merchants', biz.business_id);
    const again = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Two', code });
    expect(again.status, again.text).toBeGreaterThanOrEqual(400);
    expect(again.status).toBeLessThan(500);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await countRows(gw, 'merchants', biz.business_id)).toBe(before);

    const other = await createBusiness(gw);
    const elsewhere = await call(gw, 'POST', '/v1/merchants', other.admin_key, { name: 'Same code elsewhere', code });
    expect(elsewhere.status, elsewhere.text).toBe(201);
  });

  it('refuses bad merchant bodies', async () => {
    expectValidation(await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'x', code: '1234567890123456' }), 'code'); // 16 > 15
    expectValidation(await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'x', code: '' }), 'code');
    // DE42 is ans15, padded with spaces: a code no ISO 8583 message could name.
    for (const code of ['   ', 'SHOP1 ', ' SHOP1', 'CAFÉ', 'A\tB']) expectValidation(await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'x', code }), 'code');
    expect((await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'x', code: 'SHOP 1/A' })).status).toBe(201);
    expectValidation(await call(gw, 'POST', '/v1/merchants', biz.admin_key, { code: 'NONAME' }), 'name');
    expectValidation(await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'x', code: 'F1', contribution_fee_percent: 101 }), 'contribution_fee_percent');
    expectValidation(await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'x', code: 'F2', contribution_fee_percent: -1 }), 'contribution_fee_percent');
    expectValidation(await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'x', code: 'F3', settle_on: 'never' }), 'settle_on');
  });
});

describe('POST /v1/venues', () => {
  it("creates the business's own venue in UTC by default", async () => {
    const res = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Own shop' });
    expect(res.status, res.text).toBe(201);
    expect(typeof res.body.id).toBe('string');
    expect(res.body).toMatchObject({ name: 'Own shop', timezone: 'UTC' });
    expect(res.body.merchant_id ?? null).toBeNull();
  });

  it("creates a merchant's venue with a time zone", async () => {
    const res = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Lisbon', merchant_id: biz.merchant_id, timezone: 'Europe/Lisbon' });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ merchant_id: biz.merchant_id, timezone: 'Europe/Lisbon' });
  });

  it("answers 404 for an unknown merchant and for another business's merchant alike", async () => {
    const other = await createBusiness(gw);
    const before = await countRows(gw, 'venues', biz.business_id);
    const unknown = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'x', merchant_id: 'mer_doesnotexist' });
    const foreign = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'x', merchant_id: other.merchant_id });
    expectProblem(unknown, 404, 'not_found');
    expectProblem(foreign, 404, 'not_found');
    expect(foreign.body.title).toBe(unknown.body.title);
    expect(await countRows(gw, 'venues', biz.business_id)).toBe(before);
  });

  it('refuses a time zone that is not an IANA name', async () => {
    for (const timezone of ['Mars/Olympus_Mons', 'Europe/Lisbonn', '', 42]) {
      expectValidation(await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'x', timezone }), 'timezone');
    }
  });
});

describe('POST /v1/terminals', () => {
  it('returns the terminal with its api_key once, and the key works at the POS', async () => {
    const res = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: 'T0000002' });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ code: 'T0000002', venue_id: biz.venue_id });
    expect(typeof res.body.id).toBe('string');
    expect(typeof res.body.api_key).toBe('string');
    expect(res.body.api_key).not.toBe(biz.terminal_key);
    // Authenticated as a terminal: an unknown CIM is contact_not_found, not 401/403.
    const w = await call(gw, 'GET', '/v1/wallets?cim_type=email&cim_value=nobody@example.com', res.body.api_key);
    expectProblem(w, 404, 'contact_not_found');
    // And it is a terminal key, not an admin key.
    expectProblem(await call(gw, 'GET', '/v1/offers', res.body.api_key), 403, 'forbidden');
  });

  it("works at the business's own venue", async () => {
    const v = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Own till' });
    const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: v.body.id, code: 'OWN00001' });
    expect(t.status, t.text).toBe(201);
  });

  it("answers 404 for an unknown venue and for another business's venue alike", async () => {
    const other = await createBusiness(gw);
    const before = await countRows(gw, 'terminals', biz.business_id);
    const unknown = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: 'ven_doesnotexist', code: 'T1' });
    const foreign = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: other.venue_id, code: 'T1' });
    expectProblem(unknown, 404, 'not_found');
    expectProblem(foreign, 404, 'not_found');
    expect(await countRows(gw, 'terminals', biz.business_id)).toBe(before);
  });

  it('refuses a duplicate code at one merchant and bad bodies', async () => {
    const dup = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: biz.terminal_code });
    expect(dup.status, dup.text).toBeGreaterThanOrEqual(400);
    expect(dup.status).toBeLessThan(500);
    expect(dup.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expectValidation(await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: 'T12345678' }), 'code'); // 9 > 8
    for (const code of ['        ', 'T1 ', 'ÄÖÜÄÖÜÄÖ']) expectValidation(await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code }), 'code');
    expectValidation(await call(gw, 'POST', '/v1/terminals', biz.admin_key, { code: 'T1' }), 'venue_id');
  });
});

describe('operations', () => {
  it('GET /healthz answers 200', async () => {
    const res = await call(gw, 'GET', '/healthz', undefined);
    expect(res.status).toBe(200);
  });

  it('GET /readyz answers 200 with Redis and PostgreSQL ok and the ledger lag counted', async () => {
    const res = await call(gw, 'GET', '/readyz', undefined);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ redis: 'ok', postgres: 'ok' });
    expect(Number.isInteger(res.body.ledger_lag) && res.body.ledger_lag >= 0).toBe(true);
  });

  it('GET /metrics is Prometheus text with the request latency histogram', async () => {
    await call(gw, 'GET', '/healthz', undefined);
    const res = await call(gw, 'GET', '/metrics', undefined);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.text).toContain('# TYPE pocketgate_http_request_duration_seconds histogram');
    expect(res.text).toMatch(/pocketgate_http_request_duration_seconds_bucket\{[^}]*le="/);
  });

  it('GET /openapi.json is OpenAPI 3.1 listing the contract paths', async () => {
    const res = await call(gw, 'GET', '/openapi.json', undefined);
    expect(res.status, res.text.slice(0, 500)).toBe(200);
    expect(String(res.body.openapi)).toMatch(/^3\.1\./);
    expect(res.body.paths['/v1/purchases']?.post).toBeDefined();
    for (const path of ['/v1/businesses', '/v1/contacts', '/v1/contacts/import', '/v1/offers', '/v1/wallets']) expect(res.body.paths[path], path).toBeDefined();
  });

  it('GET /docs answers 200 HTML', async () => {
    const res = await call(gw, 'GET', '/docs', undefined);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.text).toContain('/openapi.json');
  });

  it('answers an unknown endpoint with a 404 problem', async () => {
    expectProblem(await call(gw, 'GET', '/v1/nothing-here', biz.admin_key), 404, 'not_found');
  });
});
