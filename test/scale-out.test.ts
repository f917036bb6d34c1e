// Two gateways on one Redis and one PostgreSQL, as behind a load balancer that sprays requests
// over them (DESIGN.md: "Gateways keep no state of their own and scale horizontally behind any
// load balancer"). What one gateway does or changes, the other must see as the pages (and the
// README, where it decided) say: idempotency, caps and budgets, the network and rewards set-up,
// OTPs, wallet codes and guesses, refunds and reversals, the ledger, webhooks and the live feed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { luhnCheckDigit } from '../core/luhn.ts';
import { call, createBusiness, eventually, openFeed, startTestGateway, testCard, type ApiResponse, type BusinessFixture, type TestGateway } from './helpers.ts';
import { createCardContact } from './card-contact.ts';
import { expectProblem } from './contract-util.ts';
import { hashKey } from '../processor/network.ts';
import { keyEntryKey } from '../processor/network-layout.ts';

let a: TestGateway;
let b: TestGateway;

beforeAll(async () => {
  [a, b] = await Promise.all([startTestGateway({ webhooks: { retry_base_ms: 60_000, allow_private: true, worker: true } }, true, true), startTestGateway({ webhooks: { retry_base_ms: 60_000, allow_private: true, worker: true } }, true, true)]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

/** The gateway a load balancer sends the i-th request to. */
const gw = (i: number): TestGateway => (i % 2 === 0 ? a : b);

let seed = 77_000_000;
const contactOf = (g: TestGateway, biz: BusinessFixture) => createCardContact(g, biz, ++seed);

function purchase(g: TestGateway, biz: BusinessFixture, body: Record<string, unknown>, key = biz.terminal_key): Promise<ApiResponse> {
  return call(g, 'POST', '/v1/purchases', key, { currency: 'EUR', ...body });
}

async function offer(g: TestGateway, biz: BusinessFixture, body: Record<string, unknown>): Promise<string> {
  const o = await call(g, 'POST', '/v1/offers', biz.admin_key, { name: 'offer', goal: 'spend', kind: 'cashback', ...body });
  expect(o.status, o.text).toBe(201);
  return o.body.id;
}

/**
 * The offers' pub/sub message reaching the other gateway (README: "pub/sub: milliseconds"). Both
 * gateways share one event loop here, so B may run the next request before its subscriber's
 * message is read; a client's own round trip gives the same time between processes.
 */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

const awarded = (r: ApiResponse): number => (r.body.awards as { amount: number }[]).reduce((s, x) => s + x.amount, 0);

describe('idempotency across gateways', () => {
  it('100 simultaneous copies of one purchase split over two gateways: one transaction, the rest replays', async () => {
    const biz = await createBusiness(a);
    await offer(a, biz, { award: { percent: 5 } });
    const c = await contactOf(a, biz);
    const body = { reference: 'split-1', cim: { type: 'card', value: c.card }, amount: 2000 };
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => purchase(gw(i), biz, body)));
    expect(replies.map((r) => r.status)).toEqual(Array(100).fill(201));
    expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
    expect(replies.filter((r) => r.headers.get('idempotent-replayed') !== 'true')).toHaveLength(1);
    const w = await call(b, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect(w.body).toMatchObject({ open: 0, commerce: 100 });
    // The same reference with another body, on either gateway: 409.
    for (const g of [a, b]) expectProblem(await purchase(g, biz, { ...body, amount: 2001 }), 409, 'idempotency_conflict');
    // 100 copies with two bodies, split: one transaction, the other body 409.
    const two = await Promise.all(Array.from({ length: 100 }, (_, i) => purchase(gw(i), biz, { ...body, reference: 'split-2', amount: i % 4 < 2 ? 1000 : 3000 })));
    const ok = two.filter((r) => r.status === 201);
    expect(new Set(ok.map((r) => r.body.id)).size).toBe(1);
    expect(new Set(ok.map((r) => r.text)).size).toBe(1);
    for (const r of two.filter((r) => r.status !== 201)) expectProblem(r, 409, 'idempotency_conflict');
  });
});

describe('caps and budgets spread over gateways', () => {
  it('a per_contact cap of 1 a day, 20 purchases of one contact over two gateways: awarded once', async () => {
    const biz = await createBusiness(a);
    await offer(a, biz, { award: { fixed: 100 }, limits: { per_contact: { count: 1, period: 'day' } } });
    const c = await contactOf(a, biz);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => purchase(gw(i), biz, { reference: `cap-${i}`, cim: { type: 'card', value: c.card }, amount: 1000 })));
    for (const r of replies) expect(r.status, r.text).toBe(201);
    expect(replies.reduce((s, r) => s + awarded(r), 0)).toBe(100);
  });

  it('a budget of 1000, 40 contacts buying at once over two gateways: exactly 1000 awarded', async () => {
    const biz = await createBusiness(a);
    await offer(a, biz, { award: { fixed: 100 }, limits: { budget: 1000 } });
    const contacts = await Promise.all(Array.from({ length: 40 }, () => contactOf(a, biz)));
    const replies = await Promise.all(contacts.map((c, i) => purchase(gw(i), biz, { reference: `bud-${i}`, cim: { type: 'card', value: c.card }, amount: 1000 })));
    for (const r of replies) expect(r.status, r.text).toBe(201);
    expect(replies.reduce((s, r) => s + awarded(r), 0)).toBe(1000);
  });
});

