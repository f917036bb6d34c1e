// EVENTS.md as an acceptance test written from the page alone would drive it: every table row,
// code block and example, with signatures computed exactly as the page says.

import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../gateway/config.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startReceiver, type Receiver } from './webhook-helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;

function sign(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex')}`;
}

async function post(processor_id: string, payload: unknown, header: string | undefined | ((raw: string) => string)) {
  const raw = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const headers: Record<string, string> = {};
  const h = typeof header === 'function' ? header(raw) : header;
  if (h !== undefined) headers['pocketgate-signature'] = h;
  return call(gw, 'POST', `/v1/callbacks/${processor_id}`, undefined, raw, headers);
}

interface Processor {
  id: string;
  secret: string;
}

async function processor(award_on?: 'clearing' | 'authorization'): Promise<Processor> {
  const r = await call(gw, 'POST', '/v1/processors', biz.admin_key, { name: `Acquirer ${++seq}`, ...(award_on ? { award_on } : {}) });
  expect(r.status).toBe(201);
  return { id: r.body.id, secret: r.body.signing_secret };
}

async function send(p: Processor, payload: unknown) {
  return post(p.id, payload, (raw) => sign(p.secret, raw));
}

function event(type: string, data: Record<string, unknown>, id = `evt_${++seq}_${Date.now()}`) {
  return { id, type, created_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), data };
}

