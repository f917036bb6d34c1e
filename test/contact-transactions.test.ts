// GET /v1/contacts/{id}/transactions: a contact's latest transactions, every one that names it.
// Its statement lists only what moved its balances, and the console's "Latest transactions",
// read from the statement, left out a purchase that awarded nothing (a review, 2026-12-04).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let other: BusinessFixture;

beforeAll(async () => {
  gw = await startTestGateway();
  [biz, other] = [await createBusiness(gw), await createBusiness(gw)];
});
afterAll(async () => {
  await gw?.close();
});

const purchase = (reference: string, card: string, amount: number) => ({ reference, cim: { type: 'card', value: card }, amount, currency: 'EUR' });

describe('GET /v1/contacts/{id}/transactions', () => {
  it('lists every transaction naming the contact, newest first, a purchase that awarded nothing too, with what each moved', async () => {
    const card = testCard(925_001);
    const contact = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(contact.status, contact.text).toBe(201);
    const id = contact.body.id as string;
    const plain = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase('ct-1', card, 500));
    expect([plain.status, plain.body.awards], plain.text).toEqual([201, []]);
    const offer = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } });
    expect(offer.status, offer.text).toBe(201);
    const awarded = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase('ct-2', card, 700));
    expect(awarded.status, awarded.text).toBe(201);
    const reversed = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'ct-3', original_reference: 'ct-2' });
    expect(reversed.status, reversed.text).toBe(201);

    // Asked right after the 201s: the route waits for the contact's shard to be in the ledger.
    const list = await call(gw, 'GET', `/v1/contacts/${id}/transactions`, biz.admin_key);
    expect(list.status, list.text).toBe(200);
    expect(list.body.object).toBe('list');
    const rows = list.body.data as { id: string; kind: string; reference: string; amount: number; awarded: number; open_delta: number; commerce_delta: number; contact_id: string; made_by: string }[];
    expect(rows.map((r) => r.id)).toEqual([reversed.body.id, awarded.body.id, plain.body.id]);
    expect(rows[2]).toMatchObject({ kind: 'purchase', reference: 'ct-1', amount: 500, awarded: 0, open_delta: 0, commerce_delta: 0, contact_id: id, made_by: 'terminal' });
    expect(rows[1]).toMatchObject({ kind: 'purchase', reference: 'ct-2', amount: 700, awarded: 70, commerce_delta: 70, open_delta: 0 });
    expect(rows[0]).toMatchObject({ kind: 'reversal', reference: 'ct-3', awarded: 0, open_delta: 0, commerce_delta: -70 });

    // The statement has no line for the purchase that moved nothing: the reason for this list.
    const statement = await call(gw, 'GET', `/v1/contacts/${id}/statement`, biz.admin_key);
    expect(statement.body.lines.map((l: { transaction_id: string }) => l.transaction_id)).toEqual([awarded.body.id, reversed.body.id]);

    const newest = await call(gw, 'GET', `/v1/contacts/${id}/transactions?limit=1`, biz.admin_key);
    expect(newest.body.data.map((r: { id: string }) => r.id)).toEqual([reversed.body.id]);
  });

  // A black-box probe (2026-12-05): this list said 'terminal' for a sign-up award, which
  // GET /v1/transactions/{id} says the processor made (no terminal).
  it('a sign-up award is the processor’s here as in GET /v1/transactions/{id}', async () => {
    const b = await createBusiness(gw);
    const signup = await call(gw, 'POST', '/v1/offers', b.admin_key, { name: 'welcome', goal: 'signup', award: { fixed: 100 } });
    expect(signup.status, signup.text).toBe(201);
    const contact = await call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: testCard(925_101) }] });
    expect(contact.status, contact.text).toBe(201);
    let rows: { id: string; kind: string; terminal_id: string | null; made_by: string }[] = [];
    for (let tries = 0; rows.length === 0 && tries < 50; tries++) {
      if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      rows = (await call(gw, 'GET', `/v1/contacts/${contact.body.id}/transactions`, b.admin_key)).body.data;
    }
    expect(rows.map((r) => [r.kind, r.terminal_id, r.made_by])).toEqual([['award', null, 'system']]);
    const one = await call(gw, 'GET', `/v1/transactions/${rows[0]!.id}`, b.admin_key);
    expect(one.body.made_by).toBe('system');
  });

  it('another business’s contact is not found, a bad limit is 400, a terminal key is refused; nothing is leaked', async () => {
    const card = testCard(925_002);
    const contact = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase('ct-9', card, 100))).status).toBe(201);
    const theirs = await call(gw, 'GET', `/v1/contacts/${contact.body.id}/transactions`, other.admin_key);
    expect([theirs.status, theirs.headers.get('content-type')], theirs.text).toEqual([404, 'application/problem+json']);
    expect(theirs.text).not.toContain('ct-9');
    for (const limit of ['0', '101', 'ten', '1.5']) {
      const bad = await call(gw, 'GET', `/v1/contacts/${contact.body.id}/transactions?limit=${limit}`, biz.admin_key);
      expect([bad.status, bad.body.code], `limit=${limit}: ${bad.text}`).toEqual([400, 'validation_failed']);
    }
    const by_terminal = await call(gw, 'GET', `/v1/contacts/${contact.body.id}/transactions`, biz.terminal_key);
    expect(by_terminal.status).toBe(403);
    const none = await call(gw, 'GET', '/v1/contacts/con_nosuchcontact/transactions', biz.admin_key);
    expect(none.status).toBe(404);
  });
});