describe('a change made through one gateway, seen by the other', () => {
  it('offers created, patched and deactivated on A apply to the next purchase on B', async () => {
    const biz = await createBusiness(a);
    const c = await contactOf(a, biz);
    let n = 0;
    const buy = () => purchase(b, biz, { reference: `chg-${++n}`, cim: { type: 'card', value: c.card }, amount: 1000 });
    expect(awarded(await buy())).toBe(0); // B has compiled the business: no offers
    const id = await offer(a, biz, { award: { fixed: 10 } });
    await settle();
    expect(awarded(await buy())).toBe(10);
    const p = await call(a, 'PATCH', `/v1/offers/${id}`, biz.admin_key, { award: { fixed: 20 } });
    expect(p.status, p.text).toBe(200);
    await settle();
    expect(awarded(await buy())).toBe(20);
    const off = await call(a, 'PATCH', `/v1/offers/${id}`, biz.admin_key, { active: false });
    expect(off.status, off.text).toBe(200);
    await settle();
    expect(awarded(await buy())).toBe(0);
  });

  it('two PATCHes of one offer at once, on A and on B, each of its own field: both applied', async () => {
    const biz = await createBusiness(a);
    for (let round = 0; round < 5; round++) {
      const id = await offer(a, biz, { award: { percent: 5 } });
      const [p1, p2] = await Promise.all([
        call(a, 'PATCH', `/v1/offers/${id}`, biz.admin_key, { name: 'renamed' }),
        call(b, 'PATCH', `/v1/offers/${id}`, biz.admin_key, { max_award: 50 }),
      ]);
      expect([p1.status, p2.status]).toEqual([200, 200]);
      const got = await call(b, 'GET', `/v1/offers/${id}`, biz.admin_key);
      expect([got.body.name, got.body.max_award]).toEqual(['renamed', 50]);
    }
  });

  it('tiers put on A: a contact advances on B; a tier-only offer applies there', async () => {
    const biz = await createBusiness(a);
    const c = await contactOf(a, biz);
    await offer(a, biz, { award: { fixed: 7 }, conditions: { tiers: ['gold'] } });
    await settle();
    expect(awarded(await purchase(b, biz, { reference: 't-0', cim: { type: 'card', value: c.card }, amount: 100 }))).toBe(0);
    // A tier's period counts purchases from when the business first had one (README): after this.
    const t = await call(a, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 50, period: 'month' }]);
    expect(t.status, t.text).toBe(200);
    await settle();
    expect((await purchase(b, biz, { reference: 't-1', cim: { type: 'card', value: c.card }, amount: 5000 })).status).toBe(201);
    const read = await call(a, 'GET', `/v1/contacts/${c.id}`, biz.admin_key);
    expect(read.body.tier).toBe('gold');
    const second = await purchase(b, biz, { reference: 't-2', cim: { type: 'card', value: c.card }, amount: 100 });
    expect(awarded(second)).toBe(7);
  });

  it('a terminal made on A works on B at once; one whose key was rotated on A is refused on B at once (pub/sub, not the 5 s cache)', async () => {
    const biz = await createBusiness(a);
    const c = await contactOf(a, biz);
    const t = await call(a, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: 'T0000002' });
    expect(t.status, t.text).toBe(201);
    const r = await purchase(b, biz, { reference: 'nt-1', cim: { type: 'card', value: c.card }, amount: 100 }, t.body.api_key);
    expect(r.status, r.text).toBe(201);
    const rot = await call(a, 'POST', `/v1/terminals/${t.body.id}/rotate-key`, biz.admin_key);
    expect(rot.status, rot.text).toBe(201);
    expectProblem(await purchase(a, biz, { reference: 'nt-2', cim: { type: 'card', value: c.card }, amount: 100 }, t.body.api_key), 401, 'unauthorized');
    // Within the message's way through Redis: far under the cache's 5 s (a black-box
    // probe with two gateways saw a rotated key approve purchases on the other for 4.9 s).
    await eventually('the old key refused on B', async () => (await purchase(b, biz, { reference: 'nt-3', cim: { type: 'card', value: c.card }, amount: 100 }, t.body.api_key)).status === 401, 2_000);
    const fresh = await purchase(b, biz, { reference: 'nt-4', cim: { type: 'card', value: c.card }, amount: 100 }, rot.body.api_key);
    expect(fresh.status, fresh.text).toBe(201);
  });

  it('idle WebSockets on A and B whose key is rotated on A are closed 4401 at once, without a request (a black-box probe: they stayed open until their next)', async () => {
    const { TerminalClient } = await import('./ws-client.ts');
    const biz = await createBusiness(a);
    const on_a = await TerminalClient.open(a.port, biz.terminal_key);
    const on_b = await TerminalClient.open(b.port, biz.terminal_key);
    const other = await TerminalClient.open(b.port, (await createBusiness(a)).terminal_key);
    try {
      expect((await call(a, 'POST', `/v1/terminals/${biz.terminal_id}/rotate-key`, biz.admin_key)).status).toBe(201);
      const within = (ws: { closed: Promise<{ code: number }> }) => Promise.race([ws.closed.then((c) => c.code), new Promise((resolve) => setTimeout(() => resolve('open'), 2_000))]);
      expect(await Promise.all([within(on_a), within(on_b)])).toEqual([4401, 4401]);
      // Another terminal's socket stays.
      expect(other.ws.readyState).toBe(other.ws.OPEN);
    } finally {
      for (const ws of [on_a, on_b, other]) ws.ws.close();
    }
  });

  it('a WebSocket on B whose key is revoked and the message lost: refused within the cache’s 5 s, 401 with HTTP’s body, then closed 4401', async () => {
    const { TerminalClient } = await import('./ws-client.ts');
    const biz = await createBusiness(a);
    const c = await contactOf(a, biz);
    const ws = await TerminalClient.open(b.port, biz.terminal_key);
    try {
      const body = (n: number) => ({ reference: `wsr-${n}`, cim: { type: 'card', value: c.card }, amount: 100, currency: 'EUR' });
      expect((await ws.request('0', 'purchase', body(0))).status).toBe(201);
      // The key's entry gone from Redis with no message on pg:keys-revoked (a subscriber
      // reconnecting would miss it): B knows it from its cache's time alone.
      await a.processor.stores.redis.del(keyEntryKey(hashKey(biz.terminal_key)));
      const started = Date.now();
      let n = 0;
      let last: { status: number; body?: unknown } = { status: 201 };
      while (last.status === 201 && Date.now() - started < 7_000) {
        last = await ws.request(String(++n), 'purchase', body(n));
        if (last.status === 201) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(last.status).toBe(401);
      // The body HTTP answers the same request with (TERMINAL.md: "the same body"; a black-box
      // probe found another detail, 2026-12-05).
      const http = await call(b, 'POST', '/v1/purchases', biz.terminal_key, body(++n));
      expect([http.status, last.body]).toEqual([401, http.body]);
      expect((await ws.closed).code).toBe(4401);
    } finally {
      ws.ws.close();
    }
  });

  it('a CIM added, tags, spend_blocked and a scheme signup made on A apply on B at once', async () => {
    const biz = await createBusiness(a);
    const c = await contactOf(a, biz);
    // Known to B first (its caches warm).
    expect((await purchase(b, biz, { reference: 'x-0', cim: { type: 'card', value: c.card }, amount: 100 })).status).toBe(201);
    const phone = '+33612345678';
    expectProblem(await purchase(b, biz, { reference: 'x-1', cim: { type: 'phone', value: phone }, amount: 100 }), 404, 'contact_not_found');
    const added = await call(a, 'POST', `/v1/contacts/${c.id}/cims`, biz.admin_key, { type: 'phone', value: phone });
    expect(added.status, added.text).toBe(201);
    const viaPhone = await purchase(b, biz, { reference: 'x-2', cim: { type: 'phone', value: phone }, amount: 100 });
    expect(viaPhone.status, viaPhone.text).toBe(201);
    expect(viaPhone.body.contact_id).toBe(c.id);

    await offer(a, biz, { award: { fixed: 3 }, conditions: { tags: ['student'] } });
    const s = await call(a, 'POST', '/v1/schemes', biz.admin_key, { name: 'club', signup: 'self' });
    expect(s.status, s.text).toBe(201);
    await offer(a, biz, { award: { fixed: 5 }, scheme_id: s.body.id });
    await settle();
    expect(awarded(await purchase(b, biz, { reference: 'x-3', cim: { type: 'card', value: c.card }, amount: 100 }))).toBe(0);
    expect((await call(a, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { tags: ['student'] })).status).toBe(200);
    expect(awarded(await purchase(b, biz, { reference: 'x-4', cim: { type: 'card', value: c.card }, amount: 100 }))).toBe(3);
    const j = await call(a, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: c.id });
    expect(j.status, j.text).toBe(201);
    expect(awarded(await purchase(b, biz, { reference: 'x-5', cim: { type: 'card', value: c.card }, amount: 100 }))).toBe(8);

    // Money in the open balance, then the spend blocked on A: B refuses at once.
    const red = await call(b, 'POST', '/v1/redemptions', biz.terminal_key, { reference: 'x-r', cim: { type: 'card', value: c.card } });
    expect(red.status, red.text).toBe(201);
    expect(red.body.redeemed).toBeGreaterThan(0);
    expect((await call(a, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: true })).status).toBe(200);
    const spend = await call(b, 'POST', '/v1/spends', biz.terminal_key, { reference: 'x-s', amount: 1, currency: 'EUR', wallet_code: c.wallet_code });
    expectProblem(spend, 422, 'spend_blocked');
  });
});

