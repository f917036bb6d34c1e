// The admin calls the operations console needs (OPERATIONS.md "The operations console"): the
// network's lists, contact look-up by CIM in a body, POS calls an admin key makes for one of its
// terminals (Pocketgate-Terminal, made_by), the dashboard's figures and the live feed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, openFeed, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { expectProblem, expectValidation, unique } from './contract-util.ts';
import { TransactionFeed } from '../gateway/feed.ts';
import { createProcessor, postCallback, sale, transactionId } from './callback-helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let other: BusinessFixture;
let card: string;
let contact_id: string;

beforeAll(async () => {
  gw = await startTestGateway();
  [biz, other] = await Promise.all([createBusiness(gw), createBusiness(gw)]);
  card = testCard(914_001);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }, { type: 'phone', value: '+351912345678' }] });
  expect(c.status, c.text).toBe(201);
  contact_id = c.body.id;
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } });
  expect(o.status, o.text).toBe(201);
});
afterAll(async () => {
  await gw?.close();
});

const purchase = (amount: number, reference = unique('c-')) => ({ reference, cim: { type: 'card', value: card }, amount, currency: 'EUR' });
const asTerminal = (terminal_id: string) => ({ 'pocketgate-terminal': terminal_id });

describe('the console page', () => {
  it('is served at /console, and /console/ leads there', async () => {
    const page = await gw.app.request('/console');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const slash = await gw.app.request('/console/');
    expect(slash.status).toBe(301);
    expect(slash.headers.get('location')).toBe('/console');
  });
});

describe('network lists', () => {
  it('lists the business’s own merchants, venues and terminals, never a key', async () => {
    const [m, v, t] = await Promise.all([call(gw, 'GET', '/v1/merchants', biz.admin_key), call(gw, 'GET', '/v1/venues', biz.admin_key), call(gw, 'GET', '/v1/terminals', biz.admin_key)]);
    expect(m.body.data.map((x: { id: string }) => x.id)).toEqual([biz.merchant_id]);
    expect(m.body.data[0]).toMatchObject({ code: biz.merchant_code, contribution_fee_percent: 10, settle_on: 'award' });
    expect(v.body.data.map((x: { id: string }) => x.id)).toEqual([biz.venue_id]);
    expect(t.body).toMatchObject({ object: 'list', has_more: false, data: [{ id: biz.terminal_id, code: biz.terminal_code, venue_id: biz.venue_id, merchant_id: biz.merchant_id }] });
    expect(t.text).not.toContain(biz.terminal_key);
    expect(Object.keys(t.body.data[0]).some((k) => k.includes('key'))).toBe(false);
  });

  it('pages with limit and starting_after; refuses other keys and bad limits', async () => {
    const extra = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: 'T0000002' });
    expect(extra.status, extra.text).toBe(201);
    const all = (await call(gw, 'GET', '/v1/terminals', biz.admin_key)).body.data.map((t: { id: string }) => t.id) as string[];
    expect([...all].sort()).toEqual([biz.terminal_id, extra.body.id].sort());
    const first = await call(gw, 'GET', '/v1/terminals?limit=1', biz.admin_key);
    expect(first.body).toMatchObject({ has_more: true, data: [{ id: all[0] }] });
    const next = await call(gw, 'GET', `/v1/terminals?limit=1&starting_after=${all[0]}`, biz.admin_key);
    expect(next.body).toMatchObject({ has_more: false, data: [{ id: all[1] }] });
    // One that names none of the business's terminals (a typo, another business's) is 400, as Stripe answers it.
    const other = await createBusiness(gw);
    for (const unknown of ['ter_nope', other.terminal_id, biz.venue_id]) expectValidation(await call(gw, 'GET', `/v1/terminals?limit=1&starting_after=${unknown}`, biz.admin_key), 'starting_after');
    expectProblem(await call(gw, 'GET', '/v1/terminals', biz.terminal_key), 403, 'forbidden');
    expectProblem(await call(gw, 'GET', '/v1/terminals', undefined), 401, 'unauthorized');
    expectValidation(await call(gw, 'GET', '/v1/venues?limit=0', biz.admin_key), 'limit');
    // Decimal digits alone, one rule on every list (a key matrix probe: 0x2 and 1e0 passed some lists, not others).
    for (const path of ['/v1/venues', '/v1/merchants', '/v1/transactions']) {
      for (const limit of ['0x2', '0b11', '1e0', '%2B5', '%205', '10.0', 'abc', '', '1001']) {
        const r = await call(gw, 'GET', `${path}?limit=${limit}`, biz.admin_key);
        expectValidation(r, 'limit');
        expect(r.body.errors[0].message, `${path} ${limit}`).toMatch(/^must be an integer from 1 to 1?00?0?$/);
      }
    }
    expect((await call(gw, 'GET', '/v1/merchants?limit=1000', biz.admin_key)).status).toBe(200);
  });
});

