// Bodies a client controls down to the byte: deeply nested JSON holding a string no store can
// hold, and bytes that are not UTF-8. Each is a 400 that changes nothing, on every JSON route;
// never a 500, never a replacement character stored as if the client had sent it.

import { describe, expect, it } from 'vitest';
import { businessGatewayForFile } from './business-gateway.ts';
import { call, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { countRows, expectValidation } from './contract-util.ts';
import { createProcessor, postCallback, sale, transactionId } from './callback-helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
businessGatewayForFile((made) => ({ gw, biz } = made));

/** JSON nested `depth` arrays deep around one string, as text (no recursion to build it). */
function nested(depth: number, inner: string): string {
  return `{"reference":"deep","cim":${'['.repeat(depth)}${inner}${']'.repeat(depth)}}`;
}

async function raw(path: string, key: string, body: string | Uint8Array) {
  const res = await gw.app.request(path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: JSON.parse(text) };
}

describe('deeply nested JSON holding U+0000 or an unpaired surrogate', () => {
  for (const inner of ['"\\u0000"', '"\\ud800"']) {
    it(`is 400 on every JSON route, at any depth (${inner})`, async () => {
      const body = nested(32_000, inner); // just under the 64 KiB body limit
      for (const [path, key] of [['/v1/purchases', biz.terminal_key], ['/v1/contacts', biz.admin_key], ['/v1/offers', biz.admin_key], ['/v1/merchants', biz.admin_key]] as const) {
        const res = await raw(path, key, body);
        expectValidation(res as never);
      }
      // Shallow, the path names where it is.
      const shallow = await raw('/v1/contacts', biz.admin_key, `{"first_name":"a","tags":["x",${inner}]}`);
      expectValidation(shallow as never, 'tags.1');
    });
  }

  it('names a deep path by its first 32 segments: the answer stays small, the error cheap', async () => {
    // Spelled at every level, the path of a body nested 500,000 deep held the event loop for
    // seconds and came back as 2 MB (a bad-input probe, 2026-12-07).
    const res = await raw('/v1/purchases', biz.terminal_key, nested(32_000, '"\\u0000"'));
    expectValidation(res as never, `cim.${'0.'.repeat(31)}…`);
    expect(res.text.length).toBeLessThan(1_000);
  });
});

describe('a body that is not UTF-8', () => {
  it('is 400 and stores nothing (no U+FFFD in its place)', async () => {
    const before = await countRows(gw, 'contacts', biz.business_id);
    const prefix = new TextEncoder().encode('{"first_name":"Jos');
    const suffix = new TextEncoder().encode('","cims":[{"type":"card","value":"' + testCard(15_000_001) + '"}]}');
    for (const bad of [[0xe9], [0xc3], [0xed, 0xa0, 0x80], [0xff, 0xfe]]) {
      const body = new Uint8Array([...prefix, ...bad, ...suffix]);
      const res = await raw('/v1/contacts', biz.admin_key, body);
      expectValidation(res as never);
      expect(res.text).toContain('UTF-8');
    }
    expect(await countRows(gw, 'contacts', biz.business_id)).toBe(before);
    // The same name in UTF-8 is taken as it is.
    const good = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'José' });
    expect(good.status).toBe(201);
  });
});