describe('codes across gateways', () => {
  it('an OTP issued on A is spent on B, once; a wallet code rotated on A is refused on B', async () => {
    const biz = await createBusiness(a);
    await offer(a, biz, { award: { fixed: 500 }, instant_redeem: true });
    const c = await contactOf(a, biz);
    expect((await purchase(a, biz, { reference: 'o-0', cim: { type: 'card', value: c.card }, amount: 100 })).body.wallet).toMatchObject({ open: 500 });
    const otp = await call(a, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 100 });
    expect(otp.status, otp.text).toBe(201);
    const spent = await call(b, 'POST', '/v1/spends', biz.terminal_key, { reference: 'o-1', amount: 100, currency: 'EUR', otp: otp.body.otp });
    expect(spent.status, spent.text).toBe(201);
    const again = await call(a, 'POST', '/v1/spends', biz.terminal_key, { reference: 'o-2', amount: 100, currency: 'EUR', otp: otp.body.otp });
    expect(again.status, again.text).toBe(422);

    const rotated = await call(a, 'POST', `/v1/contacts/${c.id}/wallet-code`, biz.admin_key);
    expect(rotated.status, rotated.text).toBe(201);
    expectProblem(await call(b, 'POST', '/v1/spends', biz.terminal_key, { reference: 'o-3', amount: 1, currency: 'EUR', wallet_code: c.wallet_code }), 422, 'wallet_code_invalid');
    const okNew = await call(b, 'POST', '/v1/spends', biz.terminal_key, { reference: 'o-4', amount: 1, currency: 'EUR', wallet_code: rotated.body.wallet_code });
    expect(okNew.status, okNew.text).toBe(201);
  });

  it('one OTP presented at once on both gateways under 10 references: spent once; 20 wallet-code spends over both never overdraw', async () => {
    const biz = await createBusiness(a);
    await offer(a, biz, { award: { fixed: 500 }, instant_redeem: true });
    const c = await contactOf(a, biz);
    expect((await purchase(a, biz, { reference: 'd-0', cim: { type: 'card', value: c.card }, amount: 100 })).body.wallet).toMatchObject({ open: 500 });
    const otp = await call(b, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 100 });
    const otps = await Promise.all(Array.from({ length: 10 }, (_, i) => call(gw(i), 'POST', '/v1/spends', biz.terminal_key, { reference: `d-o${i}`, amount: 100, currency: 'EUR', otp: otp.body.otp })));
    expect(otps.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of otps.filter((r) => r.status !== 201)) expect(r.status, r.text).toBe(422);
    const spends = await Promise.all(Array.from({ length: 20 }, (_, i) => call(gw(i), 'POST', '/v1/spends', biz.terminal_key, { reference: `d-w${i}`, amount: 100, currency: 'EUR', wallet_code: c.wallet_code })));
    expect(spends.filter((r) => r.status === 201)).toHaveLength(4);
    for (const r of spends.filter((r) => r.status !== 201)) expectProblem(r, 422, 'insufficient_funds');
    expect((await call(a, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body).toMatchObject({ open: 0 });
  });

  it('wrong OTPs presented alone are counted across gateways: the soft limit (5 a minute) holds when they alternate', async () => {
    const biz = await createBusiness(a);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await call(gw(i), 'POST', '/v1/spends', biz.terminal_key, { reference: `go-${i}`, amount: 1, currency: 'EUR', otp: String(100_000 + i) })).status);
    expect(statuses).toEqual([422, 422, 422, 422, 422, 429, 429, 429]);
  });

  it('wrong wallet codes are counted across gateways: the soft limit (10 a minute) holds when they alternate', async () => {
    const biz = await createBusiness(a);
    await contactOf(a, biz);
    const wrong = (i: number) => {
      const base = `4${String(900_000_000_000_00 + i).padStart(14, '0')}`;
      return base + luhnCheckDigit(base);
    };
    const statuses: number[] = [];
    for (let i = 0; i < 14; i++) statuses.push((await call(gw(i), 'POST', '/v1/spends', biz.terminal_key, { reference: `g-${i}`, amount: 1, currency: 'EUR', wallet_code: wrong(i) })).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(422));
    expect(statuses.slice(10)).toEqual(Array(4).fill(429));
  });
});