async function cardContact(): Promise<{ id: string; card: string }> {
  const card = testCard(700_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Ana', cims: [{ type: 'card', value: card }] });
  expect(c.status).toBe(201);
  return { id: c.body.id, card };
}

async function wallet(contact_id: string) {
  return (await call(gw, 'GET', `/v1/contacts/${contact_id}/wallet`, biz.admin_key)).body;
}

beforeAll(async () => {
  // This gateway's webhook worker would share the deliveries with the webhook tests' gateway
  // (one database) without WEBHOOKS_ALLOW_PRIVATE: it sends none.
  gw = await startTestGateway({ webhooks: { ...configFromEnv().webhooks, worker: false } });
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10% cashback', active: true, kind: 'cashback', goal: 'spend', award: { percent: 10 } });
  expect(o.status).toBe(201);
});

afterAll(async () => {
  await gw?.close();
});

describe('EVENTS.md: processors', () => {
  it('POST /v1/processors → 201 {id, name, award_on: clearing by default, signing_secret whsec_ + base64url of 32 bytes}', async () => {
    const r = await call(gw, 'POST', '/v1/processors', biz.admin_key, { name: 'Acme acquiring' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'Acme acquiring', award_on: 'clearing' });
    expect(typeof r.body.id).toBe('string');
    expect(r.body.signing_secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const a = await call(gw, 'POST', '/v1/processors', biz.admin_key, { name: 'Auth acquiring', award_on: 'authorization' });
    expect(a.status).toBe(201);
    expect(a.body.award_on).toBe('authorization');
    const bad = await call(gw, 'POST', '/v1/processors', biz.admin_key, { name: 'x', award_on: 'settlement' });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('validation_failed');
  });

  it('GET /v1/processors lists them, never the secret', async () => {
    const p = await processor();
    const r = await call(gw, 'GET', '/v1/processors', biz.admin_key);
    expect(r.status).toBe(200);
    const list = Array.isArray(r.body) ? r.body : r.body.data;
    expect(list.map((x: any) => x.id)).toContain(p.id);
    expect(r.text).not.toContain('whsec_');
    expect(r.text).not.toContain('signing_secret');
  });

  it('POST /v1/processors/{id}/rotate-secret → 201 {signing_secret}; the old secret keeps verifying', async () => {
    const p = await processor();
    const r = await call(gw, 'POST', `/v1/processors/${p.id}/rotate-secret`, biz.admin_key);
    expect(r.status).toBe(201);
    expect(r.body.signing_secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(r.body.signing_secret).not.toBe(p.secret);
    const c = await cardContact();
    const data = { card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code };
    expect((await send(p, event('transaction.cleared', { ...data, transaction_id: `old-${seq}` }))).body.status).toBe('processed');
    expect((await send({ id: p.id, secret: r.body.signing_secret }, event('transaction.cleared', { ...data, transaction_id: `new-${seq}` }))).body.status).toBe('processed');
  });
});

describe('EVENTS.md: callback signatures', () => {
  let p: Processor;
  let c: { id: string; card: string };
  const body = () => JSON.stringify(event('transaction.cleared', { transaction_id: `sig-${++seq}`, card: { number: c.card }, amount: 500, currency: 'EUR', merchant_code: biz.merchant_code }));
  beforeAll(async () => {
    p = await processor();
    c = await cardContact();
  });

  function expect401(r: Awaited<ReturnType<typeof post>>) {
    expect(r.status).toBe(401);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(r.body.code).toBe('signature_invalid');
  }

  it('missing, malformed, wrong, stale signature, unknown processor: 401 signature_invalid, nothing changes', async () => {
    const before = await wallet(c.id);
    expect401(await post(p.id, body(), undefined));
    expect401(await post(p.id, body(), 'garbage'));
    expect401(await post(p.id, body(), 't=abc,v1=00'));
    expect401(await post(p.id, body(), (raw) => sign('whsec_wrong', raw)));
    expect401(await post(p.id, body(), (raw) => sign(p.secret, raw, Math.floor(Date.now() / 1000) - 301)));
    expect401(await post(p.id, body(), (raw) => sign(p.secret, raw, Math.floor(Date.now() / 1000) + 301)));
    expect401(await post('proc_does_not_exist', body(), (raw) => sign(p.secret, raw)));
    // signed over a different body
    expect401(await post(p.id, body(), sign(p.secret, '{}')));
    expect(await wallet(c.id)).toEqual(before);
  });

  it('within 300 s is fine; several v1= may appear, one valid is enough', async () => {
    const r1 = await post(p.id, body(), (raw) => sign(p.secret, raw, Math.floor(Date.now() / 1000) - 290));
    expect(r1.status).toBe(200);
    const r2 = await post(p.id, body(), (raw) => {
      const t = Math.floor(Date.now() / 1000);
      const good = createHmac('sha256', p.secret).update(`${t}.${raw}`).digest('hex');
      return `t=${t},v1=${'0'.repeat(64)},v1=${good}`;
    });
    expect(r2.status).toBe(200);
    expect(r2.body.status).toBe('processed');
  });

  it('a body that is not JSON (validly signed) answers 400 validation_failed', async () => {
    const r = await post(p.id, 'not json{', (raw) => sign(p.secret, raw));
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('validation_failed');
  });
});

describe('EVENTS.md: callback events', () => {
  let clearing: Processor;
  let auth: Processor;
  beforeAll(async () => {
    clearing = await processor();
    auth = await processor('authorization');
  });

  it('transaction.cleared with a card number makes a purchase on the processor terminal; reply {event_id, status: processed, transaction_id}', async () => {
    const c = await cardContact();
    const ev = event('transaction.cleared', { transaction_id: 'tx-cleared-1', card: { number: c.card }, amount: 2000, currency: 'EUR', merchant_code: biz.merchant_code, terminal_code: 'POS-7', occurred_at: new Date(Date.now() - 3_600_000).toISOString() });
    const r = await send(clearing, ev);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ event_id: ev.id, status: 'processed' });
    expect(typeof r.body.transaction_id).toBe('string');
    const t = await call(gw, 'GET', `/v1/transactions/${r.body.transaction_id}`, biz.admin_key);
    expect(t.status).toBe(200);
    expect(t.body).toMatchObject({ kind: 'purchase', reference: 'tx-cleared-1', contact_id: c.id, amount: 2000, currency: 'EUR', status: 'approved' });
    expect(t.body.terminal_id).not.toBe(biz.terminal_id);
    expect(t.body.terminal_code).toBe('POS-7');
    expect(t.body.awards[0].amount).toBe(200);
    expect((await wallet(c.id)).commerce).toBe(200);
    expect(JSON.stringify(t.body)).not.toContain(c.card);
  });

  it('cim {type, value} identifies the contact (a card token enrolled as loyalty_id)', async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'loyalty_id', value: `tok_${seq}_abc` }] });
    const r = await send(clearing, event('transaction.cleared', { transaction_id: `cim-${seq}`, cim: { type: 'loyalty_id', value: `tok_${seq}_abc` }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }));
    expect(r.body.status).toBe('processed');
    expect((await wallet(c.body.id)).commerce).toBe(100);
  });

  it('award_on clearing: transaction.authorized is ignored with code awaiting_clearing', async () => {
    const c = await cardContact();
    const ev = event('transaction.authorized', { transaction_id: `auth-${seq}`, card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code });
    const r = await send(clearing, ev);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ event_id: ev.id, status: 'ignored', code: 'awaiting_clearing' });
    expect((await wallet(c.id)).commerce).toBe(0);
  });

  it('award_on authorization: authorized makes the purchase; a lower clearing refunds the difference as <transaction_id>/clearing', async () => {
    const c = await cardContact();
    const txid = `aa-${seq}`;
    const a = await send(auth, event('transaction.authorized', { transaction_id: txid, card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }));
    expect(a.body.status).toBe('processed');
    expect((await wallet(c.id)).commerce).toBe(100);
    const cl = await send(auth, event('transaction.cleared', { transaction_id: txid, card: { number: c.card }, amount: 800, currency: 'EUR', merchant_code: biz.merchant_code }));
    expect(cl.status).toBe(200);
    expect(cl.body.status).toBe('processed');
    const refund = await call(gw, 'GET', `/v1/transactions/${cl.body.transaction_id}`, biz.admin_key);
    expect(refund.body).toMatchObject({ kind: 'refund', reference: `${txid}/clearing`, amount: 200 });
    expect((await wallet(c.id)).commerce).toBe(80);
  });

  it('award_on authorization: a same or higher clearing changes nothing', async () => {
    const c = await cardContact();
    const txid = `ab-${seq}`;
    await send(auth, event('transaction.authorized', { transaction_id: txid, card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }));
    const same = await send(auth, event('transaction.cleared', { transaction_id: txid, card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }));
    expect(same.status).toBe(200);
    expect(['ignored', 'processed']).toContain(same.body.status);
    const higher = await send(auth, event('transaction.cleared', { transaction_id: `${txid}`, card: { number: c.card }, amount: 1500, currency: 'EUR', merchant_code: biz.merchant_code }));
    expect(higher.status).toBe(200);
    expect((await wallet(c.id)).commerce).toBe(100);
  });

  it('ignored codes: contact_not_found, not_found, validation_failed (currency), original_not_found; rejected validation_failed', async () => {
    const c = await cardContact();
    const base = { card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code };
    const cases: [Record<string, unknown>, string, string][] = [
      [{ ...base, transaction_id: `u1-${seq}`, card: { number: testCard(999_999) } }, 'ignored', 'contact_not_found'],
      [{ ...base, transaction_id: `u1b-${seq}`, card: undefined, cim: { type: 'email', value: 'nobody@example.com' } }, 'ignored', 'contact_not_found'],
      [{ ...base, transaction_id: `u2-${seq}`, merchant_code: 'NOSUCHMERCHANT' }, 'ignored', 'not_found'],
      [{ ...base, transaction_id: `u3-${seq}`, currency: 'USD' }, 'ignored', 'validation_failed'],
      [{ ...base, transaction_id: `u4-${seq}`, amount: undefined }, 'rejected', 'validation_failed'],
      [{ ...base, transaction_id: `u5-${seq}`, amount: 10.5 }, 'rejected', 'validation_failed'],
      [{ ...base, transaction_id: 'x'.repeat(65) }, 'rejected', 'validation_failed'],
      [{ ...base, transaction_id: `u6-${seq}`, occurred_at: new Date(Date.now() - 36 * 86_400_000).toISOString() }, 'rejected', 'validation_failed'],
      [{ ...base, transaction_id: `u7-${seq}`, occurred_at: new Date(Date.now() + 10 * 60_000).toISOString() }, 'rejected', 'validation_failed'],
    ];
    for (const [data, status, code] of cases) {
      const ev = event('transaction.cleared', data);
      const r = await send(clearing, ev);
      expect(r.status, JSON.stringify(data)).toBe(200);
      expect(r.body, JSON.stringify(data)).toMatchObject({ event_id: ev.id, status, code });
    }
    const ok34 = await send(clearing, event('transaction.cleared', { ...base, transaction_id: `u8-${seq}`, occurred_at: new Date(Date.now() - 34 * 86_400_000).toISOString() }));
    expect(ok34.body.status).toBe('processed');
    const unknownType = await send(clearing, event('transaction.exploded', { transaction_id: `u9-${seq}` }));
    expect(unknownType.status).toBe(200);
    expect(unknownType.body).toMatchObject({ status: 'rejected', code: 'validation_failed' });
    const orphan = await send(clearing, event('transaction.refunded', { transaction_id: `r0-${seq}`, original_transaction_id: 'never-seen', amount: 100, currency: 'EUR', merchant_code: biz.merchant_code }));
    expect(orphan.body).toMatchObject({ status: 'ignored', code: 'original_not_found' });
    const orphanRev = await send(clearing, event('transaction.reversed', { transaction_id: 'never-seen-either' }));
    expect(orphanRev.body).toMatchObject({ status: 'ignored', code: 'original_not_found' });
    expect((await wallet(c.id)).commerce).toBe(100);
  });

  it('transaction.refunded claws back in proportion; beyond the original: amount_exceeds_original', async () => {
    const c = await cardContact();
    const txid = `rf-${seq}`;
    await send(clearing, event('transaction.cleared', { transaction_id: txid, card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }));
    const r = await send(clearing, event('transaction.refunded', { transaction_id: `${txid}-r1`, original_transaction_id: txid, amount: 500, currency: 'EUR', merchant_code: biz.merchant_code, terminal_code: 'POS-1' }));
    expect(r.body.status).toBe('processed');
    expect((await call(gw, 'GET', `/v1/transactions/${r.body.transaction_id}`, biz.admin_key)).body).toMatchObject({ kind: 'refund', amount: 500 });
    expect((await wallet(c.id)).commerce).toBe(50);
    const over = await send(clearing, event('transaction.refunded', { transaction_id: `${txid}-r2`, original_transaction_id: txid, amount: 501, currency: 'EUR', merchant_code: biz.merchant_code }));
    expect(over.body).toMatchObject({ status: 'ignored', code: 'amount_exceeds_original' });
    expect((await wallet(c.id)).commerce).toBe(50);
  });

  it('transaction.reversed voids the original; a reversal after a reversal: already_reversed', async () => {
    const c = await cardContact();
    const txid = `rv-${seq}`;
    await send(clearing, event('transaction.cleared', { transaction_id: txid, card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }));
    const r = await send(clearing, event('transaction.reversed', { transaction_id: txid }));
    expect(r.body.status).toBe('processed');
    expect((await call(gw, 'GET', `/v1/transactions/${r.body.transaction_id}`, biz.admin_key)).body.kind).toBe('reversal');
    expect((await wallet(c.id)).commerce).toBe(0);
    const refund = await send(clearing, event('transaction.refunded', { transaction_id: `${txid}-r`, original_transaction_id: txid, amount: 100, currency: 'EUR', merchant_code: biz.merchant_code }));
    expect(refund.body.status).toBe('ignored');
    expect(['already_reversed', 'amount_exceeds_original', 'original_not_found']).toContain(refund.body.code);
  });

  it('a batch {events: [...]} answers {results: [...]} one per event, in order', async () => {
    const c = await cardContact();
    const evs = [
      event('transaction.cleared', { transaction_id: `b1-${seq}`, card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }),
      event('transaction.authorized', { transaction_id: `b2-${seq}`, card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }),
      event('transaction.cleared', { transaction_id: `b3-${seq}`, card: { number: c.card }, currency: 'EUR', merchant_code: biz.merchant_code }),
      event('transaction.cleared', { transaction_id: `b4-${seq}`, card: { number: testCard(888_888) }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }),
    ];
    const r = await send(clearing, { events: evs });
    expect(r.status).toBe(200);
    expect(r.body.results).toHaveLength(4);
    expect(r.body.results.map((x: any) => x.event_id)).toEqual(evs.map((e) => e.id));
    expect(r.body.results.map((x: any) => x.status)).toEqual(['processed', 'ignored', 'rejected', 'ignored']);
    expect(r.body.results.map((x: any) => x.code)).toEqual([undefined, 'awaiting_clearing', 'validation_failed', 'contact_not_found']);
    const big = await send(clearing, { events: Array.from({ length: 501 }, (_, i) => event('transaction.reversed', { transaction_id: `big-${i}` })) });
    expect(big.status).toBeGreaterThanOrEqual(400);
    expect(big.status).toBeLessThan(500);
  });

  it('idempotent: the same event id gets the first result again with replayed: true; so does the same transaction_id and type under a new event id', async () => {
    const c = await cardContact();
    const ev = event('transaction.cleared', { transaction_id: `id-${seq}`, card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code });
    const first = await send(clearing, ev);
    const again = await send(clearing, ev);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, replayed: true });
    const renamed = await send(clearing, { ...ev, id: `${ev.id}-bis` });
    expect(renamed.body).toMatchObject({ status: 'processed', transaction_id: first.body.transaction_id, replayed: true });
    expect((await wallet(c.id)).commerce).toBe(100);
    // the same event id inside a batch is replayed too
    const batch = await send(clearing, { events: [ev] });
    expect(batch.body.results[0]).toMatchObject({ ...first.body, replayed: true });
    // The event id answered as a replay of its transaction is that answer for good: sent again
    // naming another sale, it replays and changes nothing (the black-box audit of 2026-12-03 saw
    // a second purchase made).
    const reused = await send(clearing, { ...ev, id: `${ev.id}-bis`, data: { ...ev.data, transaction_id: `id-${seq}-other` } });
    expect(reused.body).toEqual({ ...renamed.body, replayed: true });
    expect((await wallet(c.id)).commerce).toBe(100);
  });
});