describe('POST /v1/contacts/lookup', () => {
  it('finds the contact by card, phone, wallet code and contact code', async () => {
    const byCard = await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, { cim: { type: 'card', value: card } });
    expect(byCard.status, byCard.text).toBe(200);
    expect(byCard.body.id).toBe(contact_id);
    expect(byCard.text).not.toContain(card);
    for (const cim of [{ type: 'phone', value: '+351 912 345 678' }, { type: 'wallet_code', value: byCard.body.wallet_code }, { type: 'contact_code', value: byCard.body.code }]) {
      const r = await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, { cim });
      expect([cim.type, r.status, r.body.id]).toEqual([cim.type, 200, contact_id]);
    }
  });

  it('finds a contact by the email or phone it has on file (not a CIM) when one contact alone has it, at the console and the POS (a console probe; a contacts probe)', async () => {
    const unique = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
    const email = `Ada.${unique}@Example.com`;
    const phone = `+3361${String(Date.now()).slice(-7)}`;
    const ada = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Ada', email, phone });
    expect([ada.status, ada.body.cims], ada.text).toEqual([201, []]);
    for (const cim of [{ type: 'email', value: email.toLowerCase() }, { type: 'phone', value: phone }]) {
      const r = await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, { cim });
      expect([cim.type, r.status, r.body.id]).toEqual([cim.type, 200, ada.body.id]);
      // Another business's key finds nothing; a terminal finds it as the back office does.
      expectProblem(await call(gw, 'POST', '/v1/contacts/lookup', other.admin_key, { cim }), 404, 'contact_not_found');
      const wallet = await call(gw, 'GET', `/v1/wallets?cim_type=${cim.type}&cim_value=${encodeURIComponent(cim.value)}`, biz.terminal_key);
      expect([wallet.status, wallet.body.contact_id], wallet.text).toEqual([200, ada.body.id]);
      expectProblem(await call(gw, 'GET', `/v1/wallets?cim_type=${cim.type}&cim_value=${encodeURIComponent(cim.value)}`, other.terminal_key), 404, 'contact_not_found');
    }
    const bought = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `detail-${unique}`, cim: { type: 'phone', value: phone }, amount: 1_000, currency: 'EUR' });
    expect([bought.status, bought.body.contact_id], bought.text).toEqual([201, ada.body.id]);
    // A payment processor's callback names it the same way (EVENTS.md: the same transactions as the HTTP API; a callbacks probe).
    const processor = await createProcessor(gw, biz);
    const event = sale('transaction.cleared', { transaction_id: transactionId(), cim: { type: 'email', value: email }, amount: 1_000, currency: 'EUR', merchant_code: biz.merchant_code });
    const cleared = await postCallback(gw, processor, event);
    expect([cleared.status, cleared.body.status], cleared.text).toEqual([200, 'processed']);
    const booked = await call(gw, 'GET', `/v1/transactions/${cleared.body.transaction_id}`, biz.admin_key);
    expect(booked.body.contact_id, booked.text).toBe(ada.body.id);
    // Two contacts with that email on file: neither is the one it names.
    expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { first_name: 'Bob', email })).status).toBe(201);
    expectProblem(await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, { cim: { type: 'email', value: email } }), 404, 'contact_not_found');
    expectProblem(await call(gw, 'GET', `/v1/wallets?cim_type=email&cim_value=${encodeURIComponent(email)}`, biz.terminal_key), 404, 'contact_not_found');
    // A CIM comes first: the contact that has the email as a CIM.
    const cimmed = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'email', value: email }] });
    expect(cimmed.status, cimmed.text).toBe(201);
    const r = await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, { cim: { type: 'email', value: email } });
    expect([r.status, r.body.id]).toEqual([200, cimmed.body.id]);
  });

  it('answers 404 contact_not_found for an unknown CIM or another business’s, 400 for bad input', async () => {
    expectProblem(await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, { cim: { type: 'card', value: testCard(914_999) } }), 404, 'contact_not_found');
    expectProblem(await call(gw, 'POST', '/v1/contacts/lookup', other.admin_key, { cim: { type: 'card', value: card } }), 404, 'contact_not_found');
    expectValidation(await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, { cim: { type: 'card', value: '4111' } }), 'cim.value');
    expectValidation(await call(gw, 'POST', '/v1/contacts/lookup', biz.admin_key, { cim: { type: 'shoe', value: '1' } }), 'cim.type');
    expectProblem(await call(gw, 'POST', '/v1/contacts/lookup', biz.terminal_key, { cim: { type: 'card', value: card } }), 403, 'forbidden');
  });
});

