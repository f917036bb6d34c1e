// API.md's printed examples as an acceptance test written from the page alone would drive them:
// the exact request bodies, and every response field the page prints, present by name.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../gateway/config.ts';
import { call, createBusiness, platform_key, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function keys(o: object, ...names: string[]) {
  for (const n of names) expect(o, n).toHaveProperty(n);
}

beforeAll(async () => {
  gw = await startTestGateway({ webhooks: { ...configFromEnv().webhooks, worker: false } });
  biz = await createBusiness(gw);
});

afterAll(async () => {
  await gw?.close();
});

describe('API.md printed responses', () => {
  it('POST /v1/businesses → 201 {id, name, currency, reward_resolution: all by default, admin_key}', async () => {
    const r = await call(gw, 'POST', '/v1/businesses', platform_key, { name: 'Acme', currency: 'EUR' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'Acme', currency: 'EUR', reward_resolution: 'all' });
    keys(r.body, 'id', 'admin_key');
    for (const rr of ['all', 'best', 'best_per_scheme']) {
      const b = await call(gw, 'POST', '/v1/businesses', platform_key, { name: 'X', currency: 'GBP', reward_resolution: rr });
      expect(b.body.reward_resolution).toBe(rr);
    }
  });

  it('network: merchants, venues, terminals {id, code, venue_id, api_key}', async () => {
    const m = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Cafe', code: 'CAFE00000000001', contribution_fee_percent: 2.5, settle_on: 'spend' });
    expect(m.status).toBe(201);
    keys(m.body, 'id');
    const v = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Cafe Paris', merchant_id: m.body.id, timezone: 'Europe/Paris' });
    expect(v.status).toBe(201);
    const own = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'HQ' });
    expect(own.status).toBe(201);
    const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: v.body.id, code: 'TERM0001' });
    expect(t.status).toBe(201);
    expect(t.body).toMatchObject({ code: 'TERM0001', venue_id: v.body.id });
    keys(t.body, 'id', 'api_key');
  });

  it('POST /v1/contacts → 201 {id, code, referral_code, wallet_code, tags, cims: [{type, masked}], created_at}', async () => {
    const r = await call(gw, 'POST', '/v1/contacts', biz.admin_key, {
      first_name: 'Ana', last_name: 'Lopez', email: 'Ana@Example.com', phone: '+34600111222', birth_date: '1990-04-01',
      tags: ['student'], cims: [{ type: 'card', value: testCard(1) }, { type: 'email', value: 'Ana@Example.com' }, { type: 'phone', value: '+34600111222' }, { type: 'loyalty_id', value: 'L-1' }, { type: 'gift_pass', value: 'GP-1' }],
    });
    expect(r.status).toBe(201);
    keys(r.body, 'id', 'code', 'referral_code', 'wallet_code', 'tags', 'cims', 'created_at');
    expect(r.body.wallet_code).toMatch(/^\d{16}$/);
    expect(r.body.tags).toEqual(['student']);
    expect(r.body.created_at).toMatch(rfc3339);
    expect(r.body.cims).toHaveLength(5);
    for (const c of r.body.cims) expect(Object.keys(c).sort()).toEqual(expect.arrayContaining(['masked', 'type']));
    expect(r.text).not.toContain(testCard(1));
    const dup = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'email', value: 'ana@example.COM' }] });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('cim_taken');
    const byWallet = await call(gw, 'GET', `/v1/wallets?cim_type=wallet_code&cim_value=${r.body.wallet_code}`, biz.terminal_key);
    expect(byWallet.status).toBe(200);
    expect(byWallet.body).toEqual({ contact_id: r.body.id, currency: 'EUR', open: 0, commerce: 0 });
    const cim = await call(gw, 'POST', `/v1/contacts/${r.body.id}/cims`, biz.admin_key, { type: 'loyalty_id', value: 'L-2' });
    expect(cim.status).toBe(201);
    const patch = await call(gw, 'PATCH', `/v1/contacts/${r.body.id}`, biz.admin_key, { tags: ['vip'], spend_blocked: true, birth_date: '1990-04-02' });
    expect(patch.status).toBe(200);
    const got = await call(gw, 'GET', `/v1/contacts/${r.body.id}`, biz.admin_key);
    expect(got.body.tags).toEqual(['vip']);
  });

  it('POST /v1/contacts/import → 200 {imported, failed, errors: [{line, code, message}]}', async () => {
    const body = `{"first_name":"A"}\nnot json\n{"cims":[{"type":"card","value":"1234"}]}\n{"first_name":"B"}\n`;
    const r = await call(gw, 'POST', '/v1/contacts/import', biz.admin_key, body, { 'content-type': 'application/x-ndjson' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ imported: 2, failed: 2 });
    expect(r.body.errors.map((e: any) => e.line)).toEqual([2, 3]);
    for (const e of r.body.errors) keys(e, 'line', 'code', 'message');
  });

  it('the offer printed on the page, posted as printed, reads back as sent', async () => {
    const s = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Club', signup: 'auto' });
    expect(s.status).toBe(201);
    const offer = {
      name: '5% cashback', scheme_id: s.body.id,
      active: true, kind: 'cashback',
      goal: 'spend',
      award: { percent: 5 },
      conditions: {
        min_amount: 1000, merchants: [biz.merchant_id], venues: [biz.venue_id],
        products: { skus: [], families: [], brands: [], types: [] },
        days_of_week: [1, 2, 3, 4, 5], time_from: '15:00', time_to: '18:00',
        tiers: ['gold'], tags: ['student'],
      },
      max_award: 2000,
      limits: { per_contact: { count: 1, period: 'day' }, budget: 100000 },
      instant_redeem: false, validity_days: 90, pool: 'summer',
      valid_from: '2026-01-01T00:00:00Z', valid_to: '2027-01-01T00:00:00Z',
    };
    const r = await call(gw, 'POST', '/v1/offers', biz.admin_key, offer);
    expect(r.status, r.text).toBe(201);
    keys(r.body, 'id');
    expect(r.body).toMatchObject(offer);
    const list = await call(gw, 'GET', '/v1/offers', biz.admin_key);
    const listed = (Array.isArray(list.body) ? list.body : list.body.data).find((o: any) => o.id === r.body.id);
    expect(listed).toMatchObject(offer);
    const p = await call(gw, 'PATCH', `/v1/offers/${r.body.id}`, biz.admin_key, { active: false });
    expect(p.status).toBe(200);
    expect(p.body.active).toBe(false);
    for (const period of ['week', 'month', 'lifetime']) {
      const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { ...offer, active: false, limits: { per_contact: { count: 1, period } } });
      expect(o.status, period).toBe(201);
    }
    for (const [kind, goal, award] of [['instant_discount', 'product', { fixed: 500 }], ['cashback', 'happy_hour', { percent: 5 }], ['cashback', 'birthday', { fixed: 500 }], ['cashback', 'signup', { fixed: 500 }], ['cashback', 'referral', { fixed: 500 }], ['cashback', 'first_purchase', { fixed: 500 }]] as const) {
      const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: goal, active: false, kind, goal, award });
      expect(o.status, goal).toBe(201);
    }
  });

  it('empty product lists in conditions (as printed) do not stop a spend offer from awarding', async () => {
    const b = await createBusiness(gw);
    const o = await call(gw, 'POST', '/v1/offers', b.admin_key, { name: 'e', active: true, kind: 'cashback', goal: 'spend', award: { percent: 5 }, conditions: { products: { skus: [], families: [], brands: [], types: [] } } });
    expect(o.status).toBe(201);
    const card = testCard(2);
    await call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: card }] });
    const p = await call(gw, 'POST', '/v1/purchases', b.terminal_key, { reference: 'e-1', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    expect(p.status).toBe(201);
    expect(p.body.awards).toHaveLength(1);
  });

  it('POS: purchase, redemption, spend, refund, reversal, wallets, transactions, statement, wallet, spend-otp, settlements print their fields', async () => {
    const b = await createBusiness(gw);
    await call(gw, 'POST', '/v1/offers', b.admin_key, { name: '10%', active: true, kind: 'cashback', goal: 'spend', award: { percent: 10 } });
    const card = testCard(3);
    const c = await call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: card }] });
    const cim = { type: 'card', value: card };
    const k = b.terminal_key;
    const p = await call(gw, 'POST', '/v1/purchases', k, { reference: 'p-1', cim, amount: 2000, currency: 'EUR', items: [{ sku: 'A1', family: 'f', brand: 'b', type: 't', quantity: 2, amount: 2000 }], occurred_at: new Date(Date.now() - 60_000).toISOString() });
    expect(p.status).toBe(201);
    keys(p.body, 'id', 'status', 'contact_id', 'awards', 'discount', 'amount_due', 'paid_from_wallet', 'wallet');
    expect(p.body).toMatchObject({ status: 'approved', contact_id: c.body.id, discount: 0, amount_due: 2000, paid_from_wallet: 0, wallet: { open: 0, commerce: 200 } });
    for (const f of ['offer_id', 'scheme_id', 'kind', 'amount', 'pool', 'expires_at']) expect(p.body.awards[0], f).toHaveProperty(f);
    const replay = await call(gw, 'POST', '/v1/purchases', k, { reference: 'p-1', cim, amount: 2001, currency: 'EUR' });
    expect(replay.status).toBe(409);
    const red = await call(gw, 'POST', '/v1/redemptions', k, { reference: 'r-1', cim, amount: 50 });
    expect(red.status).toBe(201);
    keys(red.body, 'id', 'redeemed', 'wallet');
    expect(red.body.redeemed).toBe(50);
    const red2 = await call(gw, 'POST', '/v1/redemptions', k, { reference: 'r-2', cim });
    expect(red2.body.redeemed).toBe(150);
    const otp = await call(gw, 'POST', `/v1/contacts/${c.body.id}/spend-otp`, b.admin_key, { amount: 100, ttl_seconds: 60 });
    expect(otp.status).toBe(201);
    expect(otp.body.otp).toMatch(/^\d{6}$/);
    expect(otp.body.amount).toBe(100);
    expect(otp.body.expires_at).toMatch(rfc3339);
    for (const ttl of [29, 901]) expect((await call(gw, 'POST', `/v1/contacts/${c.body.id}/spend-otp`, b.admin_key, { amount: 100, ttl_seconds: ttl })).status).toBe(400);
    const sp = await call(gw, 'POST', '/v1/spends', k, { reference: 's-1', amount: 60, currency: 'EUR', otp: otp.body.otp });
    expect(sp.status).toBe(201);
    keys(sp.body, 'id', 'spent', 'wallet');
    expect(sp.body).toMatchObject({ spent: 60, wallet: { open: 140, commerce: 0 } });
    const wc = await call(gw, 'POST', '/v1/spends', k, { reference: 's-2', amount: 40, currency: 'EUR', wallet_code: c.body.wallet_code });
    expect(wc.status).toBe(201);
    const both = await call(gw, 'POST', '/v1/spends', k, { reference: 's-3', amount: 1, currency: 'EUR', wallet_code: c.body.wallet_code, otp: '123456' });
    expect(both.status).toBe(400);
    const tooMuch = await call(gw, 'POST', '/v1/spends', k, { reference: 's-4', amount: 100000, currency: 'EUR', wallet_code: c.body.wallet_code });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.code).toBe('insufficient_funds');
    const rf = await call(gw, 'POST', '/v1/refunds', k, { reference: 'rf-1', original_reference: 'p-1', amount: 1000 });
    expect(rf.status).toBe(201);
    keys(rf.body, 'id');
    const over = await call(gw, 'POST', '/v1/refunds', k, { reference: 'rf-2', original_reference: 'p-1', amount: 1001 });
    expect(over.body.code).toBe('amount_exceeds_original');
    const p2 = await call(gw, 'POST', '/v1/purchases', k, { reference: 'p-2', cim, amount: 1000, currency: 'EUR' });
    const rv = await call(gw, 'POST', '/v1/reversals', k, { reference: 'rv-1', original_reference: 'p-2' });
    expect(rv.status).toBe(201);
    keys(rv.body, 'id');
    const rv2 = await call(gw, 'POST', '/v1/reversals', k, { reference: 'rv-2', original_reference: 'p-2' });
    expect(rv2.status).toBe(409);
    expect(rv2.body.code).toBe('already_reversed');
    const none = await call(gw, 'POST', '/v1/reversals', k, { reference: 'rv-3', original_reference: 'nope' });
    expect(none.status).toBe(404);
    expect(none.body.code).toBe('original_not_found');
    const w = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, k);
    expect(Object.keys(w.body).sort()).toEqual(['commerce', 'contact_id', 'currency', 'open']);
    const t = await call(gw, 'GET', `/v1/transactions/${p2.body.id}`, b.admin_key);
    keys(t.body, 'id', 'kind', 'reference', 'terminal_id', 'contact_id', 'amount', 'currency', 'status', 'awards', 'created_at', 'ledger');
    expect(t.body).toMatchObject({ id: p2.body.id, kind: 'purchase', reference: 'p-2', terminal_id: b.terminal_id, contact_id: c.body.id, amount: 1000, currency: 'EUR' });
    expect(['pending', 'recorded']).toContain(t.body.ledger);
    const wal = await call(gw, 'GET', `/v1/contacts/${c.body.id}/wallet`, b.admin_key);
    keys(wal.body, 'currency', 'open', 'commerce', 'pools', 'expiring');
    for (const e of wal.body.expiring) keys(e, 'amount', 'expires_at');
    for (const e of wal.body.pools) keys(e, 'pool', 'amount');
    // the statement reads the ledger: wait for it
    for (let i = 0; i < 200 && (await call(gw, 'GET', `/v1/transactions/${rv.body.id}`, b.admin_key)).body.ledger !== 'recorded'; i++) await new Promise((r) => setTimeout(r, 50));
    const st = await call(gw, 'GET', `/v1/contacts/${c.body.id}/statement`, b.admin_key);
    expect(st.status).toBe(200);
    keys(st.body, 'opening', 'closing', 'lines');
    keys(st.body.opening, 'open', 'commerce');
    keys(st.body.closing, 'open', 'commerce');
    expect(st.body.lines.length).toBeGreaterThanOrEqual(7);
    for (const l of st.body.lines) keys(l, 'transaction_id', 'kind', 'at', 'open_delta', 'commerce_delta', 'open_balance', 'commerce_balance');
    const last = st.body.lines[st.body.lines.length - 1];
    expect({ open: last.open_balance, commerce: last.commerce_balance }).toEqual({ open: st.body.closing.open, commerce: st.body.closing.commerce });
    const from = new Date(Date.now() - 86_400_000).toISOString().replace(/\.\d+Z/, 'Z');
    const to = new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d+Z/, 'Z');
    const st2 = await call(gw, 'GET', `/v1/contacts/${c.body.id}/statement?from=${from}&to=${to}`, b.admin_key);
    expect(st2.status).toBe(200);
    const se = await call(gw, 'GET', `/v1/settlements?merchant_id=${b.merchant_id}&from=${from}&to=${to}`, b.admin_key);
    expect(se.status, se.text).toBe(200);
    const seAll = await call(gw, 'GET', '/v1/settlements', b.admin_key);
    expect(seAll.status, seAll.text).toBe(200);
  });

  it('schemes: codes {count} → {codes}; signups 201 or 422 signup_not_allowed; email_domain', async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { email: 'bob@uni.edu' });
    const s = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Invite', signup: 'codes' });
    const codes = await call(gw, 'POST', `/v1/schemes/${s.body.id}/codes`, biz.admin_key, { count: 2 });
    expect([200, 201]).toContain(codes.status);
    expect(codes.body.codes).toHaveLength(2);
    const no = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: c.body.id });
    expect(no.status).toBe(422);
    expect(no.body.code).toBe('signup_not_allowed');
    const yes = await call(gw, 'POST', `/v1/schemes/${s.body.id}/signups`, biz.admin_key, { contact_id: c.body.id, code: codes.body.codes[0] });
    expect(yes.status).toBe(201);
    const ed = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Students', signup: 'email_domain', email_domains: ['uni.edu'] });
    expect((await call(gw, 'POST', `/v1/schemes/${ed.body.id}/signups`, biz.admin_key, { contact_id: c.body.id })).status).toBe(201);
    const self = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: 'Self', signup: 'self' });
    expect((await call(gw, 'POST', `/v1/schemes/${self.body.id}/signups`, biz.admin_key, { contact_id: c.body.id })).status).toBe(201);
  });

  it('PUT /v1/tiers as printed', async () => {
    const r = await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'silver', min_period_units: 100, period: 'month' }, { name: 'gold', min_period_units: 500, period: 'quarter' }, { name: 'platinum', min_period_units: 5000, period: 'year' }]);
    expect(r.status, r.text).toBe(200);
  });

  it('errors are problem+json {type, title, status, detail, code} plus errors [{path, message}]; replays carry Idempotent-Replayed: true', async () => {
    const r = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'x' });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    keys(r.body, 'type', 'title', 'status', 'detail', 'code', 'errors');
    for (const e of r.body.errors) keys(e, 'path', 'message');
    const u = await call(gw, 'GET', '/v1/offers', 'nope');
    expect(u.status).toBe(401);
    expect(u.body.code).toBe('unauthorized');
    const card = testCard(4);
    await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    const body = { reference: 'idem-1', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' };
    const a = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    const b2 = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    expect(b2.status).toBe(a.status);
    expect(b2.body).toEqual(a.body);
    expect(b2.headers.get('idempotent-replayed')).toBe('true');
    const c2 = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { ...body, amount: 1001 });
    expect(c2.status).toBe(409);
    expect(c2.body.code).toBe('idempotency_conflict');
    const unknown = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'idem-2', cim: { type: 'card', value: testCard(5) }, amount: 1000, currency: 'EUR' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('contact_not_found');
  });

  it('operations endpoints answer', async () => {
    expect((await call(gw, 'GET', '/healthz', undefined)).status).toBe(200);
    expect((await call(gw, 'GET', '/readyz', undefined)).status).toBe(200);
    expect((await call(gw, 'GET', '/metrics', undefined)).status).toBe(200);
    expect((await call(gw, 'GET', '/openapi.json', undefined)).status).toBe(200);
    expect((await call(gw, 'GET', '/docs', undefined)).status).toBe(200);
  });
});