describe('refunds and reversals of an original made on the other gateway', () => {
  it('a purchase on A refunded on B; concurrent refunds over both never exceed the original', async () => {
    const biz = await createBusiness(a);
    await offer(a, biz, { award: { percent: 10 } });
    const c = await contactOf(a, biz);
    const p = await purchase(a, biz, { reference: 'r-0', cim: { type: 'card', value: c.card }, amount: 1000 });
    expect(p.status, p.text).toBe(201);
    const r1 = await call(b, 'POST', '/v1/refunds', biz.terminal_key, { reference: 'r-1', original_reference: 'r-0', amount: 100 });
    expect(r1.status, r1.text).toBe(201);
    // 20 refunds of 100 at once over both: 9 fit.
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => call(gw(i), 'POST', '/v1/refunds', biz.terminal_key, { reference: `r-m${i}`, original_reference: 'r-0', amount: 100 })));
    expect(many.filter((r) => r.status === 201)).toHaveLength(9);
    for (const r of many.filter((r) => r.status !== 201)) expectProblem(r, 422, 'amount_exceeds_original');
    const w = await call(a, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect(w.body).toMatchObject({ open: 0, commerce: 0 });
  });

  it('a purchase on A reversed on B while refunds race on A: one reversal, never both more than the original', async () => {
    const biz = await createBusiness(a);
    await offer(a, biz, { award: { percent: 10 } });
    const c = await contactOf(a, biz);
    const p = await purchase(a, biz, { reference: 'v-0', cim: { type: 'card', value: c.card }, amount: 1000 });
    expect(p.status).toBe(201);
    const replies = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => call(gw(i), 'POST', '/v1/reversals', biz.terminal_key, { reference: `v-rev${i}`, original_reference: 'v-0' })),
      ...Array.from({ length: 10 }, (_, i) => call(gw(i + 1), 'POST', '/v1/refunds', biz.terminal_key, { reference: `v-ref${i}`, original_reference: 'v-0', amount: 50 })),
    ]);
    const reversals = replies.slice(0, 10);
    expect(reversals.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of reversals.filter((r) => r.status !== 201)) expectProblem(r, 409, 'already_reversed');
    const w = await call(b, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect(w.body).toMatchObject({ open: 0, commerce: 0 });
  });
});

