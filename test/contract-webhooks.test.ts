// Webhooks out, as spec/EVENTS.md states them: endpoints, events built from the ledger, signed
// deliveries to a real receiver on loopback, retries, the deliveries listing, isolation between
// businesses. On stores of this file's own (no other file's gateway claims its deliveries), with
// WEBHOOKS_ALLOW_PRIVATE (the receivers are on loopback) and a short WEBHOOK_RETRY_BASE_MS.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOf } from '../core/ids.ts';
import { expiryKey, lotsKey } from '../processor/hot/keys.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import { connectRedis, type RedisClient } from '../processor/stores.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { addCashbackOffer, createContacts, shard_count, type Contact } from './ledger-helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { createProcessor, postCallback, sale, transactionId } from './callback-helpers.ts';
import { ofType, signatureVerifies, startReceiver, type Receiver } from './webhook-helpers.ts';

const retry_base_ms = 60;
let own: OwnStores;
let gw: TestGateway;
const receivers: Receiver[] = [];

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

beforeAll(async () => {
  own = await startOwnStores('webhooks');
  gw = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url, webhooks: { retry_base_ms, allow_private: true, worker: true } });
});
afterAll(async () => {
  await gw?.close();
  await Promise.all(receivers.map((r) => r.close()));
  await own?.stop();
});

interface Shop {
  readonly biz: BusinessFixture;
  readonly contact: Contact;
}

async function shop(seed: number): Promise<Shop> {
  const biz = await createBusiness(gw);
  await addCashbackOffer(gw, biz, 5);
  const [contact] = await createContacts(gw, biz, [testCard(seed)]);
  return { biz, contact: contact! };
}

async function webhook(biz: BusinessFixture, url: string, events: string[] = ['*']): Promise<{ id: string; signing_secret: string }> {
  const w = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url, events });
  expect(w.status, w.text).toBe(201);
  return w.body;
}

async function purchase(s: Shop, reference: string, amount = 1000) {
  const p = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, { reference, cim: { type: 'card', value: s.contact.card }, amount, currency: 'EUR' });
  expect(p.status, p.text).toBe(201);
  return p.body;
}

async function deliveries(biz: BusinessFixture, id: string, query = '') {
  const d = await call(gw, 'GET', `/v1/webhooks/${id}/deliveries${query}`, biz.admin_key);
  expect(d.status, d.text).toBe(200);
  return d.body as { object: string; data: any[]; has_more: boolean };
}

