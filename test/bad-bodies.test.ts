// Bodies a client controls down to the byte: deeply nested JSON holding a string no store can
// hold, and bytes that are not UTF-8. Each is a 400 that changes nothing, on every JSON route;
// never a 500, never a replacement character stored as if the client had sent it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { countRows, expectValidation } from './contract-util.ts';

let gw: TestGateway;
let biz: BusinessFixture;

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
});
afterAll(async () => {
  await gw?.close();
});

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
