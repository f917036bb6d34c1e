// Contract: contacts, their CIMs, the streamed NDJSON import and wallet reads, request by request
// through the HTTP API.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { luhnValid } from '../core/luhn.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { countRows, expectProblem, expectValidation, rfc3339_utc, unique, walletOf } from './contract-util.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seed = 1000;
const nextCard = () => testCard(++seed);

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
});
afterAll(async () => {
  await gw.close();
});

async function createContact(body: Record<string, unknown>, key = biz.admin_key) {
  const res = await call(gw, 'POST', '/v1/contacts', key, body);
  expect(res.status, res.text).toBe(201);
  return res.body;
}

async function purchase(cim: { type: string; value: string }, amount = 1000) {
  return call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: unique('ref-'), cim, amount, currency: 'EUR' });
}

async function importNdjson(body: string | ReadableStream<Uint8Array>, key = biz.admin_key) {
  const res = await gw.app.request('/v1/contacts/import', {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
    body,
    ...(typeof body === 'string' ? {} : { duplex: 'half' }),
  } as RequestInit);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: JSON.parse(text) };
}

describe('POST /v1/contacts', () => {
  it('answers 201 with id, code, referral_code, wallet_code, tags, masked cims and created_at', async () => {
    const card = nextCard();
    const res = await call(gw, 'POST', '/v1/contacts', biz.admin_key, {
      first_name: 'Ana',
      last_name: 'Silva',
      email: 'ana.silva@example.com',
      phone: '+351912000001',
      birth_date: '1990-05-17',
      tags: ['student', 'vip'],
      cims: [{ type: 'card', value: card }, { type: 'email', value: 'ana.silva@example.com' }, { type: 'loyalty_id', value: 'LOY-0001' }],
    });
    expect(res.status, res.text).toBe(201);
    const c = res.body;
    for (const field of ['id', 'code', 'referral_code', 'wallet_code']) expect(typeof c[field], field).toBe('string');
    expect(c.wallet_code).toMatch(/^\d{16}$/);
    expect(luhnValid(c.wallet_code)).toBe(true);
    expect(c.tags).toEqual(['student', 'vip']);
    expect(c.created_at).toMatch(rfc3339_utc);
    expect(Math.abs(Date.parse(c.created_at) - Date.now())).toBeLessThan(60_000);
    const card_cim = c.cims.find((x: { type: string }) => x.type === 'card');
    expect(card_cim).toEqual({ type: 'card', masked: `${card.slice(0, 6)}${'*'.repeat(card.length - 10)}${card.slice(-4)}` });
    expect(c.cims.map((x: { type: string }) => x.type).sort()).toEqual(['card', 'email', 'loyalty_id']);
    for (const x of c.cims) expect(Object.keys(x).sort()).toEqual(['masked', 'type']);
    // The full PAN appears nowhere in the answer.
    expect(res.text).not.toContain(card);
  });

  it('stores the profile phone in E.164 and the email normalised, as their CIMs are', async () => {
    const c = await createContact({ phone: '+351 912 345 678', email: ' Ana.Silva@Example.COM ' });
    expect(c).toMatchObject({ phone: '+351912345678', email: 'ana.silva@example.com' });
    const patched = await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { phone: '00351 (912) 000-111' });
    expect(patched.body.phone).toBe('+351912000111');
    expect((await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body).toMatchObject({ phone: '+351912000111', email: 'ana.silva@example.com' });
  });

  it('gives each contact its own id, code, referral code and wallet code', async () => {
    const a = await createContact({});
    const b = await createContact({});
    for (const field of ['id', 'code', 'referral_code', 'wallet_code']) expect(a[field], field).not.toBe(b[field]);
    expect(a.tags).toEqual([]);
    expect(a.cims).toEqual([]);
  });

  it('never stores or logs a full card number', async () => {
    const card = nextCard();
    const c = await createContact({ cims: [{ type: 'card', value: card }] });
    const p = await purchase({ type: 'card', value: card });
    expect(p.status, p.text).toBe(201);
    const sql = gw.processor.stores.sql;
    const rows = JSON.stringify([
      ...(await sql`select * from contacts where id = ${c.id}`),
      ...(await sql`select * from contact_cims where contact_id = ${c.id}`),
    ]);
    expect(rows).toContain(card.slice(-4));
    expect(rows).not.toContain(card);
    expect(gw.logs.join('')).not.toContain(card);
    // Nor in Redis: neither as a key nor inside the contact's hash.
    const keys = await gw.processor.stores.redis.keys(`*${card}*`);
    expect(keys).toEqual([]);
  });

  it('refuses a card number failing Luhn, too short or not digits (400 naming the CIM)', async () => {
    const before = await countRows(gw, 'contacts', biz.business_id);
    const good = nextCard();
    const bad_luhn = good.slice(0, -1) + String((Number(good.slice(-1)) + 1) % 10);
    for (const value of [bad_luhn, '42424242424', '4242-abcd-4242-4242', '4'.repeat(20)]) {
      expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value }] }), 'cims.0.value');
    }
    expect(await countRows(gw, 'contacts', biz.business_id)).toBe(before);
  });

  it('accepts a card written with spaces or dashes as the same card', async () => {
    const card = nextCard();
    const spaced = card.replace(/(\d{4})(?=\d)/g, '$1 ');
    await createContact({ cims: [{ type: 'card', value: spaced }] });
    expectProblem(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] }), 409, 'cim_taken');
    const dashed = card.replace(/(\d{4})(?=\d)/g, '$1-');
    const p = await purchase({ type: 'card', value: dashed });
    expect(p.status, p.text).toBe(201);
  });

  it('refuses wallet_code and contact_code as CIMs to assign, and unknown CIM types', async () => {
    for (const type of ['wallet_code', 'contact_code', 'iris', '']) {
      expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type, value: '4000000000000002' }] }), /^cims\.0/);
    }
  });

  it('refuses bad profile fields', async () => {
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { birth_date: '1990-02-30' }), 'birth_date');
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { birth_date: '17/05/1990' }), 'birth_date');
    // Year 0000 parses in JavaScript but PostgreSQL's calendar has no year 0: 400, not 500.
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { birth_date: '0000-01-01' }), 'birth_date');
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { birth_date: '2999-01-01' }), 'birth_date');
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { tags: 'vip' }), 'tags');
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { tags: [1] }), 'tags.0');
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 42 }), 'first_name');
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { email: 'not-an-email' }), 'email');
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { phone: '912345678' }), 'phone');
  });
});