describe('webhook endpoints', () => {
  it('are created (secret shown once), read, listed, changed and deleted', async () => {
    const biz = await createBusiness(gw);
    const created = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: 'https://example.com/hooks', events: ['transaction.approved', 'award.created'], description: 'ERP' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: 'https://example.com/hooks', events: ['transaction.approved', 'award.created'], status: 'enabled' });
    expect(created.body.id).toMatch(/^whk_/);
    expect(created.body.signing_secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(created.body.signing_secret.slice(6), 'base64url')).toHaveLength(32);
    const id = created.body.id as string;

    const read = await call(gw, 'GET', `/v1/webhooks/${id}`, biz.admin_key);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id, url: 'https://example.com/hooks', status: 'enabled' });
    expect(read.text).not.toContain('whsec_');
    const list = await call(gw, 'GET', '/v1/webhooks', biz.admin_key);
    expect(list.body.data.map((w: any) => w.id)).toEqual([id]);
    expect(list.text).not.toContain('whsec_');

    const patched = await call(gw, 'PATCH', `/v1/webhooks/${id}`, biz.admin_key, { url: 'https://example.org/h2', events: ['*'], status: 'disabled' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id, url: 'https://example.org/h2', events: ['*'], status: 'disabled' });
    const enabled = await call(gw, 'PATCH', `/v1/webhooks/${id}`, biz.admin_key, { status: 'enabled', description: null });
    expect(enabled.body).toMatchObject({ status: 'enabled', description: null, url: 'https://example.org/h2' });
    expect(created.body.description).toBe('ERP');

    const deleted = await call(gw, 'DELETE', `/v1/webhooks/${id}`, biz.admin_key);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect((await call(gw, 'GET', `/v1/webhooks/${id}`, biz.admin_key)).status).toBe(404);
    expect((await call(gw, 'DELETE', `/v1/webhooks/${id}`, biz.admin_key)).status).toBe(404);
    expect((await call(gw, 'GET', '/v1/webhooks', biz.admin_key)).body.data).toEqual([]);
  });

  it('refuse bad input with 400 validation_failed and change nothing', async () => {
    const biz = await createBusiness(gw);
    const bad: unknown[] = [
      { url: 'ftp://example.com/x', events: ['*'] },
      { url: 'not a url', events: ['*'] },
      { url: 'https://example.com/x', events: [] },
      { url: 'https://example.com/x', events: ['transaction.created'] },
      { url: 'https://example.com/x', events: ['*', 'award.created'] },
      { url: 'https://example.com/x' },
      { events: ['*'] },
      { url: `https://example.com/${'x'.repeat(3000)}`, events: ['*'] },
    ];
    for (const body of bad) {
      const r = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.code).toBe('validation_failed');
    }
    const { id } = await webhook(biz, 'https://example.com/ok');
    for (const body of [{ url: 'javascript:alert(1)' }, { events: ['nope'] }, { status: 'paused' }]) {
      const r = await call(gw, 'PATCH', `/v1/webhooks/${id}`, biz.admin_key, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.code).toBe('validation_failed');
    }
    expect((await call(gw, 'GET', `/v1/webhooks/${id}`, biz.admin_key)).body).toMatchObject({ url: 'https://example.com/ok', events: ['*'], status: 'enabled' });
    expect((await call(gw, 'GET', '/v1/webhooks', biz.admin_key)).body.data).toHaveLength(1);
    for (const q of ['?limit=0', '?limit=1001', '?limit=abc', '?status=done', '?starting_after=evt_unknown']) {
      const r = await call(gw, 'GET', `/v1/webhooks/${id}/deliveries${q}`, biz.admin_key);
      expect(r.status, q).toBe(400);
      expect(r.body.code).toBe('validation_failed');
    }
  });

  it("are a business's own: another business's key gets 404 on webhooks and deliveries, a terminal key 403", async () => {
    const s = await shop(21_000_001);
    const r = await receiver();
    const { id } = await webhook(s.biz, r.url);
    const p = await purchase(s, 'iso-1');
    await eventually('the delivery', async () => r.received.length >= 2);
    const [event_id] = (await deliveries(s.biz, id)).data.map((d) => d.event_id);
    const other = await createBusiness(gw);
    const calls: [string, string, unknown?][] = [
      ['GET', `/v1/webhooks/${id}`],
      ['PATCH', `/v1/webhooks/${id}`, { status: 'disabled' }],
      ['DELETE', `/v1/webhooks/${id}`],
      ['GET', `/v1/webhooks/${id}/deliveries`],
      ['POST', `/v1/webhooks/${id}/deliveries/${event_id}/retry`],
      ['POST', `/v1/webhooks/${id}/rotate-secret`],
    ];
    for (const [method, path, body] of calls) {
      const res = await call(gw, method, path, other.admin_key, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.code).toBe('not_found');
    }
    expect((await call(gw, 'GET', '/v1/webhooks', other.admin_key)).body.data).toEqual([]);
    expect((await call(gw, 'GET', '/v1/webhooks', s.biz.terminal_key)).status).toBe(403);
    // Untouched by all that.
    expect((await call(gw, 'GET', `/v1/webhooks/${id}`, s.biz.admin_key)).body.status).toBe('enabled');
    expect(p.status).toBe('approved');
  });
});