describe('Pocketgate-Terminal', () => {
  it('lets an admin key purchase for its terminal: the terminal’s transaction, made_by admin, in the hot window and in the ledger', async () => {
    const body = purchase(2_000);
    const r = await call(gw, 'POST', '/v1/purchases', biz.admin_key, body, asTerminal(biz.terminal_id));
    expect(r.status, r.text).toBe(201);
    expect(r.body).toMatchObject({ status: 'approved', contact_id, awards: [{ amount: 200 }] });
    // The same reference from the terminal itself is the same transaction: the reference is the terminal's.
    const again = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, body);
    expect([again.status, again.headers.get('idempotent-replayed'), again.body.id]).toEqual([201, 'true', r.body.id]);
    const own = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase(1_000));
    const read = async (id: string) => (await call(gw, 'GET', `/v1/transactions/${id}`, biz.admin_key)).body;
    const recorded = async (id: string) => eventually(`ledger has ${id}`, async () => {
      const t = await read(id);
      return t.ledger === 'recorded' ? t : undefined;
    });
    expect((await recorded(r.body.id)).made_by).toBe('admin');
    expect((await recorded(own.body.id)).made_by).toBe('terminal');
    expect((await recorded(r.body.id)).terminal_id).toBe(biz.terminal_id);
  });

  it('shows made_by admin while the transaction is only in the journal', async () => {
    await gw.writer!.stop();
    try {
      const r = await call(gw, 'POST', '/v1/purchases', biz.admin_key, purchase(500), asTerminal(biz.terminal_id));
      const t = await call(gw, 'GET', `/v1/transactions/${r.body.id}`, biz.admin_key);
      expect([t.body.ledger, t.body.made_by]).toEqual(['pending', 'admin']);
    } finally {
      gw.writer!.start();
    }
  });

  it('refunds and reverses by the terminal’s references for an admin key', async () => {
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase(3_000));
    const refund = await call(gw, 'POST', '/v1/refunds', biz.admin_key, { reference: unique('r-'), original_reference: p.body.reference, amount: 1_000 }, asTerminal(biz.terminal_id));
    expect(refund.status, refund.text).toBe(201);
    expect(refund.body.original_id).toBe(p.body.id);
    const second = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase(800));
    const reversal = await call(gw, 'POST', '/v1/reversals', biz.admin_key, { reference: unique('v-'), original_reference: second.body.reference }, asTerminal(biz.terminal_id));
    expect([reversal.status, reversal.body.original_id, reversal.body.original_kind]).toEqual([201, second.body.id, 'purchase']);
  });

  it('answers 404 for another business’s terminal or none, 403 for a terminal key naming another terminal, and 403 without the header', async () => {
    expectProblem(await call(gw, 'POST', '/v1/purchases', biz.admin_key, purchase(100), asTerminal(other.terminal_id)), 404, 'not_found');
    expectProblem(await call(gw, 'POST', '/v1/purchases', biz.admin_key, purchase(100), asTerminal('ter_nothing')), 404, 'not_found');
    expectProblem(await call(gw, 'POST', '/v1/purchases', biz.admin_key, purchase(100), asTerminal('x'.repeat(300))), 404, 'not_found');
    expectProblem(await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: unique('s-'), amount: 1, currency: 'EUR', wallet_code: '1' }, asTerminal(other.terminal_id)), 403, 'forbidden');
    expectProblem(await call(gw, 'POST', '/v1/purchases', biz.admin_key, purchase(100)), 403, 'forbidden');
    // An empty header names no terminal: as none sent.
    expectProblem(await call(gw, 'POST', '/v1/purchases', biz.admin_key, purchase(100), asTerminal('')), 403, 'forbidden');
    expectProblem(await call(gw, 'POST', '/v1/purchases', biz.admin_key, purchase(100), asTerminal('  ')), 403, 'forbidden');
    expectProblem(await call(gw, 'POST', '/v1/purchases', 'pk_test_platform_key', purchase(100), asTerminal(biz.terminal_id)), 403, 'forbidden');
  });
});

