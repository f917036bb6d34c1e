// A contacts probe (2026-12-06): CIMs added one by one had no bound; a PATCH of a field read back
// but never set (wallet_code, code) was 200 and changed nothing; tags kept twice; a bracketed
// country code refused; a "+" written unencoded in a query string (a phone, an offset) read as a
// space and refused.

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

describe('a contact', () => {
  it('holds at most 20 CIMs, added one by one as at its creation; its own CIM again is no more', async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, {});
    const add = (n: number) => call(gw, 'POST', `/v1/contacts/${c.body.id}/cims`, biz.admin_key, { type: 'gift_pass', value: `GP-EDGE-${c.body.id}-${n}` });
    // Raced: the row lock leaves room for exactly 20.
    const added = await Promise.all(Array.from({ length: 25 }, (_, n) => add(n)));
    expect(added.filter((r) => r.status === 201), JSON.stringify(added.filter((r) => r.status !== 201).map((r) => r.text))).toHaveLength(20);
    const refused = added.filter((r) => r.status !== 201);
    expect(refused.map((r) => [r.status, r.body.code])).toEqual(Array.from({ length: 5 }, () => [400, 'validation_failed']));
    expect(refused[0]!.body.detail).toBe('a contact holds at most 20 CIMs');
    const own = added.findIndex((r) => r.status === 201);
    expect((await add(own)).status).toBe(201);
    // A CIM another contact holds is that first: 409, not the count's 400.
    const other = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'gift_pass', value: `GP-OTHER-${c.body.id}` }] });
    expect(other.status).toBe(201);
    const taken = await call(gw, 'POST', `/v1/contacts/${c.body.id}/cims`, biz.admin_key, { type: 'gift_pass', value: `GP-OTHER-${c.body.id}` });
    expect([taken.status, taken.body.code]).toEqual([409, 'cim_taken']);
    expect((await call(gw, 'GET', `/v1/contacts/${c.body.id}`, biz.admin_key)).body.cims).toHaveLength(20);
  });

  it('PATCH refuses what is read back but never set (400, nothing changed); tags are kept once each', async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { tags: ['vip', 'vip', 'new'] });
    expect(c.body.tags).toEqual(['vip', 'new']);
    for (const body of [{ wallet_code: '4111111111111111' }, { code: 'NEWCODE' }, { referral_code: 'X' }, { tier: 'gold' }]) {
      const r = await call(gw, 'PATCH', `/v1/contacts/${c.body.id}`, biz.admin_key, { ...body, first_name: 'Changed' });
      expect([r.status, r.body.code, r.body.errors?.[0]?.path], JSON.stringify(body)).toEqual([400, 'validation_failed', Object.keys(body)[0]]);
    }
    const after = await call(gw, 'GET', `/v1/contacts/${c.body.id}`, biz.admin_key);
    expect([after.body.first_name, after.body.wallet_code, after.body.code]).toEqual([null, c.body.wallet_code, c.body.code]);
    expect((await call(gw, 'PATCH', `/v1/contacts/${c.body.id}`, biz.admin_key, { tags: ['a', 'a'] })).body.tags).toEqual(['a']);
  });
});

describe('a phone', () => {
  it('with its country code in brackets is the same phone; written with an unencoded "+" in a query string, too', async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'phone', value: '(+44) 20 7946 0999' }] });
    expect([c.status, c.body.cims[0]?.masked], c.text).toEqual([201, '+********0999']);
    const found = await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, { cim: { type: 'phone', value: '+442079460999' } });
    expect(found.body.id ?? found.body.contact_id, found.text).toBe(c.body.id);
    const wallet = await call(gw, 'GET', '/v1/wallets?cim_type=phone&cim_value=+442079460999', biz.terminal_key);
    expect([wallet.status, wallet.body.contact_id], wallet.text).toEqual([200, c.body.id]);
    const bracketed = await call(gw, 'GET', '/v1/wallets?cim_type=phone&cim_value=(+44)%2020%207946%200999', biz.terminal_key);
    expect([bracketed.status, bracketed.body.contact_id], bracketed.text).toEqual([200, c.body.id]);
  });

  it('an email with a "+" written unencoded in a query string is that email, not the one without it (a probe)', async () => {
    const plain = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'email', value: 'plain-edge@x.com' }] });
    const plus = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'email', value: '+plain-edge@x.com' }] });
    const tagged = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'email', value: 'a+b-edge@x.com' }] });
    for (const [value, contact] of [['+plain-edge@x.com', plus], ['%2Bplain-edge@x.com', plus], ['plain-edge@x.com', plain], ['a+b-edge@x.com', tagged]] as const) {
      const w = await call(gw, 'GET', `/v1/wallets?cim_type=email&cim_value=${value}`, biz.terminal_key);
      expect([w.status, w.body.contact_id], value).toEqual([200, contact.body.id]);
    }
  });
});

describe('a timestamp in a query string', () => {
  it('with its offset\'s "+" unencoded is that offset', async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, {});
    const statement = await call(gw, 'GET', `/v1/contacts/${c.body.id}/statement?from=2026-12-06T07:34:08+01:00&to=2026-12-06T09:00:00.5+01:00`, biz.admin_key);
    expect(statement.status, statement.text).toBe(200);
    expect(JSON.stringify(statement.body)).toContain('2026-12-06T06:34:08Z');
    const settlements = await call(gw, 'GET', '/v1/settlements?from=2026-12-06T07:34:08+01:00', biz.admin_key);
    expect(settlements.status, settlements.text).toBe(200);
  });
});
