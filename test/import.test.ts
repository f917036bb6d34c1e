// The import runs a few batches at once: a CIM repeated in two batches in flight together is
// imported once and reported as cim_taken once (on either line: the batches race).

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
  expect(r.body.errors[0]).toMatchObject({ code: 'cim_taken' });
  expect([11, 1_211]).toContain(r.body.errors[0].line);
  const wallet = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${shared}`, biz.terminal_key);
  expect(wallet.status).toBe(200);
});
