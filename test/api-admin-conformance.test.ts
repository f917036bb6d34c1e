// Conformance of the admin API (spec/API.md: Conventions, Platform, Business network, Contacts,
// Rewards) where a review found the gateway answering otherwise than the page says. Each test
// quotes the words it holds the gateway to.

import { describe, expect, it } from 'vitest';
import { businessGatewayForFile } from './business-gateway.ts';
import { expectValidation } from './contract-util.ts';
import { call, createBusiness, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
businessGatewayForFile((made) => ({ gw, biz } = made));

// API.md, Conventions: "Timestamps are RFC 3339 strings in UTC (`2026-11-24T10:15:00Z`)."
const utc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

describe('timestamps the admin API answers are in UTC, however they were sent', () => {
  it("an offer's valid_from and valid_to sent with an offset or in lower case", async () => {
    const created = await call(gw, 'POST', '/v1/offers', biz.admin_key, {
      name: 'window',
      goal: 'spend',
      award: { percent: 1 },
      valid_from: '2026-01-01T10:00:00+02:00',
      valid_to: '2030-01-01t00:00:00.5z',
    });
    expect(created.status, created.text).toBe(201);
    const read = await call(gw, 'GET', `/v1/offers/${created.body.id}`, biz.admin_key);
    for (const offer of [created.body, read.body]) {
      expect(offer.valid_from).toMatch(utc);
      expect(offer.valid_to).toMatch(utc);
      expect(Date.parse(offer.valid_from)).toBe(Date.parse('2026-01-01T08:00:00Z'));
      expect(Date.parse(offer.valid_to)).toBe(Date.parse('2030-01-01T00:00:00.500Z'));
    }
    const patched = await call(gw, 'PATCH', `/v1/offers/${created.body.id}`, biz.admin_key, { valid_to: '2031-06-01T00:00:00-05:00' });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.valid_to).toBe('2031-06-01T05:00:00Z');
    const listed = await call(gw, 'GET', '/v1/offers', biz.admin_key);
    const mine = listed.body.data.find((o: { id: string }) => o.id === created.body.id);
    expect(mine.valid_from).toMatch(utc);
    expect(mine.valid_to).toBe('2031-06-01T05:00:00Z');
  });

  it('an offer sent in UTC keeps its timestamps as sent', async () => {
    const created = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'z', goal: 'spend', award: { percent: 1 }, valid_from: '2026-01-01T00:00:00Z', valid_to: '2027-01-01T00:00:00.000Z' });
    expect(created.status, created.text).toBe(201);
    expect(created.body.valid_from).toBe('2026-01-01T00:00:00Z');
    expect(created.body.valid_to).toBe('2027-01-01T00:00:00.000Z');
  });

  it("a statement's from and to sent with an offset or in lower case", async () => {
    const contact = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(880001) }] });
    expect(contact.status, contact.text).toBe(201);
    const from = encodeURIComponent('2026-01-01T00:00:00+14:00');
    const res = await call(gw, 'GET', `/v1/contacts/${contact.body.id}/statement?from=${from}&to=2099-01-01t00:00:00z`, biz.admin_key);
    expect(res.status, res.text).toBe(200);
    expect(res.body.from).toBe('2025-12-31T10:00:00Z');
    expect(res.body.to).toBe('2099-01-01T00:00:00Z');
  });
});

// API.md, Rewards: "a purchase earns value units equal to its amount in major units; a contact
// advances at once when its period units reach a higher tier". 12.50 EUR is 12.5 units: each
// purchase's units were rounded down (12), so two purchases of 12.50 never reached 25.
describe('tier value units are the amount in major units, fractions counted', () => {
  it('two purchases of 12.50 EUR reach a 25-unit tier; 24.99 does not', async () => {
    const b = await createBusiness(gw);
    expect((await call(gw, 'PUT', '/v1/tiers', b.admin_key, [{ name: 'silver', min_period_units: 25, period: 'month' }])).status).toBe(200);
    const contact = async (n: number) => {
      const card = testCard(9_520_000 + n);
      const c = await call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: card }] });
      expect(c.status, c.text).toBe(201);
      return { id: c.body.id as string, card };
    };
    const buy = (card: string, reference: string, amount: number) => call(gw, 'POST', '/v1/purchases', b.terminal_key, { reference, cim: { type: 'card', value: card }, amount, currency: 'EUR' });
    const tierOf = async (id: string) => (await call(gw, 'GET', `/v1/contacts/${id}`, b.admin_key)).body.tier ?? null;
    const a = await contact(1);
    expect((await buy(a.card, 'tu-a1', 1250)).status).toBe(201);
    expect(await tierOf(a.id)).toBeNull();
    expect((await buy(a.card, 'tu-a2', 1250)).status).toBe(201);
    expect(await tierOf(a.id)).toBe('silver');
    const z = await contact(2);
    expect((await buy(z.card, 'tu-z1', 1250)).status).toBe(201);
    expect((await buy(z.card, 'tu-z2', 1249)).status).toBe(201);
    expect(await tierOf(z.id)).toBeNull();
  });
});