describe('GET and PATCH /v1/contacts/{id}', () => {
  it('GET returns what POST created', async () => {
    const card = nextCard();
    const created = await createContact({ first_name: 'Rui', tags: ['a'], cims: [{ type: 'card', value: card }] });
    const got = await call(gw, 'GET', `/v1/contacts/${created.id}`, biz.admin_key);
    expect(got.status).toBe(200);
    for (const field of ['id', 'code', 'referral_code', 'wallet_code', 'tags', 'cims', 'created_at']) expect(got.body[field], field).toEqual(created[field]);
    expect(got.text).not.toContain(card);
  });

  it('GET of an unknown id is 404 not_found', async () => {
    expectProblem(await call(gw, 'GET', '/v1/contacts/con_doesnotexist00000000', biz.admin_key), 404, 'not_found');
  });

  it('PATCH changes tags, spend_blocked and birth_date, and GET shows it', async () => {
    const c = await createContact({ tags: ['old'] });
    const res = await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { tags: ['new', 'student'], spend_blocked: true, birth_date: '2001-12-31' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ id: c.id, tags: ['new', 'student'], spend_blocked: true, birth_date: '2001-12-31' });
    const got = await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key);
    expect(got.body).toMatchObject({ tags: ['new', 'student'], spend_blocked: true, birth_date: '2001-12-31' });
    // A PATCH changes only what it names.
    const again = await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: false });
    expect(again.body).toMatchObject({ tags: ['new', 'student'], spend_blocked: false, birth_date: '2001-12-31' });
    // Codes never change.
    for (const field of ['code', 'referral_code', 'wallet_code']) expect(again.body[field]).toBe(c[field]);
  });

  // A black-box audit (2026-12-04) created a contact with spend_blocked: true and got 201 with the
  // contact free to spend: the field was dropped. A back office importing its customers brings their blocks.
  it('POST and import take spend_blocked: the contact is blocked from its first spend', async () => {
    const created = await createContact({ spend_blocked: true });
    expect(created.spend_blocked).toBe(true);
    expect((await call(gw, 'GET', `/v1/contacts/${created.id}`, biz.admin_key)).body.spend_blocked).toBe(true);
    expect((await createContact({})).spend_blocked).toBe(false);
    const card = nextCard();
    const imported = await importNdjson(`${JSON.stringify({ cims: [{ type: 'card', value: card }], spend_blocked: true })}\n`);
    expect(imported.body).toMatchObject({ imported: 1, failed: 0 });
    const found = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, biz.admin_key);
    const line = (await call(gw, 'GET', `/v1/contacts/${found.body.contact_id}`, biz.admin_key)).body;
    expect(line.spend_blocked).toBe(true);
    for (const c of [created, line]) {
      const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: unique('sb-'), amount: 1, currency: 'EUR', wallet_code: c.wallet_code });
      expectProblem(spend, 422, 'spend_blocked');
    }
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { spend_blocked: 'yes' }), 'spend_blocked');
  });

  it('PATCH refuses bad values and changes nothing', async () => {
    const c = await createContact({ tags: ['keep'] });
    expectValidation(await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: 'yes' }), 'spend_blocked');
    expectValidation(await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { birth_date: '2001-02-29' }), 'birth_date');
    expectValidation(await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { birth_date: '0000-06-01' }), 'birth_date');
    expectValidation(await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { phone: '12345' }), 'phone');
    expectValidation(await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { tags: 'x' }), 'tags');
    const got = await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key);
    expect(got.body).toMatchObject({ tags: ['keep'], spend_blocked: false, birth_date: null });
  });

  it('PATCH of an unknown id is 404 not_found', async () => {
    expectProblem(await call(gw, 'PATCH', '/v1/contacts/con_doesnotexist00000000', biz.admin_key, { tags: [] }), 404, 'not_found');
  });
});