describe('dashboard', () => {
  it('counts approvals and declines per second and reads awards and spends of the day', async () => {
    const ok = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase(1_000));
    expect(ok.status).toBe(201);
    const no = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: unique('s-'), amount: 1, currency: 'EUR', otp: '000000' });
    expect(no.status).toBe(422);
    const stats = await eventually('the counts in Redis', async () => {
      const s = await call(gw, 'GET', `/v1/stats?since=${new Date(Date.now() - 3_600_000).toISOString()}`, biz.admin_key);
      const approved = s.body.per_second.reduce((n: number, p: { approved: number }) => n + p.approved, 0);
      const declined = s.body.per_second.reduce((n: number, p: { declined: number }) => n + p.declined, 0);
      return approved > 0 && declined > 0 && s.body.awards_today > 0 ? s.body : undefined;
    }, 20_000);
    expect(stats.per_second).toHaveLength(60);
    expect(stats.latency_ms.p50).toBeGreaterThan(0);
    expect(stats.latency_ms.p99).toBeGreaterThanOrEqual(stats.latency_ms.p50);
    expect(typeof stats.ledger_lag).toBe('number');
    const quiet = await call(gw, 'GET', '/v1/stats', other.admin_key);
    expect(quiet.body.per_second.every((p: { approved: number }) => p.approved === 0)).toBe(true);
    expect(quiet.body.awards_today).toBe(0);
    // Whole seconds, as every time the API writes (a key matrix probe saw .000Z).
    expect(quiet.body.since).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$/);
    // A since with an offset is echoed in UTC, as every timestamp the API writes (it echoed the offset).
    const offset = await call(gw, 'GET', `/v1/stats?since=${encodeURIComponent('2026-12-06T10:15:00+01:00')}`, other.admin_key);
    expect(offset.status, offset.text).toBe(200);
    expect(offset.body.since).toBe('2026-12-06T09:15:00Z');
  });

  it("counts the business's own sign-up and referral awards in awards today, and their undoing (a console probe)", async () => {
    const own = await createBusiness(gw);
    for (const offer of [
      { name: 'welcome', goal: 'signup', award: { fixed: 500 } },
      { name: 'referral', goal: 'referral', award: { fixed: 300 } },
      { name: '10%', goal: 'spend', award: { percent: 10 } },
    ]) expect((await call(gw, 'POST', '/v1/offers', own.admin_key, offer)).status).toBe(201);
    const referrer = await call(gw, 'POST', '/v1/contacts', own.admin_key, { first_name: 'Ann' });
    const referred_card = testCard(914_101);
    const referred = await call(gw, 'POST', '/v1/contacts', own.admin_key, { cims: [{ type: 'card', value: referred_card }], referred_by: referrer.body.referral_code });
    expect(referred.status, referred.text).toBe(201);
    const sale_reference = unique('r-');
    const sale = await call(gw, 'POST', '/v1/purchases', own.terminal_key, { reference: sale_reference, cim: { type: 'card', value: referred_card }, amount: 1_000, currency: 'EUR' });
    expect(sale.status, sale.text).toBe(201);
    const since = encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString());
    const awardsToday = async () => (await call(gw, 'GET', `/v1/stats?since=${since}`, own.admin_key)).body.awards_today;
    // Two sign-ups (500 each), the purchase's 10% (100), the referrer's award (300).
    await eventually('every award recorded', async () => (await awardsToday()) === 1_400, 20_000);
    const reversal = await call(gw, 'POST', '/v1/reversals', own.terminal_key, { reference: unique('v-'), original_reference: sale_reference });
    expect(reversal.status, reversal.text).toBe(201);
    // The purchase's award and the referral's, undone (the referred has no purchase left).
    await eventually('both undone', async () => (await awardsToday()) === 1_000, 20_000);
  });

  it('lists the latest transactions at the business’s terminals, newest first, only its own', async () => {
    const p = await call(gw, 'POST', '/v1/purchases', biz.admin_key, purchase(700), asTerminal(biz.terminal_id));
    const list = await eventually('the ledger lists it', async () => {
      const l = await call(gw, 'GET', '/v1/transactions?limit=5', biz.admin_key);
      return l.body.data[0]?.id === p.body.id ? l.body.data : undefined;
    });
    expect(list[0]).toMatchObject({ kind: 'purchase', made_by: 'admin', amount: 700, awarded: 70, terminal_id: biz.terminal_id });
    expect(list.length).toBeLessThanOrEqual(5);
    expect((await call(gw, 'GET', '/v1/transactions', other.admin_key)).body.data).toEqual([]);
  });
});

