// Admin writes of one thing at once (the same CIM, code, merchant, terminal, link, sign-up): one
// of them is made, the others answer as they would after it, no 5xx, and whatever a 201 returns
// (a terminal's key above all) works.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomAcquirerId } from './acquirer.ts';
import { createCardContact, type CardContact } from './card-contact.ts';
import { call, closeAll, createBusiness, startTestGateway, type ApiResponse, type BusinessFixture, type TestGateway } from './helpers.ts';
import { walletOf } from './contract-util.ts';
import { CimIndex } from '../processor/hot/cim-index.ts';
import { cimToken } from '../core/cim.ts';
import { hashKey } from '../processor/network.ts';
import { keyEntryKey } from '../processor/network-layout.ts';

let gw: TestGateway;
let seed = 93_200_000;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await closeAll(gw);
});

const contactOf = (biz: BusinessFixture): Promise<CardContact> => createCardContact(gw, biz, ++seed);

async function offer(biz: BusinessFixture, body: Record<string, unknown>): Promise<string> {
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'offer', goal: 'spend', kind: 'cashback', ...body });
  expect(o.status, o.text).toBe(201);
  return o.body.id;
}

/** A contact of `biz` with 100.00 in its open balance (a 10% instant-redeem award on a purchase of 1,000.00). */
async function fundedContact(biz: BusinessFixture): Promise<CardContact> {
  await offer(biz, { award: { percent: 10 }, instant_redeem: true });
  const c = await contactOf(biz);
  expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'fund', cim: { type: 'card', value: c.card }, amount: 100_000, currency: 'EUR' })).status).toBe(201);
  return c;
}