describe('CIMs: POST /v1/contacts/{id}/cims and uniqueness', () => {
  it('adds a CIM (201) that then identifies the contact', async () => {
    const c = await createContact({});
    const card = nextCard();
    const res = await call(gw, 'POST', `/v1/contacts/${c.id}/cims`, biz.admin_key, { type: 'card', value: card });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ type: 'card', masked: `${card.slice(0, 6)}******${card.slice(-4)}` });
    const got = await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key);
    expect(got.body.cims).toEqual([{ type: 'card', masked: res.body.masked }]);
    const w = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, biz.terminal_key);
    expect(w.status, w.text).toBe(200);
    expect(w.body.contact_id).toBe(c.id);
  });

  it('answers 409 cim_taken for a CIM of another contact, on create and on add', async () => {
    const card = nextCard();
    const first = await createContact({ cims: [{ type: 'card', value: card }] });
    const before = await countRows(gw, 'contacts', biz.business_id);
    expectProblem(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Dup', cims: [{ type: 'card', value: card }] }), 409, 'cim_taken');
    expect(await countRows(gw, 'contacts', biz.business_id)).toBe(before);
    const second = await createContact({});
    expectProblem(await call(gw, 'POST', `/v1/contacts/${second.id}/cims`, biz.admin_key, { type: 'card', value: card }), 409, 'cim_taken');
    // The CIM still names the first contact.
    const w = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, biz.terminal_key);
    expect(w.body.contact_id).toBe(first.id);
    const got = await call(gw, 'GET', `/v1/contacts/${second.id}`, biz.admin_key);
    expect(got.body.cims).toEqual([]);
  });

  it('compares emails case-insensitively', async () => {
    const domain = `${unique('x')}.com`;
    const first = await createContact({ cims: [{ type: 'email', value: `Ana@${domain.toUpperCase()}` }] });
    expectProblem(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'email', value: `ana@${domain}` }] }), 409, 'cim_taken');
    const other = await createContact({});
    expectProblem(await call(gw, 'POST', `/v1/contacts/${other.id}/cims`, biz.admin_key, { type: 'email', value: ` ANA@${domain} ` }), 409, 'cim_taken');
    const p = await purchase({ type: 'email', value: `aNa@${domain}` });
    expect(p.status, p.text).toBe(201);
    expect(p.body.contact_id).toBe(first.id);
  });

  it('normalises phones to E.164: two spellings of one number collide', async () => {
    const n = String(100_000 + (seed++ % 900_000));
    const first = await createContact({ cims: [{ type: 'phone', value: `+351 912 ${n}` }] });
    expectProblem(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'phone', value: `00351912${n}` }] }), 409, 'cim_taken');
    const p = await purchase({ type: 'phone', value: `+351-912-${n.slice(0, 3)}-${n.slice(3)}` });
    expect(p.status, p.text).toBe(201);
    expect(p.body.contact_id).toBe(first.id);
    const w = await call(gw, 'GET', `/v1/wallets?cim_type=phone&cim_value=${encodeURIComponent(`+351912${n}`)}`, biz.terminal_key);
    expect(w.body.contact_id).toBe(first.id);
    // Not international: refused rather than guessed.
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'phone', value: `912${n}` }] }), 'cims.0.value');
  });

  it('adding the contact its own CIM again changes nothing', async () => {
    const loyalty = unique('L');
    const c = await createContact({ cims: [{ type: 'loyalty_id', value: loyalty }] });
    const again = await call(gw, 'POST', `/v1/contacts/${c.id}/cims`, biz.admin_key, { type: 'loyalty_id', value: loyalty });
    expect(again.status, again.text).toBe(201);
    expect((await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body.cims).toEqual(c.cims);
  });

  it('refuses an invalid card, an unknown type and issued types on add', async () => {
    const c = await createContact({});
    const good = nextCard();
    const bad = good.slice(0, -1) + String((Number(good.slice(-1)) + 5) % 10);
    expectValidation(await call(gw, 'POST', `/v1/contacts/${c.id}/cims`, biz.admin_key, { type: 'card', value: bad }), 'value');
    expectValidation(await call(gw, 'POST', `/v1/contacts/${c.id}/cims`, biz.admin_key, { type: 'iris', value: 'x' }), 'type');
    expectValidation(await call(gw, 'POST', `/v1/contacts/${c.id}/cims`, biz.admin_key, { type: 'wallet_code', value: c.wallet_code }), 'type');
    expect((await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body.cims).toEqual([]);
  });

  it('POST cims to an unknown contact is 404 not_found', async () => {
    expectProblem(await call(gw, 'POST', '/v1/contacts/con_doesnotexist00000000/cims', biz.admin_key, { type: 'loyalty_id', value: 'x' }), 404, 'not_found');
  });
});