describe('the ledger with both gateways writing it', () => {
  it('200 purchases over both gateways, both in-process writers on the same journals: each transaction in the ledger once', async () => {
    const biz = await createBusiness(a);
    await offer(a, biz, { award: { percent: 5 } });
    const contacts = await Promise.all(Array.from({ length: 10 }, () => contactOf(a, biz)));
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => purchase(gw(i), biz, { reference: `l-${i}`, cim: { type: 'card', value: contacts[i % 10]!.card }, amount: 1000 + i })));
    for (const r of replies) expect(r.status, r.text).toBe(201);
    const sql = a.processor.stores.sql;
    const rows = await eventually('the ledger to hold all 200', async () => {
      const got = await sql<{ id: string; n: number }[]>`select id, count(*)::int as n from ledger_transactions where business_id = ${biz.business_id} group by id`;
      return got.length >= 200 ? got : undefined;
    });
    expect(rows).toHaveLength(200);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(replies.map((r) => r.body.id)));
    const [postings] = await sql<{ total: number }[]>`
      select coalesce(sum(p.amount), 0)::int as total from ledger_postings p join ledger_transactions t on t.id = p.transaction_id
      where t.business_id = ${biz.business_id} and p.credit_account like '%commerce%'`;
    expect(postings!.total).toBe(replies.reduce((s, r) => s + awarded(r), 0));
    for (const c of contacts) {
      const st = await call(b, 'GET', `/v1/contacts/${c.id}/statement`, biz.admin_key);
      const w = await call(a, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
      expect(st.body.closing).toEqual({ open: w.body.open, commerce: w.body.commerce });
      expect(st.body.lines).toHaveLength(20);
    }
  });
});

