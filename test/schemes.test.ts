// Schemes and their four sign-up modes, through the HTTP contract.

import { describe, expect, it } from 'vitest';
import { businessGatewayForFile } from './business-gateway.ts';
import { call, createBusiness, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
businessGatewayForFile((made) => ({ gw, biz } = made));

async function contact(email?: string): Promise<string> {
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, email === undefined ? {} : { email });
  expect(c.status).toBe(201);
  return c.body.id;
}

describe('schemes', () => {
  it('every new business has a default auto scheme', async () => {
    const list = await call(gw, 'GET', '/v1/schemes', biz.admin_key);
    expect(list.status).toBe(200);
    expect(list.body.data.filter((s: any) => s.signup === 'auto')).toHaveLength(1);
  });

  it('self: anyone joins, once', async () => {
    const s = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Fans', signup: 'self' });
    expect(s.status).toBe(201);
    const id = await contact();
    const first = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: id });
    expect(first.status).toBe(201);
    expect(first.body.joined).toBe(true);
    const again = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: id });
    expect(again.status).toBe(201);
    expect(again.body.joined).toBe(false);
  });

  it('email_domain: only listed domains (and their subdomains)', async () => {
    const s = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Students', signup: 'email_domain', email_domains: ['uni.edu'] });
    expect(s.status).toBe(201);
    const ok = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact('ana@cs.uni.edu') });
    expect(ok.status).toBe(201);
    const no = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact('ana@gmail.com') });
    expect(no.status).toBe(422);
    expect(no.body.code).toBe('signup_not_allowed');
    const none = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact() });
    expect(none.body.code).toBe('signup_not_allowed');
    expect((await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'x', signup: 'email_domain' })).status).toBe(400);
  });

  it('codes: each one-time code works once; imported codes too', async () => {
    const s = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Staff', signup: 'codes' });
    const issued = await call(gw, 'POST', `/v1/schemes/${s.body.id}/codes`, biz.admin_key, { count: 3 });
    expect(issued.status).toBe(201);
    expect(issued.body.codes).toHaveLength(3);
    expect(new Set(issued.body.codes).size).toBe(3);
    const [code] = issued.body.codes as string[];
    const a = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact(), code });
    expect(a.status).toBe(201);
    const b = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact(), code });
    expect(b.status).toBe(422);
    expect(b.body.code).toBe('signup_not_allowed');
    const without = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact() });
    expect(without.body.code).toBe('signup_not_allowed');
    const imported = await call(gw, 'POST', `/v1/schemes/${s.body.id}/codes`, biz.admin_key, { codes: ['WELCOME-2026'] });
    expect(imported.status).toBe(201);
    const c = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact(), code: 'welcome-2026' });
    expect(c.status).toBe(201);
  });

  it('imported codes that could never be used are 400, naming each, and nothing is stored; an unused one given again is no error', async () => {
    // Answered 201 as if usable, such codes were refused at every sign-up (a probe, 2026-12-07).
    const s = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Imports', signup: 'codes' });
    const first = await call(gw, 'POST', `/v1/schemes/${s.body.id}/codes`, biz.admin_key, { codes: ['USED-0001', 'KEPT-0001'] });
    expect(first.status, first.text).toBe(201);
    expect((await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact(), code: 'USED-0001' })).status).toBe(201);
    const refused = await call(gw, 'POST', `/v1/schemes/${s.body.id}/codes`, biz.admin_key, { codes: ['NEW-00001', 'used-0001', 'TWICE-001', 'twice-001'] });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.body.code).toBe('validation_failed');
    expect(refused.body.errors).toEqual([
      { path: 'codes.1', message: 'already used' },
      { path: 'codes.3', message: 'the same code as codes.2' },
    ]);
    // Nothing of the refused call was stored.
    expect((await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact(), code: 'NEW-00001' })).status).toBe(422);
    // An unused code imported again stays usable, once.
    const again = await call(gw, 'POST', `/v1/schemes/${s.body.id}/codes`, biz.admin_key, { codes: ['KEPT-0001'] });
    expect(again.status, again.text).toBe(201);
    expect((await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact(), code: 'KEPT-0001' })).status).toBe(201);
    expect((await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact(), code: 'KEPT-0001' })).status).toBe(422);
  });

  it('an import of the 10,000 codes the schema allows, and an offer naming 10,000 SKUs, are taken (not refused: their bodies are over 64 KiB)', async () => {
    const s = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Big import', signup: 'codes' });
    const codes = Array.from({ length: 10_000 }, (_, i) => `IMPORT-${String(i).padStart(8, '0')}`);
    const imported = await call(gw, 'POST', `/v1/schemes/${s.body.id}/codes`, biz.admin_key, { codes });
    expect(imported.status, imported.text.slice(0, 300)).toBe(201);
    const joined = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact(), code: codes[9_999] });
    expect(joined.status, joined.text).toBe(201);
    const skus = Array.from({ length: 10_000 }, (_, i) => `SKU-${String(i).padStart(10, '0')}`);
    const offer = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'Many SKUs', goal: 'product', award: { percent: 5 }, conditions: { products: { skus } } });
    expect(offer.status, offer.text.slice(0, 300)).toBe(201);
    // Past the larger bound: refused (400), nothing stored.
    const too_many = await call(gw, 'POST', `/v1/schemes/${s.body.id}/codes`, biz.admin_key, { codes: codes.map((c) => c.padEnd(64, 'x')).concat(codes.map((c) => c.padEnd(64, 'y'))) });
    expect(too_many.status).toBe(400);
    expect(too_many.body.detail).toContain('request body over');
    const refused_code = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: await contact(), code: codes[0]!.padEnd(64, 'y') });
    expect(refused_code.status, refused_code.text).not.toBe(201);
  });

  it('another business’s scheme is 404', async () => {
    const other = await createBusiness(gw);
    const s = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Mine', signup: 'self' });
    expect((await call(gw, 'GET', `/v1/schemes/${s.body.id}`, other.admin_key)).status).toBe(404);
    const theirs = await call(gw, 'POST', '/v1/contacts', other.admin_key, {});
    expect((await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, other.admin_key, { contact_id: theirs.body.id })).status).toBe(404);
    expect((await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: theirs.body.id })).status).toBe(404);
  });
});
