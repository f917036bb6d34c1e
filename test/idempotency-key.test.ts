// Idempotency-Key on admin and platform writes (processor/admin-replies.ts,
// adapters/http/idempotency-key.ts; API.md is silent, Stripe's API takes one on every write): a
// copy gets the first answer again, marked replayed; another request under the key is 409; a
// refused call keeps nothing; an answer holding a key shown once is not kept. On a real Redis and
// PostgreSQL, through the whole app.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, platform_key, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { unique } from './contract-util.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let other: BusinessFixture;

beforeAll(async () => {
  gw = await startTestGateway();
  [biz, other] = await Promise.all([createBusiness(gw), createBusiness(gw)]);
});
afterAll(async () => {
  await gw?.close();
});

const keyed = (key: string) => ({ 'idempotency-key': key });
const merchant = () => ({ name: 'Shop', code: unique('M').slice(0, 15) });

async function merchantCount(b: BusinessFixture): Promise<number> {
  return (await call(gw, 'GET', '/v1/merchants?limit=100', b.admin_key)).body.data.length;
}

describe('Idempotency-Key on admin writes', () => {
  it('a copy gets the first answer again, replayed, and makes nothing', async () => {
    const key = unique('ik-');
    const body = merchant();
    const before = await merchantCount(biz);
    const first = await call(gw, 'POST', '/v1/merchants', biz.admin_key, body, keyed(key));
    expect(first.status, first.text).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const copy = await call(gw, 'POST', '/v1/merchants', biz.admin_key, body, keyed(key));
    expect([copy.status, copy.text, copy.headers.get('idempotent-replayed'), copy.headers.get('content-type')]).toEqual([201, first.text, 'true', 'application/json']);
    expect(await merchantCount(biz)).toBe(before + 1);
    // Without the header, the same body is a new request (its code then taken: 400).
    expect((await call(gw, 'POST', '/v1/merchants', biz.admin_key, body)).status).toBe(400);
  });

  it('another body, path or method under the key is 409 idempotency_conflict', async () => {
    const key = unique('ik-');
    expect((await call(gw, 'POST', '/v1/merchants', biz.admin_key, merchant(), keyed(key))).status).toBe(201);
    for (const [method, path, body] of [
      ['POST', '/v1/merchants', merchant()],
      ['POST', '/v1/venues', { name: 'Venue' }],
    ] as const) {
      const res = await call(gw, method, path, biz.admin_key, body, keyed(key));
      expect([res.status, res.body.code], res.text).toEqual([409, 'idempotency_conflict']);
    }
  });

  it('copies sent at once make one merchant', async () => {
    const key = unique('ik-');
    const body = merchant();
    const before = await merchantCount(biz);
    const answers = await Promise.all(Array.from({ length: 20 }, () => call(gw, 'POST', '/v1/merchants', biz.admin_key, body, keyed(key))));
    const made = answers.filter((a) => a.status === 201 && a.headers.get('idempotent-replayed') === null);
    expect(made).toHaveLength(1);
    for (const a of answers) {
      if (a === made[0]) continue;
      // A copy while the first runs cannot know its outcome yet: 409; after it, the answer.
      if (a.status === 201) expect([a.text, a.headers.get('idempotent-replayed')]).toEqual([made[0]!.text, 'true']);
      else expect([a.status, a.body.code]).toEqual([409, 'idempotency_conflict']);
    }
    expect(await merchantCount(biz)).toBe(before + 1);
  });

  it('a refused call keeps nothing: the key goes on to the corrected request', async () => {
    const key = unique('ik-');
    const bad = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Shop', code: '' }, keyed(key));
    expect(bad.status).toBe(400);
    const good = await call(gw, 'POST', '/v1/merchants', biz.admin_key, merchant(), keyed(key));
    expect(good.status, good.text).toBe(201);
    expect(good.headers.get('idempotent-replayed')).toBeNull();
  });

  it("is each business's own: another business's same key is its own request", async () => {
    const key = unique('ik-');
    const body = merchant();
    const mine = await call(gw, 'POST', '/v1/merchants', biz.admin_key, body, keyed(key));
    const theirs = await call(gw, 'POST', '/v1/merchants', other.admin_key, body, keyed(key));
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.body.id).not.toBe(mine.body.id);
  });

  it('a DELETE answered 204 is answered 204 again, not 404', async () => {
    const made = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: 'https://example.com/hook', events: ['*'] });
    expect(made.status, made.text).toBe(201);
    const key = unique('ik-');
    const first = await call(gw, 'DELETE', `/v1/webhooks/${made.body.id}`, biz.admin_key, undefined, keyed(key));
    const copy = await call(gw, 'DELETE', `/v1/webhooks/${made.body.id}`, biz.admin_key, undefined, keyed(key));
    expect([first.status, copy.status, copy.headers.get('idempotent-replayed'), copy.text]).toEqual([204, 204, 'true', '']);
    expect((await call(gw, 'DELETE', `/v1/webhooks/${made.body.id}`, biz.admin_key)).status).toBe(404);
  });

  it('an answer holding a key shown once is not kept: its copy is 409 naming what was made', async () => {
    const key = unique('ik-');
    const body = { name: 'Keyed business', currency: 'EUR' };
    const first = await call(gw, 'POST', '/v1/businesses', platform_key, body, keyed(key));
    expect(first.status, first.text).toBe(201);
    const copy = await call(gw, 'POST', '/v1/businesses', platform_key, body, keyed(key));
    expect([copy.status, copy.body.code]).toEqual([409, 'idempotency_conflict']);
    expect(copy.body.detail).toContain(first.body.id);
    expect(copy.text).not.toContain(first.body.admin_key);
    const terminal = { venue_id: biz.venue_id, code: unique('T').slice(0, 8) };
    const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, terminal, keyed(key));
    expect(t.status, t.text).toBe(201);
    const t_copy = await call(gw, 'POST', '/v1/terminals', biz.admin_key, terminal, keyed(key));
    expect([t_copy.status, t_copy.body.code]).toEqual([409, 'idempotency_conflict']);
    expect(t_copy.text).not.toContain(t.body.api_key);
    // A spend OTP pays: not kept for 24 hours in a copy of its answer.
    const contact = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Otp' });
    const otp_key = unique('ik-');
    const otp = await call(gw, 'POST', `/v1/contacts/${contact.body.id}/spend-otp`, biz.admin_key, { amount: 100 }, keyed(otp_key));
    expect(otp.status, otp.text).toBe(201);
    const otp_copy = await call(gw, 'POST', `/v1/contacts/${contact.body.id}/spend-otp`, biz.admin_key, { amount: 100 }, keyed(otp_key));
    expect([otp_copy.status, otp_copy.body.code]).toEqual([409, 'idempotency_conflict']);
    expect(otp_copy.text).not.toContain(otp.body.otp);
  });

  it('refuses a malformed key (400); reads and POS calls go on without it', async () => {
    for (const bad of ['', 'has space', 'x'.repeat(256), 'é']) {
      const res = await call(gw, 'POST', '/v1/merchants', biz.admin_key, merchant(), keyed(bad));
      expect([res.status, res.body.code], JSON.stringify(bad)).toEqual([400, 'validation_failed']);
    }
    const key = unique('ik-');
    expect((await call(gw, 'GET', '/v1/merchants', biz.admin_key, undefined, keyed(key))).status).toBe(200);
    // A look-up by POST is a read: answered as things stand, never replayed (a probe got stale tags).
    const looked = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'loyalty_id', value: unique('L') }] });
    const by = { cim: { type: 'contact_code', value: looked.body.code } };
    expect((await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, by, keyed(key))).body.tags).toEqual([]);
    expect((await call(gw, 'PATCH', `/v1/contacts/${looked.body.id}`, biz.admin_key, { tags: ['changed'] })).status).toBe(200);
    const again = await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, by, keyed(key));
    expect([again.body.tags, again.headers.get('idempotent-replayed')]).toEqual([['changed'], null]);
    // A POS call's reference is its key: two references under one Idempotency-Key are two purchases.
    const card = testCard(931_001);
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    const buy = (reference: string) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: card }, amount: 500, currency: 'EUR' }, keyed(key));
    const [a, b] = [await buy(unique('p-')), await buy(unique('p-'))];
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.body.id).not.toBe(a.body.id);
  });
});