describe('webhooks with both gateways\' workers running', () => {
  it('every event delivered once per endpoint; an endpoint disabled on A gets nothing from B while disabled', async () => {
    const { startReceiver } = await import('./webhook-helpers.ts');
    const one = await startReceiver();
    const two = await startReceiver();
    try {
      const biz = await createBusiness(a);
      await offer(a, biz, { award: { fixed: 5 } });
      const c = await contactOf(a, biz);
      const h1 = await call(a, 'POST', '/v1/webhooks', biz.admin_key, { url: one.url, events: ['*'] });
      const h2 = await call(b, 'POST', '/v1/webhooks', biz.admin_key, { url: two.url, events: ['transaction.approved'] });
      expect([h1.status, h2.status]).toEqual([201, 201]);
      const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => purchase(gw(i), biz, { reference: `w-${i}`, cim: { type: 'card', value: c.card }, amount: 100 })));
      for (const r of replies) expect(r.status).toBe(201);
      const ids = (rs: typeof one.received) => rs.map((r) => r.headers['pocketgate-event-id'] as string);
      await eventually('every event at both receivers', async () => one.received.length >= 80 && two.received.length >= 40, 20_000);
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // any second copy would have come by now
      expect(one.received).toHaveLength(80);
      expect(new Set(ids(one.received)).size).toBe(80);
      expect(two.received).toHaveLength(40);
      expect(new Set(ids(two.received)).size).toBe(40);

      const off = await call(a, 'PATCH', `/v1/webhooks/${h2.body.id}`, biz.admin_key, { status: 'disabled' });
      expect(off.status, off.text).toBe(200);
      const later = await purchase(b, biz, { reference: 'w-off', cim: { type: 'card', value: c.card }, amount: 100 });
      expect(later.status).toBe(201);
      await eventually('the event at the enabled endpoint', async () => one.received.length >= 82, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(two.received).toHaveLength(40);
      // Events go to the endpoints enabled when the ledger records them (EVENTS.md, README).
      const on = await call(b, 'PATCH', `/v1/webhooks/${h2.body.id}`, biz.admin_key, { status: 'enabled' });
      expect(on.status, on.text).toBe(200);
      const after = await purchase(a, biz, { reference: 'w-on', cim: { type: 'card', value: c.card }, amount: 100 });
      await eventually('the next event sent once enabled', async () => two.received.length === 41, 10_000);
      expect(two.received[40]!.json.data.id).toBe(after.body.id);
    } finally {
      await one.close();
      await two.close();
    }
  });
});