// API.md, Contacts: "GET /v1/contacts/{id}/statement → {opening, closing, lines} read from the
// Postgres ledger". A statement asked for after a transaction was answered 201 holds it: its
// closing is the wallet, not the wallet of before. The ledger writer records the journal a few
// milliseconds after the reply, so a statement read at once missed the purchase almost always.
describe('a statement read right after a transaction holds it', () => {
  it('ten contacts, each: a purchase, then its statement at once', async () => {
    const b = await createBusiness(gw);
    expect((await call(gw, 'POST', '/v1/offers', b.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
    for (let n = 0; n < 10; n++) {
      const card = testCard(9_530_000 + n);
      const c = await call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: card }] });
      expect(c.status, c.text).toBe(201);
      const p = await call(gw, 'POST', '/v1/purchases', b.terminal_key, { reference: `st-now-${n}`, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
      const s = await call(gw, 'GET', `/v1/contacts/${c.body.id}/statement`, b.admin_key);
      expect(s.status, s.text).toBe(200);
      expect(s.body.lines.map((l: { transaction_id: string }) => l.transaction_id)).toEqual([p.body.id]);
      expect(s.body.closing).toEqual({ open: 0, commerce: 100 });
    }
  });
});

// API.md, Contacts: a statement is "{opening, closing, lines}" over from..to: its closing is its
// opening plus its lines. A period that ends before it starts has no such statement: it answered
// 200 with the opening at `from` (after the purchase) and the closing at `to` (before it), no
// lines in between. Bad input is 400 validation_failed (Conventions).
describe('a settlement whose period ends before it starts', () => {
  it('is 400 validation_failed on to, as a statement’s is; from equal to to is an empty period', async () => {
    const b = await createBusiness(gw);
    const read = (q: string) => call(gw, 'GET', `/v1/settlements?merchant_id=${b.merchant_id}&${q}`, b.admin_key);
    expectValidation(await read('from=2099-01-01T00:00:00Z&to=2000-01-01T00:00:00Z'), 'to');
    const empty = await read('from=2099-01-01T00:00:00Z&to=2099-01-01T00:00:00Z');
    expect(empty.status, empty.text).toBe(200);
  });
});

describe('a statement whose period ends before it starts', () => {
  it('is 400 validation_failed on to; from equal to to is an empty period', async () => {
    const b = await createBusiness(gw);
    expect((await call(gw, 'POST', '/v1/offers', b.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
    const card = testCard(9_540_001);
    const c = await call(gw, 'POST', '/v1/contacts', b.admin_key, { cims: [{ type: 'card', value: card }] });
    expect((await call(gw, 'POST', '/v1/purchases', b.terminal_key, { reference: 'st-range', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' })).status).toBe(201);
    const read = (q: string) => call(gw, 'GET', `/v1/contacts/${c.body.id}/statement?${q}`, b.admin_key);
    expectValidation(await read('from=2099-01-01T00:00:00Z&to=2000-01-01T00:00:00Z'), 'to');
    expectValidation(await read(`from=${encodeURIComponent('2026-01-01T00:00:01+01:00')}&to=2025-12-31T23:00:00Z`), 'to');
    const empty = await read('from=2099-01-01T00:00:00Z&to=2099-01-01T00:00:00Z');
    expect(empty.status, empty.text).toBe(200);
    expect(empty.body.lines).toEqual([]);
    expect(empty.body.closing).toEqual(empty.body.opening);
    expect(empty.body.closing).toEqual({ open: 0, commerce: 100 });
  });
});

// API.md, Contacts: POST /v1/contacts {cims: [{type, value}]} → 201 {..., cims: [{type, masked}]}.
// The contact's CIMs come back in the order they were given (then those added later), as any
// list a client sent: they were ordered by their index tokens, a keyed hash, so a contact made
// with a card and an email listed the email first about half the time.
describe("a contact's CIMs in the order they were given", () => {
  it('created with five CIMs, then one added: the same order from POST and GET', async () => {
    const sent = ['card', 'email', 'phone', 'loyalty_id', 'gift_pass'];
    for (let n = 0; n < 8; n++) {
      const values: Record<string, string> = { card: testCard(9_550_000 + n), email: `order${n}@example.com`, phone: `+3460000${String(1000 + n)}`, loyalty_id: `LOY-ORDER-${n}`, gift_pass: `GP-ORDER-${n}` };
      const order = n % 2 === 0 ? sent : [...sent].reverse();
      const created = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: order.map((type) => ({ type, value: values[type] })) });
      expect(created.status, created.text).toBe(201);
      expect(created.body.cims.map((c: { type: string }) => c.type)).toEqual(order);
      expect((await call(gw, 'POST', `/v1/contacts/${created.body.id}/cims`, biz.admin_key, { type: 'email', value: `order${n}-later@example.com` })).status).toBe(201);
      const read = await call(gw, 'GET', `/v1/contacts/${created.body.id}`, biz.admin_key);
      expect(read.body.cims.map((c: { type: string }) => c.type)).toEqual([...order, 'email']);
      expect(read.body.cims.slice(0, 5)).toEqual(created.body.cims);
    }
  });
});