describe('EVENTS.md: webhooks', () => {
  let wgw: TestGateway;
  let wbiz: BusinessFixture;
  let rx: Receiver;
  let closed = false;
  beforeAll(async () => {
    const cfg = configFromEnv();
    wgw = await startTestGateway({ expiry_sweep_ms: 200, webhooks: { ...cfg.webhooks, allow_private: true, retry_base_ms: 200 } });
    wbiz = await createBusiness(wgw);
    rx = await startReceiver();
    await call(wgw, 'POST', '/v1/offers', wbiz.admin_key, { name: '10% cashback', active: true, kind: 'cashback', goal: 'spend', award: { percent: 10 } });
  });
  afterAll(async () => {
    if (!closed) {
      await rx?.close();
      await wgw.close();
    }
  });

  it('private addresses are refused with 400 validation_failed without WEBHOOKS_ALLOW_PRIVATE; url must be http(s)', async () => {
    for (const url of ['http://127.0.0.1:9/x', 'http://10.1.2.3/x', 'http://192.168.1.1/x', 'http://169.254.169.254/latest', 'http://[::1]/x', 'ftp://example.com/x']) {
      const r = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url, events: ['*'] });
      expect(r.status, url).toBe(400);
      expect(r.body.code, url).toBe('validation_failed');
    }
    const ok = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: 'https://example.com/hook', events: ['*'] });
    expect(ok.status).toBe(201);
  });

  it('CRUD: 201 {id, url, events, status: enabled, signing_secret}; GET, PATCH → 200; DELETE → 204', async () => {
    const r = await call(wgw, 'POST', '/v1/webhooks', wbiz.admin_key, { url: 'https://example.com/a', events: ['transaction.approved'], description: 'crm' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ url: 'https://example.com/a', events: ['transaction.approved'], status: 'enabled' });
    expect(r.body.signing_secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const id = r.body.id;
    const one = await call(wgw, 'GET', `/v1/webhooks/${id}`, wbiz.admin_key);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id, url: 'https://example.com/a', events: ['transaction.approved'], status: 'enabled' });
    expect(one.text).not.toContain('whsec_');
    const list = await call(wgw, 'GET', '/v1/webhooks', wbiz.admin_key);
    expect(list.status).toBe(200);
    expect(list.text).not.toContain('whsec_');
    expect((Array.isArray(list.body) ? list.body : list.body.data).map((w: any) => w.id)).toContain(id);
    const p = await call(wgw, 'PATCH', `/v1/webhooks/${id}`, wbiz.admin_key, { status: 'disabled', events: ['*'], url: 'https://example.com/b' });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ id, url: 'https://example.com/b', events: ['*'], status: 'disabled' });
    const bad = await call(wgw, 'PATCH', `/v1/webhooks/${id}`, wbiz.admin_key, { status: 'paused' });
    expect(bad.status).toBe(400);
    const d = await call(wgw, 'DELETE', `/v1/webhooks/${id}`, wbiz.admin_key);
    expect(d.status).toBe(204);
    expect((await call(wgw, 'GET', `/v1/webhooks/${id}`, wbiz.admin_key)).status).toBe(404);
    const other = await createBusiness(wgw);
    const mine = await call(wgw, 'POST', '/v1/webhooks', wbiz.admin_key, { url: 'https://example.com/c', events: ['*'] });
    expect((await call(wgw, 'GET', `/v1/webhooks/${mine.body.id}`, other.admin_key)).status).toBe(404);
    await call(wgw, 'DELETE', `/v1/webhooks/${mine.body.id}`, wbiz.admin_key);
  });

  it('payloads: transaction.approved data is GET /v1/transactions/{id}; award.created is the award plus contact_id, transaction_id; headers signed', async () => {
    const w = await call(wgw, 'POST', '/v1/webhooks', wbiz.admin_key, { url: rx.url, events: ['*'] });
    expect(w.status).toBe(201);
    const secret = w.body.signing_secret as string;
    const card = testCard(600_001);
    const c = await call(wgw, 'POST', '/v1/contacts', wbiz.admin_key, { cims: [{ type: 'card', value: card }] });
    const p = await call(wgw, 'POST', '/v1/purchases', wbiz.terminal_key, { reference: 'wh-1', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    expect(p.status).toBe(201);
    const approved = await eventually('transaction.approved', async () => rx.received.find((r) => r.json?.type === 'transaction.approved' && r.json.data.id === p.body.id));
    const award = await eventually('award.created', async () => rx.received.find((r) => r.json?.type === 'award.created' && r.json.data.transaction_id === p.body.id));
    for (const r of [approved, award]) {
      expect(Object.keys(r.json).sort()).toEqual(['business_id', 'created_at', 'data', 'id', 'type']);
      expect(r.json.id).toMatch(/^evt_/);
      expect(r.json.business_id).toBe(wbiz.business_id);
      expect(r.json.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
      expect(r.headers['pocketgate-event-id']).toBe(r.json.id);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(r.headers['pocketgate-signature'] as string);
      expect(m).not.toBeNull();
      expect(Math.abs(Number(m![1]) - Date.now() / 1000)).toBeLessThan(300);
      expect(m![2]).toBe(createHmac('sha256', secret).update(`${m![1]}.${r.body}`).digest('hex'));
    }
    const t = await call(wgw, 'GET', `/v1/transactions/${p.body.id}`, wbiz.admin_key);
    expect(approved.json.data).toEqual(t.body);
    expect(approved.json.data.kind).toBe('purchase');
    expect(award.json.data).toEqual({ ...p.body.awards[0], contact_id: c.body.id, transaction_id: p.body.id });
    await call(wgw, 'DELETE', `/v1/webhooks/${w.body.id}`, wbiz.admin_key);
  });

  it('every kind is a transaction.approved with data.kind; subscriptions and status filter what is sent', async () => {
    const all = await startReceiver();
    const awardsOnly = await startReceiver();
    const off = await startReceiver();
    const hooks = [
      await call(wgw, 'POST', '/v1/webhooks', wbiz.admin_key, { url: all.url, events: ['transaction.approved'] }),
      await call(wgw, 'POST', '/v1/webhooks', wbiz.admin_key, { url: awardsOnly.url, events: ['award.created'] }),
      await call(wgw, 'POST', '/v1/webhooks', wbiz.admin_key, { url: off.url, events: ['*'] }),
    ];
    await call(wgw, 'PATCH', `/v1/webhooks/${hooks[2]!.body.id}`, wbiz.admin_key, { status: 'disabled' });
    const card = testCard(600_002);
    const c = await call(wgw, 'POST', '/v1/contacts', wbiz.admin_key, { cims: [{ type: 'card', value: card }] });
    const cim = { type: 'card', value: card };
    const k = wbiz.terminal_key;
    const p1 = await call(wgw, 'POST', '/v1/purchases', k, { reference: 'k-p1', cim, amount: 10000, currency: 'EUR' });
    const red = await call(wgw, 'POST', '/v1/redemptions', k, { reference: 'k-r1', cim });
    const otp = await call(wgw, 'POST', `/v1/contacts/${c.body.id}/spend-otp`, wbiz.admin_key, { amount: 300 });
    const sp = await call(wgw, 'POST', '/v1/spends', k, { reference: 'k-s1', amount: 300, currency: 'EUR', otp: otp.body.otp });
    const p2 = await call(wgw, 'POST', '/v1/purchases', k, { reference: 'k-p2', cim, amount: 1000, currency: 'EUR' });
    const rf = await call(wgw, 'POST', '/v1/refunds', k, { reference: 'k-rf', original_reference: 'k-p2', amount: 500 });
    const rv = await call(wgw, 'POST', '/v1/reversals', k, { reference: 'k-rv', original_reference: 'k-p2' });
    for (const r of [p1, red, otp, sp, p2, rf, rv]) expect(r.status, r.text).toBe(201);
    const kinds = await eventually('six transaction.approved', async () => {
      const got = all.received.map((r) => r.json.data.kind);
      return got.length >= 6 ? got : undefined;
    });
    expect(kinds.sort()).toEqual(['purchase', 'purchase', 'redemption', 'refund', 'reversal', 'spend']);
    expect(all.received.every((r) => r.json.type === 'transaction.approved')).toBe(true);
    await eventually('awards', async () => awardsOnly.received.length >= 2);
    expect(awardsOnly.received.every((r) => r.json.type === 'award.created')).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(off.received).toHaveLength(0);
    for (const h of hooks) await call(wgw, 'DELETE', `/v1/webhooks/${h.body.id}`, wbiz.admin_key);
    await Promise.all([all.close(), awardsOnly.close(), off.close()]);
  });

  it('signup awards are award.created too', async () => {
    const r = await startReceiver();
    const h = await call(wgw, 'POST', '/v1/webhooks', wbiz.admin_key, { url: r.url, events: ['award.created'] });
    const o = await call(wgw, 'POST', '/v1/offers', wbiz.admin_key, { name: 'Welcome', active: true, kind: 'cashback', goal: 'signup', award: { fixed: 500 } });
    expect(o.status).toBe(201);
    const c = await call(wgw, 'POST', '/v1/contacts', wbiz.admin_key, { first_name: 'New' });
    const got = await eventually('signup award', async () => r.received.find((x) => x.json.data.contact_id === c.body.id));
    expect(got.json.data).toMatchObject({ offer_id: o.body.id, amount: 500, contact_id: c.body.id });
    expect(typeof got.json.data.transaction_id).toBe('string');
    await call(wgw, 'PATCH', `/v1/offers/${o.body.id}`, wbiz.admin_key, { active: false });
    await call(wgw, 'DELETE', `/v1/webhooks/${h.body.id}`, wbiz.admin_key);
    await r.close();
  });

  it('award.expired {contact_id, transaction_id, amount, currency} and a transaction.approved of kind expiry; signup awards are kind award', async () => {
    const eb = await createBusiness(wgw);
    const r = await startReceiver();
    await call(wgw, 'POST', '/v1/webhooks', eb.admin_key, { url: r.url, events: ['*'] });
    await call(wgw, 'POST', '/v1/offers', eb.admin_key, { name: 'one day', active: true, kind: 'cashback', goal: 'spend', award: { fixed: 100 }, validity_days: 1 });
    await call(wgw, 'POST', '/v1/offers', eb.admin_key, { name: 'welcome', active: true, kind: 'cashback', goal: 'signup', award: { fixed: 50 } });
    const p = (await call(wgw, 'POST', '/v1/processors', eb.admin_key, { name: 'Acq' })).body;
    const card = testCard(600_006);
    const c = await call(wgw, 'POST', '/v1/contacts', eb.admin_key, { cims: [{ type: 'card', value: card }] });
    // a sale three days old: its one-day award is already past its expiry
    const ev = event('transaction.cleared', { transaction_id: 'old-sale', card: { number: card }, amount: 1000, currency: 'EUR', merchant_code: eb.merchant_code, occurred_at: new Date(Date.now() - 3 * 86_400_000).toISOString() });
    const raw = JSON.stringify(ev);
    const sale = await call(wgw, 'POST', `/v1/callbacks/${p.id}`, undefined, raw, { 'pocketgate-signature': sign(p.signing_secret, raw) });
    expect(sale.body.status).toBe('processed');
    const expired = await eventually('award.expired', async () => r.received.find((x) => x.json.type === 'award.expired'));
    expect(expired.json.data).toEqual({ contact_id: c.body.id, transaction_id: expect.any(String), amount: 100, currency: 'EUR' });
    const expiry = await eventually('expiry', async () => r.received.find((x) => x.json.type === 'transaction.approved' && x.json.data.kind === 'expiry'));
    expect(expiry.json.data.id).toBe(expired.json.data.transaction_id);
    expect(expiry.json.data).toMatchObject({ contact_id: c.body.id, amount: 100, currency: 'EUR' });
    const signup = await eventually('signup award', async () => r.received.find((x) => x.json.type === 'transaction.approved' && x.json.data.kind === 'award'));
    expect(signup.json.data).toMatchObject({ contact_id: c.body.id, amount: 50 });
    await r.close();
  });

  it('retries: attempt k waits base × 4^(k−2) ±20%; deliveries list shows attempts; retry → 202', async () => {
    // a redirect is not a 2xx: it is retried like a 500
    const r = await startReceiver((n) => (n === 0 ? 302 : n === 1 ? 500 : 200));
    const h = await call(wgw, 'POST', '/v1/webhooks', wbiz.admin_key, { url: r.url, events: ['transaction.approved'] });
    const card = testCard(600_003);
    await call(wgw, 'POST', '/v1/contacts', wbiz.admin_key, { cims: [{ type: 'card', value: card }] });
    await call(wgw, 'POST', '/v1/purchases', wbiz.terminal_key, { reference: 'rt-1', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    await eventually('three attempts', async () => r.received.length >= 3, 15_000);
    const gap2 = r.received[1]!.at - r.received[0]!.at;
    const gap3 = r.received[2]!.at - r.received[1]!.at;
    expect(gap2).toBeGreaterThanOrEqual(160 - 20);
    expect(gap2).toBeLessThan(240 + 250);
    expect(gap3).toBeGreaterThanOrEqual(640 - 20);
    expect(gap3).toBeLessThan(960 + 250);
    expect(new Set(r.received.map((x) => x.json.id)).size).toBe(1);
    const list = await eventually('succeeded', async () => {
      const l = await call(wgw, 'GET', `/v1/webhooks/${h.body.id}/deliveries`, wbiz.admin_key);
      return l.body.data?.[0]?.status === 'succeeded' ? l : undefined;
    });
    expect(list.body.object).toBe('list');
    expect(list.body.has_more).toBe(false);
    const d = list.body.data[0];
    for (const f of ['event_id', 'type', 'status', 'attempts', 'last_status_code', 'last_error', 'next_attempt_at', 'created_at']) expect(d, f).toHaveProperty(f);
    expect(d).toMatchObject({ event_id: r.received[0]!.json.id, type: 'transaction.approved', status: 'succeeded', attempts: 3, last_status_code: 200 });
    const retry = await call(wgw, 'POST', `/v1/webhooks/${h.body.id}/deliveries/${d.event_id}/retry`, wbiz.admin_key);
    expect(retry.status).toBe(202);
    await eventually('one more attempt', async () => r.received.length >= 4);
    expect(r.received[3]!.json.id).toBe(d.event_id);
    expect((await call(wgw, 'POST', `/v1/webhooks/${h.body.id}/deliveries/evt_nope/retry`, wbiz.admin_key)).status).toBe(404);
    await call(wgw, 'DELETE', `/v1/webhooks/${h.body.id}`, wbiz.admin_key);
    await r.close();
  });

  it('deliveries: newest first, limit 1–1000, starting_after, status filter', async () => {
    const r = await startReceiver();
    const h = await call(wgw, 'POST', '/v1/webhooks', wbiz.admin_key, { url: r.url, events: ['transaction.approved'] });
    const card = testCard(600_004);
    await call(wgw, 'POST', '/v1/contacts', wbiz.admin_key, { cims: [{ type: 'card', value: card }] });
    for (let i = 0; i < 3; i++) {
      await call(wgw, 'POST', '/v1/purchases', wbiz.terminal_key, { reference: `pg-${i}`, cim: { type: 'card', value: card }, amount: 1000 + i, currency: 'EUR' });
      await eventually('delivered', async () => r.received.length > i);
    }
    const base = `/v1/webhooks/${h.body.id}/deliveries`;
    const all = await eventually('3 succeeded', async () => {
      const l = await call(wgw, 'GET', `${base}?status=succeeded`, wbiz.admin_key);
      return l.body.data.length === 3 ? l : undefined;
    });
    expect(all.body.data.map((d: any) => d.event_id)).toEqual(r.received.map((x) => x.json.id).reverse());
    const p1 = await call(wgw, 'GET', `${base}?limit=2`, wbiz.admin_key);
    expect(p1.body.data).toHaveLength(2);
    expect(p1.body.has_more).toBe(true);
    const p2 = await call(wgw, 'GET', `${base}?limit=2&starting_after=${p1.body.data[1].event_id}`, wbiz.admin_key);
    expect(p2.body.data.map((d: any) => d.event_id)).toEqual([all.body.data[2]!.event_id]);
    expect(p2.body.has_more).toBe(false);
    expect((await call(wgw, 'GET', `${base}?status=failed`, wbiz.admin_key)).body.data).toEqual([]);
    for (const q of ['limit=0', 'limit=1001', 'status=bogus']) {
      const bad = await call(wgw, 'GET', `${base}?${q}`, wbiz.admin_key);
      expect(bad.status, q).toBe(400);
      expect(bad.body.code, q).toBe('validation_failed');
    }
    expect((await call(wgw, 'GET', `${base}?limit=1000`, wbiz.admin_key)).status).toBe(200);
    await call(wgw, 'DELETE', `/v1/webhooks/${h.body.id}`, wbiz.admin_key);
    await r.close();
  });

  it('after the 8th failure the delivery is failed', async () => {
    // this gateway alone sends deliveries now, with a tiny retry base
    closed = true;
    await rx.close();
    await wgw.close();
    const cfg = configFromEnv();
    const fgw = await startTestGateway({ webhooks: { ...cfg.webhooks, allow_private: true, retry_base_ms: 2 } });
    const fb = await createBusiness(fgw);
    const r = await startReceiver(() => 503);
    const h = await call(fgw, 'POST', '/v1/webhooks', fb.admin_key, { url: r.url, events: ['transaction.approved'] });
    const card = testCard(600_005);
    await call(fgw, 'POST', '/v1/contacts', fb.admin_key, { cims: [{ type: 'card', value: card }] });
    await call(fgw, 'POST', '/v1/purchases', fb.terminal_key, { reference: 'f-1', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    const l = await eventually('failed', async () => {
      const x = await call(fgw, 'GET', `/v1/webhooks/${h.body.id}/deliveries`, fb.admin_key);
      return x.body.data?.[0]?.status === 'failed' ? x : undefined;
    }, 30_000);
    expect(r.received).toHaveLength(8);
    expect(l.body.data[0]).toMatchObject({ attempts: 8, last_status_code: 503, status: 'failed' });
    await new Promise((res) => setTimeout(res, 500));
    expect(r.received).toHaveLength(8);
    await r.close();
    await fgw.close();
  }, 40_000);
});