describe('the console live feed', () => {
  it('a feed open on A shows a transaction made on B', async () => {
    const biz = await createBusiness(a);
    const c = await contactOf(a, biz);
    const feed = await openFeed(a, biz.admin_key);
    try {
      const p = await purchase(b, biz, { reference: 'f-1', cim: { type: 'card', value: c.card }, amount: 100 });
      expect(p.status).toBe(201);
      await feed.until((text) => text.includes(p.body.id as string));
    } finally {
      await feed.close();
    }
  });
});

describe('the WebSocket channel and ISO 8583 beside HTTP on the other gateway', () => {
  it('a purchase over the WebSocket on A replays over HTTP on B; another body there is 409; B refunds it', async () => {
    const { TerminalClient } = await import('./ws-client.ts');
    const biz = await createBusiness(a);
    await offer(a, biz, { award: { percent: 10 } });
    const c = await contactOf(a, biz);
    const ws = await TerminalClient.open(a.port, biz.terminal_key);
    try {
      const body = { reference: 'ws-1', cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' };
      const first = await ws.request('1', 'purchase', body);
      expect(first.status).toBe(201);
      const again = await call(b, 'POST', '/v1/purchases', biz.terminal_key, body);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(first.body);
      expectProblem(await call(b, 'POST', '/v1/purchases', biz.terminal_key, { ...body, amount: 999 }), 409, 'idempotency_conflict');
      const refund = await call(b, 'POST', '/v1/refunds', biz.terminal_key, { reference: 'ws-2', original_reference: 'ws-1' });
      expect(refund.status, refund.text).toBe(201);
      const over = await ws.request('2', 'refund', { reference: 'ws-3', original_reference: 'ws-1', amount: 1 });
      expect(over.status).toBe(422);
      expect(over.body.code).toBe('amount_exceeds_original');
    } finally {
      ws.ws.close();
    }
  });
});

describe('processor callbacks over both gateways', () => {
  it('the same event 50 times at once, split: one transaction, one processor terminal, the rest replayed', async () => {
    const { createProcessor, postCallback, sale, transactionId } = await import('./callback-helpers.ts');
    const biz = await createBusiness(a);
    await offer(a, biz, { award: { percent: 10 } });
    const c = await contactOf(a, biz);
    const p = await createProcessor(a, biz);
    const txn = transactionId();
    const e = sale('transaction.cleared', { transaction_id: txn, card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code });
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => postCallback(gw(i), p, e)));
    for (const r of replies) expect(r.status, r.text).toBe(200);
    expect(replies.map((r) => r.body.status)).toEqual(Array(50).fill('processed'));
    expect(new Set(replies.map((r) => r.body.transaction_id)).size).toBe(1);
    expect(replies.filter((r) => r.body.replayed !== true)).toHaveLength(1);
    const sql = a.processor.stores.sql;
    const terminals = await sql`select id from terminals where business_id = ${biz.business_id} and code like 'processor:%'`;
    expect(terminals).toHaveLength(1);
    expect((await call(b, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body).toMatchObject({ commerce: 100 });
    // 50 event ids of one transaction, split: one transaction.
    const data = { transaction_id: transactionId(), card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code };
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => postCallback(gw(i), p, sale('transaction.cleared', data))));
    expect(many.map((r) => r.body.status)).toEqual(Array(50).fill('processed'));
    expect(new Set(many.map((r) => r.body.transaction_id)).size).toBe(1);
    expect((await call(b, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body).toMatchObject({ commerce: 200 });
  });
});

describe('a reversal racing its original over the two gateways', () => {
  it('30 purchases on A, each reversed at the same moment on B: whatever the order, nothing stays awarded', async () => {
    const biz = await createBusiness(a);
    await offer(a, biz, { award: { percent: 10 } });
    const c = await contactOf(a, biz);
    const pairs: { p: ApiResponse; r: ApiResponse }[] = [];
    for (let i = 0; i < 30; i++) pairs.push(await (async () => {
      const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      const [p, r] = await Promise.all([
        later(i / 2).then(() => purchase(a, biz, { reference: `race-${i}`, cim: { type: 'card', value: c.card }, amount: 1000 })),
        call(b, 'POST', '/v1/reversals', biz.terminal_key, { reference: `race-rev-${i}`, original_reference: `race-${i}` }),
      ]);
      return { p, r };
    })());
    const outcomes = pairs.map(({ p, r }) => `${p.status}/${r.status}`);
    for (const { p, r } of pairs) {
      expect(r.status, r.text).toBeLessThan(500);
      expect(p.status, p.text).toBeLessThan(500);
    }
    const w = await call(a, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect(w.body, JSON.stringify(outcomes)).toMatchObject({ open: 0, commerce: 0 });
    // Each purchase again now: replayed as it was answered, never a new transaction.
    for (let i = 0; i < 30; i++) {
      const again = await purchase(gw(i), biz, { reference: `race-${i}`, cim: { type: 'card', value: c.card }, amount: 1000 });
      expect(again.status).toBe(pairs[i]!.p.status);
      expect(again.body.code).toBe(pairs[i]!.p.body.code);
      if (again.status === 201) expect(again.headers.get('idempotent-replayed')).toBe('true');
    }
    expect((await call(b, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body).toMatchObject({ open: 0, commerce: 0 });
    // And the ledger agrees (the statement waits for it to hold what the shard journaled).
    const st = await call(a, 'GET', `/v1/contacts/${c.id}/statement`, biz.admin_key);
    expect(st.body.closing).toEqual({ open: 0, commerce: 0 });
  });
});

describe('ISO 8583 on both gateways', () => {
  it('a 0200 on A, its retransmission and 0201 on B replay it, other content is 94; B reverses it, A answers the repeat', async () => {
    const { connectIso } = await import('../adapters/iso8583/client.ts');
    const { createMessage } = await import('../adapters/iso8583/codec.ts');
    const { formatOriginalData } = await import('../adapters/iso8583/original-data.ts');
    const { acquiredBusiness, randomAcquirerId } = await import('./acquirer.ts');
    const acquirer = randomAcquirerId();
    const biz = await acquiredBusiness(a, acquirer);
    const c = await contactOf(a, biz);
    const [ia, ib] = await Promise.all([connectIso(a.iso8583_port), connectIso(b.iso8583_port)]);
    try {
      const transmission = '1124101500';
      const msg = (mti: string, stan: string, values: Record<number, string>) =>
        createMessage(mti, { 7: transmission, 11: stan, 32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' '), 49: '978', ...values });
      const sale = { 2: c.card, 3: '000000', 4: '000000001000' };
      const first = await ia.send(msg('0200', '000001', sale));
      expect(first.fields[39]).toBe('00');
      const again = await ib.send(msg('0200', '000001', sale));
      expect([again.mti, again.fields[39], again.fields[38]]).toEqual(['0210', '00', first.fields[38]]);
      const repeat = await ib.send(msg('0201', '000001', sale));
      expect([repeat.mti, repeat.fields[39]]).toEqual(['0210', '00']);
      const other = await ib.send(msg('0200', '000001', { ...sale, 4: '000000002000' }));
      expect(other.fields[39]).toBe('94');
      expect((await call(a, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body).toMatchObject({ commerce: 100 });
      const de90 = formatOriginalData({ mti: '0200', stan: '000001', transmissionDateTime: transmission, acquirerId: acquirer });
      const reversal = await ib.send(msg('0400', '000002', { ...sale, 90: de90 }));
      expect([reversal.mti, reversal.fields[39]]).toEqual(['0410', '00']);
      const advice = await ia.send(msg('0420', '000002', { ...sale, 90: de90 }));
      expect([advice.mti, advice.fields[39]]).toEqual(['0430', '00']);
      expect((await call(b, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body).toMatchObject({ commerce: 0 });
    } finally {
      await ia.close();
      await ib.close();
    }
  });
});
