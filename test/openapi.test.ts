// The OpenAPI document is generated from the routes' declarations: every route the app serves is
// in it, with its method, nothing else is, and the document is a valid OpenAPI 3.1 document.

import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { call, startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let doc: { openapi: string; paths: Record<string, Record<string, { security?: unknown[] }>> };

beforeAll(async () => {
  gw = await startTestGateway();
  const res = await call(gw, 'GET', '/openapi.json', undefined);
  expect(res.status).toBe(200);
  doc = res.body;
});
afterAll(async () => {
  await gw?.close();
});

/** `GET /v1/contacts/{id}` for each operation of the document. */
function documented(): string[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
}

/** The same for each route the app's router serves (its middleware, method ALL, aside). */
function served(): string[] {
  const routes = gw.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
  return [...new Set(routes)];
}

it('lists every route the app serves, with its method, and none it does not', () => {
  const routes = served();
  expect(routes.length).toBeGreaterThan(45);
  const listed = new Set(documented());
  expect(routes.filter((r) => !listed.has(r))).toEqual([]);
  const serving = new Set(routes);
  expect(documented().filter((r) => !serving.has(r))).toEqual([]);
  // The ones most easily forgotten.
  for (const r of ['POST /v1/purchases/quote', 'GET /v1/terminal', 'POST /v1/webhooks', 'POST /v1/processors', 'POST /v1/callbacks/{processor_id}', 'GET /readyz', 'GET /openapi.json']) {
    expect(listed.has(r), r).toBe(true);
  }
});

it('is a valid OpenAPI 3.1 document', async () => {
  expect(doc.openapi).toBe('3.1.0');
  const result = await new Validator().validate(doc as never);
  expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
  expect(result.valid).toBe(true);
});

it('says which routes take a key: all of /v1 but the callbacks, signed instead', () => {
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const keyed = path.startsWith('/v1/') && !path.startsWith('/v1/callbacks/');
      expect(operation.security !== undefined, `${method} ${path}`).toBe(keyed);
    }
  }
});

it('/docs loads everything it needs from the gateway itself, none of it from a CDN', async () => {
  const page = await gw.app.request('/docs');
  expect(page.status).toBe(200);
  const html = await page.text();
  const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  expect(urls.length).toBeGreaterThanOrEqual(2);
  for (const url of urls) {
    expect(url, 'a path on the gateway').toMatch(/^\/[^/]/);
    const asset = await gw.app.request(url);
    expect(asset.status, url).toBe(200);
    expect(asset.headers.get('content-type'), url).toMatch(url.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
    expect((await asset.arrayBuffer()).byteLength, url).toBeGreaterThan(10_000);
  }
});

it('names the query parameters of the routes that read one, as their handlers check them', () => {
  const parameters = (path: string) => ((doc.paths[path]!.get as { parameters?: { name: string; in: string; required?: boolean }[] }).parameters ?? []).filter((p) => p.in === 'query');
  const wallets = parameters('/v1/wallets');
  expect(wallets.map((p) => [p.name, p.required === true])).toEqual([
    ['cim_type', true],
    ['cim_value', true],
  ]);
  expect(parameters('/v1/contacts/{id}/statement').map((p) => p.name)).toEqual(['from', 'to']);
});

it('types every list\'s limit as the integer bounds its handler checks (a read-back probe: a string of digits, no bounds)', () => {
  const limits: [string, unknown][] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, { get?: { parameters?: { name: string; in: string; schema: unknown }[] } }>)) {
    for (const p of item.get?.parameters ?? []) if (p.in === 'query' && p.name === 'limit') limits.push([path, p.schema]);
  }
  expect(limits.length).toBeGreaterThanOrEqual(10);
  for (const [path, schema] of limits) {
    const max = ['/v1/transactions', '/v1/contacts/{id}/transactions'].includes(path) ? 100 : 1_000;
    expect(schema, path).toMatchObject({ type: 'integer', minimum: 1, maximum: max });
    expect(schema, path).not.toHaveProperty('pattern');
  }
});

it("states the percents' rules the server enforces: 0 to 100, at most 2 decimals (API audit, 2026-12-04)", () => {
  const text = JSON.stringify(doc);
  // Each percent's schema, wherever the generator put it (inline or under components).
  const percents = [...text.matchAll(/"(contribution_fee_percent|percent)":\{[^{}]*\}/g)].map((m) => JSON.parse(`{${m[0]}}`)[m[1]!]);
  expect(percents.length).toBeGreaterThan(1);
  for (const p of percents.filter((x) => x.type === 'number' && x.readOnly !== true && x.description !== undefined)) {
    expect(p).toMatchObject({ minimum: 0, maximum: 100, description: '0 to 100, at most 2 decimals' });
  }
  expect(percents.filter((x) => x.description === '0 to 100, at most 2 decimals').length).toBeGreaterThanOrEqual(2);
});

it('documents the headers the contract names: Idempotent-Replayed on the POS calls under a reference, Pocketgate-Signature on callbacks, and the error codes (a key matrix probe)', () => {
  const raw = doc as unknown as {
    paths: Record<string, Record<string, { parameters?: { in: string; name: string; required?: boolean }[]; responses: Record<string, { headers?: Record<string, unknown> }> }>>;
    components: { schemas: Record<string, { properties: Record<string, { enum?: string[] }> }> };
  };
  for (const path of ['/v1/purchases', '/v1/redemptions', '/v1/spends', '/v1/refunds', '/v1/reversals']) {
    expect(Object.keys(raw.paths[path]!.post!.responses['201']!.headers ?? {}), path).toEqual(['Idempotent-Replayed']);
  }
  // A quote claims no reference: nothing to replay.
  expect(raw.paths['/v1/purchases/quote']!.post!.responses['200']!.headers).toBeUndefined();
  const signature = raw.paths['/v1/callbacks/{processor_id}']!.post!.parameters?.find((p) => p.in === 'header' && p.name.toLowerCase() === 'pocketgate-signature');
  expect(signature?.required).toBe(true);
  expect(raw.components.schemas.Problem!.properties.code!.enum).toEqual(expect.arrayContaining(['validation_failed', 'idempotency_conflict', 'amount_exceeds_original', 'signature_invalid', 'unavailable']));
});
