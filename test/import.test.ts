// The import runs a few batches at once: a CIM repeated in two batches in flight together is
// imported once, for its first line, and its later line is reported cim_taken (they raced: the
// later line committed first, 3 runs of 3, a contacts probe, 2026-12-06).

import { afterAll, beforeAll, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type TestGateway } from './helpers.ts';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.close();
});

it('a CIM repeated across concurrent batches is imported once', async () => {
  const biz = await createBusiness(gw);
  const shared = testCard(42_000_000);
  const lines = Array.from({ length: 1_600 }, (_, i) => JSON.stringify({ cims: [{ type: 'card', value: i === 10 || i === 1_210 ? shared : testCard(42_000_001 + i) }] }));
  const r = await call(gw, 'POST', '/v1/contacts/import', biz.admin_key, lines.join('\n'), { 'content-type': 'application/x-ndjson' });
  expect(r.status, r.text).toBe(200);
  expect(r.body.imported).toBe(1_599);
  expect(r.body.failed).toBe(1);
  expect(r.body.errors).toHaveLength(1);
  expect(r.body.errors[0]).toMatchObject({ code: 'cim_taken', line: 1_211 });
  const wallet = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${shared}`, biz.terminal_key);
  expect(wallet.status).toBe(200);
});

it('a CIM on both sides of a batch boundary: the first line imported, the second cim_taken', async () => {
  const biz = await createBusiness(gw);
  const lines = Array.from({ length: 1_001 }, (_, i) => JSON.stringify({ first_name: `L${i + 1}`, cims: [{ type: 'loyalty_id', value: i >= 999 ? 'EDGE-a' : `L-${i}` }] }));
  const r = await call(gw, 'POST', '/v1/contacts/import', biz.admin_key, lines.join('\n'), { 'content-type': 'application/x-ndjson' });
  expect(r.status, r.text).toBe(200);
  expect([r.body.imported, r.body.failed, r.body.errors]).toEqual([1_000, 1, [{ line: 1_001, code: 'cim_taken', message: expect.any(String) }]]);
  const wallet = await call(gw, 'GET', '/v1/wallets?cim_type=loyalty_id&cim_value=EDGE-a', biz.terminal_key);
  const contact = await call(gw, 'GET', `/v1/contacts/${wallet.body.contact_id}`, biz.admin_key);
  expect(contact.body.first_name).toBe('L1000');
});

it('past 10,000 failed lines the report keeps the first ones, CIM conflicts reported at a batch\'s flush included', async () => {
  const biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'loyalty_id', value: 'LOY-1' }] })).status).toBe(201);
  const lines = [...Array.from({ length: 5 }, () => JSON.stringify({ cims: [{ type: 'loyalty_id', value: 'LOY-1' }] })), ...Array.from({ length: 10_010 }, () => 'x')];
  const r = await call(gw, 'POST', '/v1/contacts/import', biz.admin_key, lines.join('\n'), { 'content-type': 'application/x-ndjson' });
  expect(r.status, r.text).toBe(200);
  expect([r.body.imported, r.body.failed, r.body.errors.length]).toEqual([0, 10_015, 10_000]);
  expect(r.body.errors.slice(0, 6).map((e: { line: number; code: string }) => [e.line, e.code])).toEqual([[1, 'cim_taken'], [2, 'cim_taken'], [3, 'cim_taken'], [4, 'cim_taken'], [5, 'cim_taken'], [6, 'validation_failed']]);
  expect(r.body.errors.at(-1).line).toBe(10_000);
});