describe('admin writes of one thing at once', () => {
  const admin = (biz: BusinessFixture, method: string, path: string, body?: unknown) => call(gw, method, path, biz.admin_key, body);
  const statuses = (rs: ApiResponse[]) => rs.map((r) => `${r.status} ${r.body?.code ?? ''}`.trim()).sort();

  it('10 contacts with one CIM at once: one 201, the rest 409 cim_taken', async () => {
    const biz = await createBusiness(gw);
    const rs = await Promise.all(Array.from({ length: 10 }, () => admin(biz, 'POST', '/v1/contacts', { cims: [{ type: 'email', value: 'same@example.com' }] })));
    expect(statuses(rs).map((s) => (s.startsWith('201') ? '201' : s))).toEqual(['201', ...Array(9).fill('409 cim_taken')]);
  });

  it('one CIM added to 10 contacts at once: one 201, the rest 409 cim_taken', async () => {
    const biz = await createBusiness(gw);
    const cs = await Promise.all(Array.from({ length: 10 }, () => contactOf(biz)));
    const rs = await Promise.all(cs.map((c) => admin(biz, 'POST', `/v1/contacts/${c.id}/cims`, { type: 'phone', value: '+33612345678' })));
    expect(statuses(rs)).toEqual(['201', ...Array(9).fill('409 cim_taken')]);
  });

  it('10 merchants with one code at once: one merchant made (the same call finishing it is answered it), no 5xx', async () => {
    const biz = await createBusiness(gw);
    const rs = await Promise.all(Array.from({ length: 10 }, () => admin(biz, 'POST', '/v1/merchants', { name: 'M', code: 'SAMECODE' })));
    for (const r of rs) expect(r.status, r.text).toBeLessThan(500);
    expect(new Set(rs.filter((r) => r.status === 201).map((r) => r.body.id)).size).toBe(1);
  });

  it('10 terminals with one code at once, 10 times: no 5xx, one terminal, and every key a 201 returned works', async () => {
    const biz = await createBusiness(gw);
    const c = await contactOf(biz);
    for (let round = 0; round < 10; round++) {
      const code = `R${String(round).padStart(7, '0')}`;
      const rs = await Promise.all(Array.from({ length: 10 }, () => admin(biz, 'POST', '/v1/terminals', { venue_id: biz.venue_id, code })));
      for (const r of rs) expect(r.status, r.text).toBeLessThan(500);
      const made = rs.filter((r) => r.status === 201);
      expect(made, `round ${round}: ${rs.map((r) => r.status)}`).toHaveLength(1);
      for (const r of rs.filter((r) => r.status !== 201)) expect(r.body.code, r.text).toBe('validation_failed');
      // API.md: "Keys are returned once, at creation": a key answered 201 is the terminal's key.
      for (const r of made) {
        const w = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${c.card}`, r.body.api_key);
        expect(w.status, `round ${round}, ${made.length} made, key of ${r.body.id}: ${w.text}`).toBe(200);
      }
    }
  });

  it('one acquirer linked 10 times at once: the same link each time', async () => {
    const biz = await createBusiness(gw);
    const acquirer = randomAcquirerId();
    const rs = await Promise.all(Array.from({ length: 10 }, () => admin(biz, 'POST', '/v1/iso8583/links', { acquirer_id: acquirer })));
    for (const r of rs) expect(r.status, r.text).toBe(201);
    expect(new Set(rs.map((r) => r.text)).size).toBe(1);
  });

  it('one scheme code used by 10 contacts at once: one joins, the rest 422 signup_not_allowed', async () => {
    const biz = await createBusiness(gw);
    const s = await admin(biz, 'POST', '/v1/schemes', { name: 'club', signup: 'codes' });
    expect(s.status, s.text).toBe(201);
    const codes = await admin(biz, 'POST', `/v1/schemes/${s.body.id}/codes`, { count: 1 });
    expect(codes.status, codes.text).toBeLessThan(300);
    const code = codes.body.codes[0];
    const cs = await Promise.all(Array.from({ length: 10 }, () => contactOf(biz)));
    const rs = await Promise.all(cs.map((c) => admin(biz, 'POST', `/v1/schemes/${s.body.id}/signups`, { contact_id: c.id, code })));
    expect(statuses(rs)).toEqual(['201', ...Array(9).fill('422 signup_not_allowed')]);
  });

  it('one contact signing up to a scheme with a sign-up award 10 times at once: awarded once', async () => {
    const biz = await createBusiness(gw);
    const s = await admin(biz, 'POST', '/v1/schemes', { name: 'club', signup: 'self' });
    await offer(biz, { goal: 'signup', scheme_id: s.body.id, award: { fixed: 500 } });
    const c = await contactOf(biz);
    const rs = await Promise.all(Array.from({ length: 10 }, () => admin(biz, 'POST', `/v1/schemes/${s.body.id}/signups`, { contact_id: c.id })));
    // "Joining twice is not an error (201 again)": once joined, the others find it a member.
    expect(rs.map((r) => `${r.status} ${r.body.joined}`).sort()).toEqual([...Array(9).fill('201 false'), '201 true']);
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 0, commerce: 500 });
  });

  it('one contact joining a codes scheme with its code 5 times at once: joined once, the others 201 as a member', async () => {
    const biz = await createBusiness(gw);
    const s = await admin(biz, 'POST', '/v1/schemes', { name: 'club', signup: 'codes' });
    const code = (await admin(biz, 'POST', `/v1/schemes/${s.body.id}/codes`, { count: 1 })).body.codes[0];
    const c = await contactOf(biz);
    const rs = await Promise.all(Array.from({ length: 5 }, () => admin(biz, 'POST', `/v1/schemes/${s.body.id}/signups`, { contact_id: c.id, code })));
    expect(rs.map((r) => `${r.status} ${r.body.joined ?? r.body.code}`).sort()).toEqual([...Array(4).fill('201 false'), '201 true']);
  });

  it('tiers put 5 times at once with different lists: one of them stands, no 5xx', async () => {
    const biz = await createBusiness(gw);
    const rs = await Promise.all(Array.from({ length: 5 }, (_, i) => call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: `t${i}`, min_period_units: 10 + i, period: 'month' }])));
    for (const r of rs) expect(r.status, r.text).toBeLessThan(500);
  });
});

describe('a contact changed from two calls at once', () => {
  it('its wallet code rotated 5 times at once, 10 times: exactly the code the contact shows spends, every other is wallet_code_invalid', async () => {
    const biz = await createBusiness(gw);
    const c = await fundedContact(biz);
    let ref = 0;
    for (let round = 0; round < 10; round++) {
      const rs = await Promise.all(Array.from({ length: 5 }, () => call(gw, 'POST', `/v1/contacts/${c.id}/wallet-code`, biz.admin_key)));
      for (const r of rs) expect(r.status, r.text).toBe(201);
      const shown = (await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body.wallet_code;
      const spends = await Promise.all([c.wallet_code, ...rs.map((r) => r.body.wallet_code)].map((code) => call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: `s-${++ref}`, amount: 1, currency: 'EUR', wallet_code: code })));
      const working = [c.wallet_code, ...rs.map((r) => r.body.wallet_code)].filter((_, i) => spends[i]!.status === 201);
      expect(working, `round ${round}, shown ${shown}`).toEqual([shown]);
    }
  });

  it('spend_blocked set true and false at once, 20 times: the hot path applies what the contact shows', async () => {
    const biz = await createBusiness(gw);
    const c = await fundedContact(biz);
    for (let round = 0; round < 20; round++) {
      const rs = await Promise.all([true, false, true, false].map((spend_blocked) => call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked })));
      for (const r of rs) expect(r.status, r.text).toBe(200);
      const shown = (await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body.spend_blocked;
      const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: `s-${round}`, amount: 1, currency: 'EUR', wallet_code: c.wallet_code });
      expect(spend.status === 422 && spend.body.code === 'spend_blocked', `round ${round}: shown ${shown}, spend ${spend.status}`).toBe(shown);
    }
  });
});

describe('a contact changed at once through two gateways', () => {
  it('spend_blocked set true on one and false on the other, 50 times: the hot path applies what the contact shows', async () => {
    const other = await startTestGateway();
    try {
      const biz = await createBusiness(gw);
      const c = await fundedContact(biz);
      const wrong: string[] = [];
      for (let round = 0; round < 50; round++) {
        const rs = await Promise.all([gw, other, gw, other].map((g, i) => call(g, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: i % 2 === round % 2 })));
        for (const r of rs) expect(r.status, r.text).toBe(200);
        const shown = (await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body.spend_blocked;
        const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: `s-${round}`, amount: 1, currency: 'EUR', wallet_code: c.wallet_code });
        if ((spend.status === 422 && spend.body.code === 'spend_blocked') !== shown) wrong.push(`round ${round}: shown ${shown}, spend ${spend.status}`);
      }
      expect(wrong).toEqual([]);
    } finally {
      await other.close();
    }
  });
});

describe('a terminal key rotated at once', () => {
  // As one after the other: each rotation 201 with its key, the last one's standing, every other
  // refused (the calls that found another's key granted after theirs answered 503: a scale-out
  // audit, 2026-12-04).
  async function rotations(gateways: TestGateway[], rounds: number): Promise<string[]> {
    const biz = await createBusiness(gw);
    const wrong: string[] = [];
    for (let round = 0; round < rounds; round++) {
      const rs = await Promise.all(gateways.map((g) => call(g, 'POST', `/v1/terminals/${biz.terminal_id}/rotate-key`, biz.admin_key)));
      const statuses = rs.map((r) => r.status);
      if (statuses.some((s) => s !== 201)) wrong.push(`round ${round}: ${rs.map((r) => `${r.status} ${r.body?.code ?? ''}`).join(', ')}`);
      const keys = rs.filter((r) => r.status === 201).map((r) => r.body.api_key as string);
      // Read in Redis (another gateway may take up to its cache's 5 s to refuse a replaced key).
      const redis = gw.processor.stores.redis;
      const granted = await Promise.all(keys.map((key) => redis.exists(keyEntryKey(hashKey(key)))));
      const working = keys.filter((_, i) => granted[i] === 1);
      if (working.length !== 1) wrong.push(`round ${round}: ${working.length} keys granted`);
      // The one granted is the one PostgreSQL holds, and the rotating gateway takes it.
      const held = await gw.processor.stores.sql<{ hash: string }[]>`select hash from api_keys where terminal_id = ${biz.terminal_id}`;
      if (held.length !== 1 || held[0]!.hash !== hashKey(working[0] ?? '')) wrong.push(`round ${round}: PostgreSQL holds another key than the one granted`);
      const pos = await call(gw, 'GET', '/v1/wallets?cim_type=loyalty_id&cim_value=nobody', working[0] ?? keys[0]!);
      if (pos.status !== 404) wrong.push(`round ${round}: the standing key answered ${pos.status}`);
    }
    return wrong;
  }

  it('4 rotations at once on one gateway, 10 times: each 201, exactly one key works', async () => {
    expect(await rotations([gw, gw, gw, gw], 10)).toEqual([]);
  });

  it('4 rotations at once through two gateways, 10 times: each 201, exactly one key works', async () => {
    const other = await startTestGateway();
    try {
      expect(await rotations([gw, other, gw, other], 10)).toEqual([]);
    } finally {
      await other.close();
    }
  });
});

describe('a contact rotated or joined at once through two gateways', () => {
  it('its wallet code rotated on both at once, 100 times: only the code the contact shows names it (and spends)', async () => {
    const other = await startTestGateway();
    try {
      const biz = await createBusiness(gw);
      const c = await fundedContact(biz);
      const wrong: string[] = [];
      let ref = 0;
      for (let round = 0; round < 100; round++) {
        const rs = await Promise.all([gw, other, gw, other].map((g) => call(g, 'POST', `/v1/contacts/${c.id}/wallet-code`, biz.admin_key)));
        for (const r of rs) expect(r.status, r.text).toBe(201);
        const shown = (await call(gw, 'GET', `/v1/contacts/${c.id}`, biz.admin_key)).body.wallet_code;
        const codes = rs.map((r) => r.body.wallet_code as string);
        // Read in the CIM index itself: spending with the replaced codes would count as guesses.
        const index = new CimIndex(gw.processor.stores.redis, gw.processor.stores.config.cim_index_buckets!);
        const named = await Promise.all(codes.map((code) => index.get(cimToken(gw.processor.stores.config.cim_hmac_key, biz.business_id, 'wallet_code', code))));
        const working = codes.filter((_, i) => named[i] === c.id);
        const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: `s-${++ref}`, amount: 1, currency: 'EUR', wallet_code: shown });
        expect(spend.status, spend.text).toBe(201);
        if (JSON.stringify(working) !== JSON.stringify([shown])) wrong.push(`round ${round}: shown ${shown}, working ${working}`);
      }
      expect(wrong).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('one contact joining 6 self schemes at once on both gateways, 40 times: every scheme’s offer applies', async () => {
    const other = await startTestGateway();
    try {
      const biz = await createBusiness(gw);
      const wrong: string[] = [];
      const schemes: string[] = [];
      for (let i = 0; i < 6; i++) {
        const s = await call(gw, 'POST', '/v1/schemes', biz.admin_key, { name: `s${i}`, signup: 'self' });
        schemes.push(s.body.id);
        await offer(biz, { scheme_id: s.body.id, award: { fixed: 1 } });
      }
      for (let round = 0; round < 40; round++) {
        const c = await contactOf(biz);
        const rs = await Promise.all(schemes.map((s, i) => call(i % 2 ? other : gw, 'POST', `/v1/schemes/${s}/signups`, biz.admin_key, { contact_id: c.id })));
        for (const r of rs) expect(r.status, r.text).toBe(201);
        const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `j-${round}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' });
        if (p.body.awards.length !== 6) wrong.push(`round ${round}: ${p.body.awards.length} awards of 6`);
      }
      expect(wrong).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