describe('issued codes as CIMs', () => {
  it('wallet_code identifies the contact in a purchase and in GET /v1/wallets', async () => {
    const c = await createContact({});
    const p = await purchase({ type: 'wallet_code', value: c.wallet_code });
    expect(p.status, p.text).toBe(201);
    expect(p.body.contact_id).toBe(c.id);
    const w = await call(gw, 'GET', `/v1/wallets?cim_type=wallet_code&cim_value=${c.wallet_code}`, biz.terminal_key);
    expect(w.status, w.text).toBe(200);
    expect(w.body.contact_id).toBe(c.id);
  });

  it('a 16-digit code that is not Luhn-valid is refused, a valid unknown one is contact_not_found', async () => {
    const c = await createContact({});
    const last = Number(c.wallet_code.slice(-1));
    const broken = c.wallet_code.slice(0, -1) + String((last + 1) % 10);
    expectValidation(await purchase({ type: 'wallet_code', value: broken }), 'cim.value');
    expectValidation(await purchase({ type: 'wallet_code', value: c.wallet_code.slice(1) }), 'cim.value');
    const unknown = testCard(888_888); // 16 digits, Luhn-valid, issued to nobody
    expectProblem(await purchase({ type: 'wallet_code', value: unknown }), 404, 'contact_not_found');
  });

  it('contact_code identifies the contact too, in any letter case', async () => {
    const c = await createContact({});
    const p = await purchase({ type: 'contact_code', value: c.code });
    expect(p.status, p.text).toBe(201);
    expect(p.body.contact_id).toBe(c.id);
    const lower = await purchase({ type: 'contact_code', value: c.code.toLowerCase() });
    expect(lower.body.contact_id).toBe(c.id);
    const w = await call(gw, 'GET', `/v1/wallets?cim_type=contact_code&cim_value=${c.code}`, biz.admin_key);
    expect(w.body.contact_id).toBe(c.id);
  });
});