describe('query strings', () => {
  it('that PostgreSQL could not take are 400 (periods) or 404 (ids), never 500', async () => {
    const contact = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Q' });
    const statement = (q: string) => call(gw, 'GET', `/v1/contacts/${contact.body.id}/statement?${q}`, biz.admin_key);
    const settlements = (q: string) => call(gw, 'GET', `/v1/settlements?${q}`, biz.admin_key);
    for (const q of ['from=0000-01-01T00:00:00Z', 'to=9999-12-31T23:59:59-14:00', 'from=2026-13-01T00:00:00Z', 'from=2026-11-24T10:15:00', 'from=%00']) {
      expectValidation((await statement(q)) as never, /from|to/);
      expectValidation((await settlements(q)) as never, /from|to/);
    }
    for (const id of ['%00', 'mer_%00x', '%F0%9F%98%80']) {
      const res = await settlements(`merchant_id=${id}`);
      expect(res.status, res.text).toBe(404);
    }
    // A list's cursor holding U+0000 (found by test/fuzz.test.ts): PostgreSQL cannot compare it.
    const hook = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: 'https://example.com/cursor', events: ['*'] });
    expect(hook.status, hook.text).toBe(201);
    for (const path of ['/v1/merchants', '/v1/venues', '/v1/terminals', `/v1/webhooks/${hook.body.id}/deliveries`]) {
      for (const q of ['starting_after=a%00b', 'starting_after=%00&starting_after=u']) {
        expectValidation((await call(gw, 'GET', `${path}?${q}`, biz.admin_key)) as never, 'starting_after');
      }
    }
    // A CIM value in a query holding U+0000: an email's reached PostgreSQL's look-up by details,
    // whose refusal read as an outage (503 "try again", a probe, 2026-12-07).
    for (const key of [biz.admin_key, biz.terminal_key]) {
      for (const [type, value] of [['email', 'nobody%40example.com%00'], ['phone', '%2B447700900123%00'], ['loyalty_id', 'L%00']]) {
        expectValidation((await call(gw, 'GET', `/v1/wallets?cim_type=${type}&cim_value=${value}`, key)) as never, 'cim_value');
      }
    }
    // The edges of the range, and an offset, are periods like any other.
    expect((await statement('from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z')).status).toBe(200);
    expect((await settlements('from=2026-11-24T10:15:00.123456%2B01:00')).status).toBe(200);
  });
});

describe('what a route does not take', () => {
  const send = async (path: string, key: string, body: string | Uint8Array, headers: Record<string, string>) => {
    const res = await gw.app.request(path, { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers }, body });
    return { status: res.status, text: await res.text() };
  };

  it('a Content-Type other than JSON, another charset, or a Content-Encoding: 400 validation_failed (the status API.md gives it), nothing stored', async () => {
    const before = await countRows(gw, 'contacts', biz.business_id);
    const body = JSON.stringify({ first_name: 'Typed' });
    const refused: Record<string, string>[] = [
      { 'content-type': 'application/xml' },
      { 'content-type': 'application/json; charset=iso-8859-1' },
      { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    ];
    for (const headers of refused) {
      const res = await send('/v1/contacts', biz.admin_key, body, headers);
      expect(res.status, `${JSON.stringify(headers)}: ${res.text}`).toBe(400);
      expect(JSON.parse(res.text).code).toBe('validation_failed');
    }
    expect(await countRows(gw, 'contacts', biz.business_id)).toBe(before);
    // text/plain: what fetch types a string body with; it still has to be JSON (400 otherwise).
    for (const headers of [{ 'content-type': 'application/json; charset=UTF-8' }, { 'content-type': 'application/merge-patch+json' }, { 'content-type': 'text/plain;charset=UTF-8' }, { 'content-type': 'application/json; charset=us-ascii' }, { 'content-type': '' }]) {
      expect((await send('/v1/contacts', biz.admin_key, body, headers)).status).toBe(201);
    }
    // No Content-Type at all (bytes: a string body would be typed text/plain by fetch itself).
    expect((await send('/v1/contacts', biz.admin_key, new TextEncoder().encode(body), {})).status).toBe(201);
    const not_json = await send('/v1/contacts', biz.admin_key, 'first_name=Typed', { 'content-type': 'text/plain' });
    expect(not_json.status, not_json.text).toBe(400);
    // What `curl -d '{...}'` sends without -H: a JSON body typed as a form (400 until 2026-12-06:
    // a POS probe). A form's own body is still not JSON: 400.
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await send('/v1/contacts', biz.admin_key, body, form)).status).toBe(201);
    const latin1_form = await send('/v1/contacts', biz.admin_key, body, { 'content-type': 'application/x-www-form-urlencoded; charset=iso-8859-1' });
    expect(latin1_form.status, latin1_form.text).toBe(400);
    const form_body = await send('/v1/contacts', biz.admin_key, 'first_name=Typed', form);
    expect([form_body.status, JSON.parse(form_body.text).code], form_body.text).toEqual([400, 'validation_failed']);
  });

  it('an import that is not NDJSON: 400, nothing imported', async () => {
    const before = await countRows(gw, 'contacts', biz.business_id);
    const res = await send('/v1/contacts/import', biz.admin_key, '{"first_name":"a"}\n{"first_name":"b"}\n', { 'content-type': 'text/csv' });
    expect(res.status, res.text).toBe(400);
    expect(await countRows(gw, 'contacts', biz.business_id)).toBe(before);
  });

  it('a card number sent where an id goes is not answered whole in the problem (API audit)', async () => {
    const pan = '4012888888881881';
    for (const path of [`/v1/contacts/${pan}`, `/v1/settlements?merchant_id=${pan}`, `/v1/transactions/${pan}`]) {
      const res = await call(gw, 'GET', path, biz.admin_key);
      expect(res.status, path).toBe(404);
      expect(res.text, path).not.toContain(pan);
    }
  });

  it('an import is NDJSON by each of its names: application/x-ndjson, application/ndjson, application/jsonl, application/json-lines', async () => {
    for (const type of ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/json-lines']) {
      const res = await send('/v1/contacts/import', biz.admin_key, '{"first_name":"a"}\n', { 'content-type': type });
      expect([res.status, JSON.parse(res.text).imported], type).toEqual([200, 1]);
    }
  });

  it('a wallet-code rotation with a body: 400, the code unchanged', async () => {
    const contact = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'W' });
    const res = await call(gw, 'POST', `/v1/contacts/${contact.body.id}/wallet-code`, biz.admin_key, { wallet_code: '1234567812345670' });
    expectValidation(res as never);
    expect((await call(gw, 'GET', `/v1/contacts/${contact.body.id}`, biz.admin_key)).body.wallet_code).toBe(contact.body.wallet_code);
    const rotated = await gw.app.request(`/v1/contacts/${contact.body.id}/wallet-code`, { method: 'POST', headers: { authorization: `Bearer ${biz.admin_key}` } });
    expect(rotated.status).toBe(201);
  });
});

