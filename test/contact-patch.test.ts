// PATCH /v1/contacts/{id} (API.md: `{tags?, spend_blocked?: bool, birth_date?, ...}`): null clears a
// detail on file (the email and phone once set could not be removed), and a field PATCH does not
// set (`cims`, `referred_by`) is 400 saying where it is set, not 200 and ignored (an API probe,
// 2026-12-06). The contact's CIMs are their own: clearing the email on file leaves its email CIM.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
});
afterAll(async () => {
  await gw?.close();
});

describe('PATCH /v1/contacts/{id}', () => {
  it('null clears the names, email and phone on file; the CIMs stay', async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, {
      first_name: 'Ana', last_name: 'Lima', email: 'ana@example.com', phone: '+351913000222', cims: [{ type: 'email', value: 'ana@example.com' }],
    });
    expect(c.status, c.text).toBe(201);
    const cleared = await call(gw, 'PATCH', `/v1/contacts/${c.body.id}`, biz.admin_key, { first_name: null, last_name: null, email: null, phone: null });
    expect(cleared.status, cleared.text).toBe(200);
    const read = await call(gw, 'GET', `/v1/contacts/${c.body.id}`, biz.admin_key);
    for (const field of ['first_name', 'last_name', 'email', 'phone']) expect(read.body[field] ?? null, field).toBeNull();
    expect(read.body.cims).toHaveLength(1);
    const found = await call(gw, 'GET', '/v1/wallets?cim_type=email&cim_value=ana@example.com', biz.terminal_key);
    expect(found.status, found.text).toBe(200);
    // Set again, normalised as on creation.
    const again = await call(gw, 'PATCH', `/v1/contacts/${c.body.id}`, biz.admin_key, { email: 'Ana@Example.com', phone: '+351 913 000 222' });
    expect(again.body).toMatchObject({ email: 'ana@example.com', phone: '+351913000222' });
  });

  it('cims and referred_by are 400, naming where they are set, and nothing changes', async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Rui' });
    for (const body of [{ cims: [{ type: 'loyalty_id', value: 'PATCHED' }], last_name: 'Zed' }, { referred_by: 'ABC123', last_name: 'Zed' }]) {
      const res = await call(gw, 'PATCH', `/v1/contacts/${c.body.id}`, biz.admin_key, body);
      expect([res.status, res.body.code], res.text).toEqual([400, 'validation_failed']);
      expect(res.body.errors[0].path).toBe(Object.keys(body)[0]);
    }
    const read = await call(gw, 'GET', `/v1/contacts/${c.body.id}`, biz.admin_key);
    expect(read.body.last_name ?? null).toBeNull();
    expect(read.body.cims).toEqual([]);
  });
});