describe('referred_by', () => {
  it("accepts the referrer's referral_code", async () => {
    const referrer = await createContact({ first_name: 'Referrer' });
    const res = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Friend', referred_by: referrer.referral_code });
    expect(res.status, res.text).toBe(201);
    const got = await call(gw, 'GET', `/v1/contacts/${res.body.id}`, biz.admin_key);
    expect(got.body.referred_by).toBe(referrer.referral_code);
  });

  it('takes the referral code in any case, spaces around it trimmed, as a contact code at the POS', async () => {
    const referrer = await createContact({ first_name: 'Referrer' });
    const res = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Friend', referred_by: ` ${referrer.referral_code.toLowerCase()} ` });
    expect(res.status, res.text).toBe(201);
    const got = await call(gw, 'GET', `/v1/contacts/${res.body.id}`, biz.admin_key);
    expect(got.body.referred_by).toBe(referrer.referral_code);
  });

  it('refuses an unknown referral code and creates nothing', async () => {
    const before = await countRows(gw, 'contacts', biz.business_id);
    const res = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Friend', referred_by: 'RNOSUCHCODE' });
    expectValidation(res, 'referred_by');
    expect(await countRows(gw, 'contacts', biz.business_id)).toBe(before);
  });

  it("refuses another business's referral code like an unknown one", async () => {
    const other = await createBusiness(gw);
    const foreign = await createContact({}, other.admin_key);
    expectValidation(await call(gw, 'POST', '/v1/contacts', biz.admin_key, { referred_by: foreign.referral_code }), 'referred_by');
  });
});