describe('GET /v1/feed', () => {
  it('streams the business’s own transactions as they happen, not another business’s', async () => {
    const feed = await openFeed(gw, biz.admin_key);
    expect(feed.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    try {
      const theirs = await call(gw, 'POST', '/v1/purchases', other.terminal_key, { reference: unique('o-'), cim: { type: 'card', value: testCard(914_002) }, amount: 1, currency: 'EUR' });
      expect(theirs.status).toBe(404); // no such contact there: nothing journaled either way
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase(1_234));
      const text = await feed.until((t) => t.includes(p.body.id));
      const event = text.split('\n\n').find((e) => e.includes(p.body.id))!;
      expect(event).toMatch(/^event: transaction\ndata: /);
      expect(JSON.parse(event.slice(event.indexOf('data: ') + 6))).toMatchObject({ id: p.body.id, kind: 'purchase', amount: 1_234, awarded: 123, made_by: 'terminal', contact_id });
    } finally {
      await feed.close();
    }
  });

  it('keeps at most buffer_max events for a slow reader, says how many it missed, and beats while idle', async () => {
    const { redis, config } = gw.processor.stores;
    const feed = new TransactionFeed(redis, config.shard_count, gw.logger, { feeds_max: 4, feeds_per_business_max: 1, buffer_max: 2, heartbeat_ms: 200 });
    const reader = feed.open(biz.business_id).getReader();
    const decoder = new TextDecoder();
    try {
      expect(decoder.decode((await reader.read()).value)).toContain('event: ready');
      expect(() => feed.open(biz.business_id)).toThrow(expect.objectContaining({ code: 'rate_limited' }));
      expect(decoder.decode((await reader.read()).value)).toBe(': heartbeat\n\n');
      await new Promise((r) => setTimeout(r, 300)); // the reader has taken the journal's end
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, purchase(100 + i))).body.id);
      await new Promise((r) => setTimeout(r, 1_500)); // the reader has had them all, the buffer kept the last two
      const text = decoder.decode((await reader.read()).value);
      expect(text).toContain('event: missed\ndata: {"count":3}');
      expect(ids.filter((id) => text.includes(id))).toEqual(ids.slice(3));
    } finally {
      await reader.cancel();
      await feed.close();
    }
    expect(feed.open_feeds).toBe(0);
  });

  it('bounds the feeds a business may open', async () => {
    const open = await Promise.all(Array.from({ length: 8 }, () => gw.app.request('/v1/feed', { headers: { authorization: `Bearer ${other.admin_key}` } })));
    expect(open.map((r) => r.status)).toEqual(Array(8).fill(200));
    expectProblem(await call(gw, 'GET', '/v1/feed', other.admin_key), 429, 'rate_limited');
    await Promise.all(open.map((r) => r.body!.cancel()));
    const after = await gw.app.request('/v1/feed', { headers: { authorization: `Bearer ${other.admin_key}` } });
    expect(after.status).toBe(200);
    await after.body!.cancel();
  });
});