describe('an NDJSON import', () => {
  it('fails each bad line alone, whatever it holds, and imports the rest', async () => {
    const before = await countRows(gw, 'contacts', biz.business_id);
    const enc = new TextEncoder();
    const lines = [
      enc.encode(JSON.stringify({ first_name: 'Before' })),
      enc.encode(`{"first_name":"Deep","tags":${'['.repeat(30_000)}"\\u0000"${']'.repeat(30_000)}}`),
      new Uint8Array([...enc.encode('{"first_name":"Jos'), 0xe9, ...enc.encode('"}')]),
      enc.encode('{"first_name":"\\ud800"}'),
      enc.encode(JSON.stringify({ first_name: 'After' })),
    ];
    const body = new Uint8Array(lines.reduce((n, l) => n + l.length + 1, 0));
    let at = 0;
    for (const l of lines) {
      body.set(l, at);
      body[at + l.length] = 10;
      at += l.length + 1;
    }
    const res = await gw.app.request('/v1/contacts/import', { method: 'POST', headers: { authorization: `Bearer ${biz.admin_key}`, 'content-type': 'application/x-ndjson' }, body });
    const out = (await res.json()) as { imported: number; failed: number; errors: { line: number }[] };
    expect(res.status, JSON.stringify(out)).toBe(200);
    expect(out).toMatchObject({ imported: 2, failed: 3 });
    expect(out.errors.map((e) => e.line)).toEqual([2, 3, 4]);
    expect(await countRows(gw, 'contacts', biz.business_id)).toBe(before + 2);
  });
});

describe('a processor callback of a type the API refuses', () => {
  it('is 400 validation_failed once signed, nothing booked; JSON, no charset or UTF-8, and text/plain are taken (a probe: any type was)', async () => {
    const p = await createProcessor(gw, biz);
    const event = () => sale('transaction.cleared', { transaction_id: transactionId(), card: { number: testCard(9_600_001) }, amount: 500, currency: 'EUR', merchant_code: biz.merchant_code });
    for (const content_type of ['application/xml', 'application/json; charset=iso-8859-1', 'multipart/form-data; boundary=x']) {
      const res = await postCallback(gw, p, event(), { content_type });
      expect([res.status, res.body.code], `${content_type}: ${res.text}`).toEqual([400, 'validation_failed']);
    }
    const unsigned = await postCallback(gw, p, event(), { content_type: 'application/xml', signature: null });
    expect(unsigned.status).toBe(401);
    for (const content_type of ['application/json', 'application/json; charset=utf-8', 'text/plain']) {
      const res = await postCallback(gw, p, event(), { content_type });
      // Read: a card no contact has is ignored (EVENTS.md), not refused as a bad body.
      expect([res.status, res.body.status], `${content_type}: ${res.text}`).toEqual([200, 'ignored']);
    }
  });
});