describe('wallet reads', () => {
  it('GET /v1/contacts/{id}/wallet of a new contact', async () => {
    const c = await createContact({});
    const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect(w.status).toBe(200);
    expect(w.body).toEqual({ currency: 'EUR', open: 0, commerce: 0, pools: [], expiring: [] });
  });

  it('GET /v1/wallets by CIM answers {contact_id, currency, open, commerce}', async () => {
    const card = nextCard();
    const c = await createContact({ cims: [{ type: 'card', value: card }] });
    for (const key of [biz.terminal_key, biz.admin_key]) {
      const w = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, key);
      expect(w.status, w.text).toBe(200);
      expect(w.body).toEqual({ contact_id: c.id, currency: 'EUR', open: 0, commerce: 0 });
    }
  });

  it('GET /v1/wallets needs both query parameters and a valid CIM', async () => {
    expectValidation(await call(gw, 'GET', '/v1/wallets', biz.terminal_key), 'cim_type');
    expectValidation(await call(gw, 'GET', '/v1/wallets?cim_value=4000000000000002', biz.terminal_key), 'cim_type');
    expectValidation(await call(gw, 'GET', '/v1/wallets?cim_type=card', biz.terminal_key), 'cim_value');
    expectValidation(await call(gw, 'GET', '/v1/wallets?cim_type=card&cim_value=1234', biz.terminal_key), 'cim_value');
    expectValidation(await call(gw, 'GET', '/v1/wallets?cim_type=iris&cim_value=x', biz.terminal_key), 'cim_type');
    expectProblem(await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${testCard(987_654)}`, biz.terminal_key), 404, 'contact_not_found');
  });

  it('the wallet of an unknown contact is 404', async () => {
    expectProblem(await call(gw, 'GET', '/v1/contacts/con_doesnotexist00000000/wallet', biz.admin_key), 404, 'not_found');
  });
});

describe('POST /v1/contacts/import (NDJSON)', () => {
  it('imports good lines and reports each bad one by its 1-based line number', async () => {
    const existing_card = nextCard();
    await createContact({ cims: [{ type: 'card', value: existing_card }] });
    const [c1, c2, c3] = [nextCard(), nextCard(), nextCard()];
    const email = `${unique('imp')}@example.com`;
    const lines = [
      /* 1 */ JSON.stringify({ first_name: 'One', cims: [{ type: 'card', value: c1 }] }),
      /* 2 */ '{"first_name": "Broken", ',
      /* 3 */ JSON.stringify({ first_name: 'Bad date', birth_date: '2001-02-30' }),
      /* 4 */ JSON.stringify({ first_name: 'Four', cims: [{ type: 'email', value: email }] }),
      /* 5 */ JSON.stringify({ first_name: 'Dup in file', cims: [{ type: 'card', value: c1 }] }),
      /* 6 */ JSON.stringify({ first_name: 'Dup of existing', cims: [{ type: 'card', value: existing_card }] }),
      /* 7 */ '[1, 2, 3]',
      /* 8 */ JSON.stringify({ first_name: 'Eight', tags: ['imported'], cims: [{ type: 'card', value: c2 }] }) + '\r',
      /* 9 */ JSON.stringify({ first_name: 'Email dup, other case', cims: [{ type: 'email', value: email.toUpperCase() }] }),
      /* 10 */ JSON.stringify({ first_name: 'Ten', cims: [{ type: 'card', value: c3 }] }),
      /* 11 */ JSON.stringify({ first_name: 'Year zero', birth_date: '0000-01-01' }),
    ];
    const before = await countRows(gw, 'contacts', biz.business_id);
    const res = await importNdjson(`${lines.join('\n')}\n`);
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body.imported).toBe(4);
    expect(res.body.failed).toBe(7);
    expect(res.body.errors.map((e: { line: number; code: string }) => [e.line, e.code])).toEqual([
      [2, 'validation_failed'],
      [3, 'validation_failed'],
      [5, 'cim_taken'],
      [6, 'cim_taken'],
      [7, 'validation_failed'],
      [9, 'cim_taken'],
      [11, 'validation_failed'],
    ]);
    for (const e of res.body.errors) expect(typeof e.message).toBe('string');
    expect(await countRows(gw, 'contacts', biz.business_id)).toBe(before + 4);
    // The imported contacts are there, identified by their CIMs, with their fields.
    for (const card of [c1, c2, c3]) {
      const w = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, biz.terminal_key);
      expect(w.status, `${card}: ${w.text}`).toBe(200);
    }
    const eight = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${c2}`, biz.terminal_key);
    const contact = await call(gw, 'GET', `/v1/contacts/${eight.body.contact_id}`, biz.admin_key);
    expect(contact.body).toMatchObject({ first_name: 'Eight', tags: ['imported'] });
    expect(contact.body.wallet_code).toMatch(/^\d{16}$/);
    const by_email = await call(gw, 'GET', `/v1/wallets?cim_type=email&cim_value=${email}`, biz.terminal_key);
    expect(by_email.status).toBe(200);
  });

  it('an empty body imports nothing', async () => {
    const res = await importNdjson('');
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ imported: 0, failed: 0, errors: [] });
  });

  it('a line over the line limit fails alone; the lines after it keep their numbers', async () => {
    const card = nextCard();
    const huge = JSON.stringify({ first_name: 'x'.repeat(70 * 1024) });
    const res = await importNdjson([JSON.stringify({ first_name: 'ok' }), huge, JSON.stringify({ cims: [{ type: 'card', value: card }] })].join('\n'));
    expect(res.status, res.text).toBe(200);
    expect(res.body.imported).toBe(2);
    expect(res.body.failed).toBe(1);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors[0]).toMatchObject({ line: 2, code: 'validation_failed' });
    expect((await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${card}`, biz.terminal_key)).status).toBe(200);
  });

  it('streams a large import (20,000 lines in odd-sized chunks) and reports the right counts', async () => {
    const other = await createBusiness(gw);
    const total = 20_000;
    const bad_every = 1_000; // lines 1000, 2000, …: invalid JSON
    const encoder = new TextEncoder();
    let i = 0;
    let carry = new Uint8Array(0);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i >= total && carry.length === 0) {
          controller.close();
          return;
        }
        let text = '';
        for (let n = 0; n < 500 && i < total; n++) {
          i++;
          text += i % bad_every === 0 ? '{"first_name": oops}\n' : `${JSON.stringify({ first_name: `Zoë ${i}`, cims: [{ type: 'card', value: testCard(500_000 + i) }] })}\n`;
        }
        // Cut at an odd byte offset, so lines and multi-byte characters straddle chunks.
        const bytes = new Uint8Array([...carry, ...encoder.encode(text)]);
        const cut = i >= total ? bytes.length : bytes.length - 7;
        controller.enqueue(bytes.subarray(0, cut));
        carry = bytes.slice(cut);
      },
    });
    const started = Date.now();
    const res = await importNdjson(stream, other.admin_key);
    expect(res.status, res.text.slice(0, 500)).toBe(200);
    expect(res.body.imported).toBe(total - total / bad_every);
    expect(res.body.failed).toBe(total / bad_every);
    expect(res.body.errors.map((e: { line: number }) => e.line)).toEqual(Array.from({ length: total / bad_every }, (_, k) => (k + 1) * bad_every));
    expect(await countRows(gw, 'contacts', other.business_id)).toBe(total - total / bad_every);
    expect(Date.now() - started).toBeLessThan(30_000);
    // Spot checks: first, last and one straddling a chunk boundary, with the name intact.
    for (const line of [1, 4_321, total - 1]) {
      const w = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${testCard(500_000 + line)}`, other.terminal_key);
      expect(w.status, `line ${line}`).toBe(200);
      const c = await call(gw, 'GET', `/v1/contacts/${w.body.contact_id}`, other.admin_key);
      expect(c.body.first_name).toBe(`Zoë ${line}`);
    }
  });
});