describe('a signing secret rotated', () => {
  const approvedAt = (r: Receiver, n: number) =>
    eventually(`event ${n}`, async () => {
      const got = ofType(r.received, 'transaction.approved');
      return got.length >= n ? got[n - 1] : undefined;
    });

  it('signs beside the new one (one more v1) for 24 hours, each replaced one; then the new one alone; shown once; 404 once deleted', async () => {
    const s = await shop(21_050_001);
    const r = await receiver();
    const { id, signing_secret: first } = await webhook(s.biz, r.url);
    const rotate = async () => {
      const rotated = await call(gw, 'POST', `/v1/webhooks/${id}/rotate-secret`, s.biz.admin_key);
      expect(rotated.status, rotated.text).toBe(201);
      expect(rotated.body.signing_secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
      return rotated.body.signing_secret as string;
    };
    const second = await rotate();
    expect(second).not.toBe(first);
    expect(JSON.stringify((await call(gw, 'GET', `/v1/webhooks/${id}`, s.biz.admin_key)).body)).not.toContain('whsec_');
    expect((await call(gw, 'POST', `/v1/webhooks/${id}/rotate-secret`, s.biz.admin_key, { expires: 0 })).status).toBe(400);

    await purchase(s, 'rotated-1');
    const both = await approvedAt(r, 1);
    expect(both!.headers['pocketgate-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    for (const secret of [first, second]) expect(signatureVerifies(both!, secret)).toBe(true);

    // Rotated again within the 24 hours (the answer to the first rotation lost, say): the first still signs.
    const third = await rotate();
    await purchase(s, 'rotated-2');
    const three = await approvedAt(r, 2);
    expect(three!.headers['pocketgate-signature']).toMatch(/^t=\d+(,v1=[0-9a-f]{64}){3}$/);
    for (const secret of [first, second, third]) expect(signatureVerifies(three!, secret)).toBe(true);

    // Their 24 hours over (moved back in the database: the test cannot wait them out).
    await own.sql`update webhook_secrets set expires_at = now() - interval '1 second' where endpoint_id = ${id}`;
    await purchase(s, 'rotated-3');
    const alone = await approvedAt(r, 3);
    expect(alone!.headers['pocketgate-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(signatureVerifies(alone!, third)).toBe(true);
    for (const secret of [first, second]) expect(signatureVerifies(alone!, secret)).toBe(false);

    expect((await call(gw, 'DELETE', `/v1/webhooks/${id}`, s.biz.admin_key)).status).toBe(204);
    expect((await call(gw, 'POST', `/v1/webhooks/${id}/rotate-secret`, s.biz.admin_key)).status).toBe(404);
  });

  it('at most 10 replaced secrets sign at once: the 11th rotation within 24 hours is 429', async () => {
    const s = await shop(21_060_001);
    const { id } = await webhook(s.biz, 'https://example.com/hook');
    for (let n = 1; n <= 10; n++) expect((await call(gw, 'POST', `/v1/webhooks/${id}/rotate-secret`, s.biz.admin_key)).status, `rotation ${n}`).toBe(201);
    const refused = await call(gw, 'POST', `/v1/webhooks/${id}/rotate-secret`, s.biz.admin_key);
    expect([refused.status, refused.body.code]).toEqual([429, 'rate_limited']);
    // Retry-After when the oldest replaced secret's 24 hours end, not the usual minute (a probe).
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(86_000);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(86_400);
  });
});

describe('events', () => {
  it('a purchase: transaction.approved (the transaction as GET /v1/transactions shows it) and award.created, signed', async () => {
    const s = await shop(21_100_001);
    const r = await receiver();
    const { id, signing_secret } = await webhook(s.biz, r.url);
    const p = await purchase(s, 'sale-1', 2000);
    await eventually('both events', async () => ofType(r.received, 'transaction.approved').length === 1 && ofType(r.received, 'award.created').length === 1);

    const [approved] = ofType(r.received, 'transaction.approved');
    const [award] = ofType(r.received, 'award.created');
    for (const got of [approved!, award!]) {
      expect(got.headers['content-type']).toBe('application/json');
      expect(got.headers['pocketgate-event-id']).toBe(got.json.id);
      expect(got.json.id).toMatch(/^evt_/);
      expect(got.json.business_id).toBe(s.biz.business_id);
      expect(Date.parse(got.json.created_at)).toBeGreaterThan(Date.now() - 60_000);
      expect(got.headers['pocketgate-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(signatureVerifies(got, signing_secret)).toBe(true);
      expect(signatureVerifies(got, `${signing_secret}x`)).toBe(false);
    }
    const t = await call(gw, 'GET', `/v1/transactions/${p.id}`, s.biz.admin_key);
    expect(t.body.ledger).toBe('recorded');
    expect(approved!.json.data).toEqual(t.body);
    expect(approved!.json.data.kind).toBe('purchase');
    expect(award!.json.data).toEqual({ ...p.awards[0], contact_id: s.contact.id, transaction_id: p.id });
    expect(award!.json.data.amount).toBe(100);

    // The receiver has answered; the worker records that moments later.
    const list = await eventually('both recorded', async () => {
      const l = await deliveries(s.biz, id);
      return l.data.every((d) => d.status === 'succeeded') ? l : undefined;
    });
    expect(list.data.map((d) => [d.type, d.status, d.attempts, d.last_status_code, d.next_attempt_at])).toEqual(
      expect.arrayContaining([
        ['transaction.approved', 'succeeded', 1, 200, null],
        ['award.created', 'succeeded', 1, 200, null],
      ]),
    );
    expect(new Set(list.data.map((d) => d.event_id))).toEqual(new Set([approved!.json.id, award!.json.id]));
  });

  it("a processor callback's purchase: transaction.approved is its GET /v1/transactions answer, terminal_code included", async () => {
    const s = await shop(21_150_001);
    const r = await receiver();
    await webhook(s.biz, r.url, ['transaction.approved']);
    const p = await createProcessor(gw, s.biz);
    const e = sale('transaction.cleared', { transaction_id: transactionId(), card: { number: s.contact.card }, amount: 1500, currency: 'EUR', merchant_code: s.biz.merchant_code, terminal_code: 'POS 9' });
    const c = await postCallback(gw, p, e);
    expect(c.body.status, c.text).toBe('processed');
    await eventually('the event', async () => ofType(r.received, 'transaction.approved').length === 1);
    const [approved] = ofType(r.received, 'transaction.approved');
    const t = await call(gw, 'GET', `/v1/transactions/${c.body.transaction_id}`, s.biz.admin_key);
    expect(t.body).toMatchObject({ id: c.body.transaction_id, kind: 'purchase', terminal_code: 'POS 9', ledger: 'recorded' });
    // The same view, the same bytes: recorded on both sides (the event is sent from the ledger).
    expect(approved!.json.data).toEqual(t.body);
    expect(JSON.stringify(approved!.json.data)).toBe(t.text);
    // The ledger holds the code itself (from the journal entry), not only the callback's answer:
    // an event sent before that answer is saved, or read after it is forgotten, still shows it.
    const { sql } = gw.processor.stores;
    await sql`update callback_events set terminal_code = null where made_transaction_id = ${c.body.transaction_id}`;
    expect((await call(gw, 'GET', `/v1/transactions/${c.body.transaction_id}`, s.biz.admin_key)).text).toBe(t.text);
  });

  it('every kind of transaction is transaction.approved (data.kind says which); sign-up, referral and expiry', async () => {
    const biz = await createBusiness(gw);
    await addCashbackOffer(gw, biz, 10);
    for (const goal of ['signup', 'referral']) {
      const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: goal, goal, kind: 'cashback', award: { fixed: 250 } });
      expect(o.status, o.text).toBe(201);
    }
    const r = await receiver();
    await webhook(biz, r.url);
    const [referrer] = await createContacts(gw, biz, [testCard(21_200_001)]);
    const code = (await call(gw, 'GET', `/v1/contacts/${referrer!.id}`, biz.admin_key)).body.referral_code;
    const referred = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(21_200_002) }], referred_by: code });
    expect(referred.status, referred.text).toBe(201);
    const s: Shop = { biz, contact: { id: referred.body.id, card: testCard(21_200_002) } };
    const p = await purchase(s, 'k-1', 3000);
    const pos = (path: string, body: object) => call(gw, 'POST', path, biz.terminal_key, body);
    expect((await pos('/v1/redemptions', { reference: 'k-2', cim: { type: 'card', value: s.contact.card }, amount: 100 })).status).toBe(201);
    const code16 = (await call(gw, 'GET', `/v1/contacts/${s.contact.id}`, biz.admin_key)).body.wallet_code;
    expect((await pos('/v1/spends', { reference: 'k-3', amount: 50, currency: 'EUR', wallet_code: code16 })).status).toBe(201);
    expect((await pos('/v1/refunds', { reference: 'k-4', original_reference: 'k-1', amount: 1000 })).status).toBe(201);
    expect((await pos('/v1/reversals', { reference: 'k-5', original_reference: 'k-3' })).status).toBe(201);

    // The referred contact's sign-up award expires: its lot moved into the past, then a sweep.
    const shard = shardOf(s.contact.id, shard_count);
    const redis: RedisClient = await connectRedis(own.redis.url);
    try {
      const lots = await redis.hGetAll(lotsKey(shard, s.contact.id));
      expect(Object.keys(lots).length).toBeGreaterThan(0);
      const past = String(Date.now() - 60_000).padStart(13, '0');
      for (const [field, amount] of Object.entries(lots)) {
        await redis.sendCommand(['HDEL', lotsKey(shard, s.contact.id), field]);
        await redis.sendCommand(['HINCRBY', lotsKey(shard, s.contact.id), `${past}|${field.split('|')[1]}`, amount]);
      }
      await redis.sendCommand(['ZADD', expiryKey(shard), past, s.contact.id]);
    } finally {
      await redis.close();
    }
    // This sweep or the gateway's own (every second) expires it: which one is a race (this one
    // found nothing to do once, in a run of the webhook files side by side); the events below tell.
    await gw.processor.expiry.sweep();

    const kinds = () => ofType(r.received, 'transaction.approved').map((e) => e.json.data.kind).sort();
    await eventually('every kind', async () => kinds().length === 9 && ofType(r.received, 'award.expired').length === 1, 15_000);
    expect(kinds()).toEqual(['award', 'award', 'award', 'expiry', 'purchase', 'redemption', 'refund', 'reversal', 'spend']);
    // Awards: sign-up of each contact, the purchase's cashback, the referrer's referral award.
    const awards = ofType(r.received, 'award.created').map((e) => e.json.data);
    expect(awards).toHaveLength(4);
    expect(awards.filter((a) => a.contact_id === referrer!.id).map((a) => a.amount).sort()).toEqual([250, 250]);
    expect(awards.find((a) => a.transaction_id === p.id)).toMatchObject({ contact_id: s.contact.id, amount: 300, kind: 'cashback' });
    const [expired] = ofType(r.received, 'award.expired');
    const expiry = ofType(r.received, 'transaction.approved').find((e) => e.json.data.kind === 'expiry')!;
    expect(expired!.json.data).toEqual({ contact_id: s.contact.id, transaction_id: expiry.json.data.id, amount: expiry.json.data.amount, currency: 'EUR' });
    expect(expiry.json.data.amount).toBeGreaterThan(0);
    // Every event once: a transaction's events are made in the statement that records it.
    expect(new Set(r.received.map((e) => e.json.id)).size).toBe(r.received.length);
  });

  it('go only to enabled endpoints subscribed to their type', async () => {
    const s = await shop(21_300_001);
    const awards_only = await receiver();
    const disabled = await receiver();
    const all = await receiver();
    await webhook(s.biz, awards_only.url, ['award.created']);
    const off = await webhook(s.biz, disabled.url);
    expect((await call(gw, 'PATCH', `/v1/webhooks/${off.id}`, s.biz.admin_key, { status: 'disabled' })).status).toBe(200);
    await webhook(s.biz, all.url);
    await purchase(s, 'sub-1');
    await eventually('the subscribed ones', async () => all.received.length === 2 && awards_only.received.length === 1);
    expect(awards_only.received[0]!.json.type).toBe('award.created');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(disabled.received).toEqual([]);
    expect(awards_only.received).toHaveLength(1);
  });
});

describe('deliveries', () => {
  it('a receiver that fails, then recovers: the same event again after the backoff, then succeeded', async () => {
    const s = await shop(21_400_001);
    const r = await receiver((n) => (n < 2 ? 500 : 200));
    const { id } = await webhook(s.biz, r.url, ['transaction.approved']);
    await purchase(s, 'flaky-1');
    await eventually('three attempts', async () => r.received.length === 3, 15_000);
    const ids = new Set(r.received.map((e) => e.json.id));
    expect(ids.size).toBe(1);
    // Attempt 2 waits base × 4^0, attempt 3 base × 4^1, each ±20%.
    expect(r.received[1]!.at - r.received[0]!.at).toBeGreaterThanOrEqual(0.8 * retry_base_ms - 5);
    expect(r.received[2]!.at - r.received[1]!.at).toBeGreaterThanOrEqual(0.8 * 4 * retry_base_ms - 5);
    const [d] = await eventually('succeeded', async () => {
      const list = (await deliveries(s.biz, id)).data;
      return list[0]?.status === 'succeeded' ? list : undefined;
    });
    expect(d).toMatchObject({ event_id: [...ids][0], type: 'transaction.approved', status: 'succeeded', attempts: 3, last_status_code: 200, last_error: null, next_attempt_at: null });
    await new Promise((resolve) => setTimeout(resolve, 4 * 4 * retry_base_ms));
    expect(r.received).toHaveLength(3);
  });

  it('a receiver that hangs holds only its own endpoint: another gets its events promptly, the POS is not slowed', async () => {
    const s = await shop(21_500_001);
    const hanging = await receiver(() => 'hang');
    const prompt = await receiver();
    const { id: hanging_id } = await webhook(s.biz, hanging.url, ['transaction.approved']);
    await webhook(s.biz, prompt.url, ['transaction.approved']);
    const n = 40;
    let slowest = 0;
    for (let i = 0; i < n; i++) {
      const start = Date.now();
      await purchase(s, `hang-${i}`);
      slowest = Math.max(slowest, Date.now() - start);
    }
    const sent = Date.now();
    await eventually('every event at the prompt receiver', async () => prompt.received.length === n, 5_000);
    expect(Date.now() - sent).toBeLessThan(3_000);
    expect(slowest).toBeLessThan(1_000);
    // The hanging one holds as many attempts as its endpoint has slots, no more.
    expect(hanging.received.length).toBeGreaterThan(0);
    expect(hanging.received.length).toBeLessThanOrEqual(8);
    // ...and claims no more than those and as many again waiting for a slot: the rest wait in
    // PostgreSQL, not in the worker's memory.
    const held = (await deliveries(s.biz, hanging_id, '?limit=1000')).data;
    expect(held).toHaveLength(n);
    expect(held.filter((d) => d.attempts > 0).length).toBeLessThanOrEqual(16);
  });

  it('after the 8th failure a delivery is failed; a retry makes one more attempt now', async () => {
    // Stores and a gateway of its own with a 1 ms base (the 8 attempts are over in about 5.5 s):
    // this file's gateway, with its longer base, must not take an attempt of it.
    const mine = await startOwnStores('webhooks_failed');
    const fast = await startTestGateway({ redis_url: mine.redis.url, database_url: mine.database_url, webhooks: { retry_base_ms: 1, allow_private: true, worker: true } });
    try {
      const biz = await createBusiness(fast);
      const [c] = await createContacts(fast, biz, [testCard(21_600_001)]);
      const r = await receiver((n) => (n < 8 ? 503 : 200));
      const w = await call(fast, 'POST', '/v1/webhooks', biz.admin_key, { url: r.url, events: ['transaction.approved'] });
      const id = w.body.id as string;
      const p = await call(fast, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'dead-1', cim: { type: 'card', value: c!.card }, amount: 500, currency: 'EUR' });
      expect(p.status).toBe(201);
      const list = async (q = '') => (await call(fast, 'GET', `/v1/webhooks/${id}/deliveries${q}`, biz.admin_key)).body.data as any[];
      const [d] = await eventually('failed', async () => ((await list('?status=failed')).length === 1 ? list() : undefined), 30_000);
      expect(d).toMatchObject({ status: 'failed', attempts: 8, last_status_code: 503, next_attempt_at: null });
      expect(d.last_error).toContain('503');
      expect(r.received).toHaveLength(8);
      expect(new Set(r.received.map((e) => e.json.id))).toEqual(new Set([d.event_id]));
      expect(await list('?status=pending')).toEqual([]);

      const retry = await call(fast, 'POST', `/v1/webhooks/${id}/deliveries/${d.event_id}/retry`, biz.admin_key);
      expect(retry.status).toBe(202);
      expect(retry.body).toMatchObject({ event_id: d.event_id, status: 'pending' });
      await eventually('the 9th attempt', async () => r.received.length === 9);
      expect(r.received[8]!.json.id).toBe(d.event_id);
      await eventually('succeeded', async () => (await list())[0]?.status === 'succeeded');
      expect((await list())[0]).toMatchObject({ attempts: 9, last_status_code: 200, last_error: null });
      expect((await call(fast, 'POST', `/v1/webhooks/${id}/deliveries/evt_nope/retry`, biz.admin_key)).status).toBe(404);
    } finally {
      await fast.close();
      await mine.stop();
    }
  });

  it('are listed newest first, by status, a page at a time', async () => {
    const s = await shop(21_700_001);
    const r = await receiver((_, body) => (body?.data?.reference?.endsWith('-odd') ? 410 : 200));
    const { id } = await webhook(s.biz, r.url, ['transaction.approved']);
    const made: string[] = [];
    for (let i = 0; i < 7; i++) {
      made.push((await purchase(s, `page-${i}${i % 2 === 1 ? '-odd' : ''}`)).id);
      // Transaction ids (and so event ids) order by their millisecond: one each.
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    await eventually('all attempted', async () => r.received.length >= 7);
    await eventually('all settled or retrying', async () => (await deliveries(s.biz, id, '?status=succeeded')).data.length === 4);
    const all = await deliveries(s.biz, id, '?limit=1000');
    expect(all.object).toBe('list');
    expect(all.has_more).toBe(false);
    const txn_of = new Map(r.received.map((e) => [e.json.id, e.json.data.id]));
    expect(all.data.map((d) => txn_of.get(d.event_id))).toEqual([...made].reverse());

    const pages: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await deliveries(s.biz, id, `?limit=3${after === undefined ? '' : `&starting_after=${after}`}`);
      expect(page.data.length).toBeLessThanOrEqual(3);
      pages.push(...page.data.map((d) => d.event_id));
      if (!page.has_more) break;
      after = page.data.at(-1)!.event_id;
    }
    expect(pages).toEqual(all.data.map((d) => d.event_id));
    const pending = await deliveries(s.biz, id, '?status=pending');
    expect(pending.data).toHaveLength(3);
    expect(pending.data.every((d) => d.last_status_code === 410 && d.next_attempt_at !== null && d.attempts >= 1)).toBe(true);
    expect(Date.parse(pending.data[0].created_at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('/metrics counts deliveries by outcome and the backlog', async () => {
    const m = await gw.app.request('/metrics');
    const text = await m.text();
    expect(text).toMatch(/pocketgate_webhook_deliveries_total\{outcome="succeeded"\} [1-9]/);
    expect(text).toMatch(/pocketgate_webhook_deliveries_total\{outcome="retrying"\} [1-9]/);
    expect(text).toMatch(/pocketgate_webhook_backlog [0-9]/);
  });
});

describe('events come from the ledger', () => {
  it('nothing is sent before the ledger has the transaction', async () => {
    // A gateway without a ledger writer, on a Redis database no writer drains.
    const url = new URL(own.redis.url);
    url.pathname = '/1';
    const pos = await startTestGateway({ redis_url: url.toString(), database_url: own.database_url, ledger_writer: false, webhooks: { retry_base_ms, allow_private: true, worker: false } });
    let writer: LedgerWriter | undefined;
    const writer_redis = await connectRedis(url.toString());
    try {
      const biz = await createBusiness(pos);
      const [c] = await createContacts(pos as TestGateway, biz, [testCard(21_800_001)]);
      const r = await receiver();
      const seen: boolean[] = [];
      r.onRequest = async (got) => {
        const rows = await own.sql`select 1 from ledger_transactions where id = ${got.json.data.id}`;
        seen.push(rows.length === 1);
      };
      const w = await call(pos, 'POST', '/v1/webhooks', biz.admin_key, { url: r.url, events: ['transaction.approved'] });
      expect(w.status).toBe(201);
      const p = await call(pos, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'late-1', cim: { type: 'card', value: c!.card }, amount: 700, currency: 'EUR' });
      expect(p.status).toBe(201);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(r.received).toEqual([]);
      expect(await own.sql`select 1 from webhook_events where business_id = ${biz.business_id}`).toHaveLength(0);

      writer = new LedgerWriter(writer_redis, own.sql, { shard_count });
      writer.start();
      await eventually('delivered once recorded', async () => r.received.length === 1);
      expect(r.received[0]!.json.data).toMatchObject({ id: p.body.id, ledger: 'recorded' });
      // What the ledger held while the request was in hand (looked up before the answer).
      await eventually('the receiver looked', async () => seen.length === 1);
      expect(seen).toEqual([true]);
    } finally {
      await writer?.stop();
      await writer_redis.close();
      await pos.close();
    }
  });

  it("a callback's transaction read before the ledger has it is pending, its terminal_code there already; its event is the view recorded", async () => {
    const url = new URL(own.redis.url);
    url.pathname = '/2';
    const pos = await startTestGateway({ redis_url: url.toString(), database_url: own.database_url, ledger_writer: false, webhooks: { retry_base_ms, allow_private: true, worker: false } });
    let writer: LedgerWriter | undefined;
    const writer_redis = await connectRedis(url.toString());
    try {
      const biz = await createBusiness(pos);
      await addCashbackOffer(pos, biz, 5);
      const [c] = await createContacts(pos as TestGateway, biz, [testCard(21_900_001)]);
      const r = await receiver();
      expect((await call(pos, 'POST', '/v1/webhooks', biz.admin_key, { url: r.url, events: ['transaction.approved'] })).status).toBe(201);
      const p = await createProcessor(pos, biz);
      const e = sale('transaction.cleared', { transaction_id: transactionId(), card: { number: c!.card }, amount: 800, currency: 'EUR', merchant_code: biz.merchant_code, terminal_code: 'POS 3' });
      const made = await postCallback(pos, p, e);
      expect(made.body.status, made.text).toBe('processed');
      const pending = (await call(pos, 'GET', `/v1/transactions/${made.body.transaction_id}`, biz.admin_key)).body;
      expect(pending).toMatchObject({ ledger: 'pending', recorded_at: null, terminal_code: 'POS 3' });

      writer = new LedgerWriter(writer_redis, own.sql, { shard_count });
      writer.start();
      await eventually('delivered once recorded', async () => r.received.length === 1);
      const recorded = (await call(pos, 'GET', `/v1/transactions/${made.body.transaction_id}`, biz.admin_key)).body;
      expect(r.received[0]!.json.data).toEqual(recorded);
      // What recording adds, by design: the ledger's state, when, and the postings. Nothing else differs.
      const { ledger, recorded_at, postings, ...rest } = recorded;
      expect([ledger, typeof recorded_at, postings.length > 0]).toEqual(['recorded', 'string', true]);
      expect({ ...rest, ledger: 'pending', recorded_at: null }).toEqual(pending);
    } finally {
      await writer?.stop();
      await writer_redis.close();
      await pos.close();
    }
  });
});
