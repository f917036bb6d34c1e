// Every text from outside, as bytes, through Redis, PostgreSQL and back: a string the gateway
// takes in (or reads from a webhook endpoint's answer) must never make a PostgreSQL statement
// fail, nor a 5xx, nor stall what else the statement carried.

import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { createContacts } from './ledger-helpers.ts';

let gw: TestGateway;
let seed = 47_000_000;
const servers: Server[] = [];

beforeAll(async () => {
  // Retries far off: each delivery gets one attempt while a test runs.
  gw = await startTestGateway({ webhooks: { retry_base_ms: 600_000, allow_private: true, worker: true } });
});
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  await gw?.close();
});

/** An endpoint answering every request `status` with these bytes. */
async function endpoint(status: number, body: Buffer): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(status, { 'content-type': 'text/plain' }).end(body));
  });
  servers.push(server);
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  return `http://127.0.0.1:${port}/hook`;
}

describe("a webhook endpoint's answer kept as last_error (EVENTS.md: deliveries, last_status_code, last_error)", () => {
  const answers: [string, Buffer][] = [
    ['plain text', Buffer.from('receiver says no', 'utf8')],
    ['a NUL byte', Buffer.from('refused\u0000here', 'utf8')],
    // 199 characters then an emoji: the first 200 UTF-16 units end inside its surrogate pair.
    ['an emoji across the 200th character', Buffer.from(`${'x'.repeat(199)}\u{1F600} and more`, 'utf8')],
  ];
  for (const [what, bytes] of answers) {
    it(`holding ${what} is recorded, and so is the healthy endpoint's success beside it`, async () => {
      const biz = await createBusiness(gw);
      const [contact] = await createContacts(gw, biz, [testCard(++seed)]);
      const bad = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: await endpoint(500, bytes), events: ['transaction.approved'] });
      const good = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: await endpoint(200, Buffer.from('ok')), events: ['transaction.approved'] });
      expect([bad.status, good.status]).toEqual([201, 201]);
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `s-${seed}`, cim: { type: 'card', value: contact!.card }, amount: 1000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
      const first = async (id: string) => (await call(gw, 'GET', `/v1/webhooks/${id}/deliveries`, biz.admin_key)).body.data[0];
      const failed = await eventually(
        'the failed attempt recorded',
        async () => {
          const d = await first(bad.body.id);
          return d?.last_status_code === 500 ? d : undefined;
        },
        8_000,
      );
      expect(failed).toMatchObject({ status: 'pending', attempts: 1 });
      expect(failed.last_error).toMatch(/^HTTP 500: /);
      expect(failed.last_error).not.toContain('\u0000');
      expect(failed.last_error.isWellFormed()).toBe(true);
      await eventually('the healthy delivery recorded as succeeded', async () => (await first(good.body.id))?.status === 'succeeded', 8_000);
      expect(gw.logs.join('')).not.toContain('recording attempts failed');
    }, 30_000);
  }
});

/** Texts that are JSON, Lua, Redis, PostgreSQL or a template's business: each is storable (no NUL, no lone surrogate). */
const texts = [
  'quote " and backslash \\ and slash /',
  'controls \u0001open\u0001 \u0007 \u001f \u007f \n\t',
  'line sep \u2028 para \u2029 BOM \ufeff',
  'emoji 😀👍🏽 flag 🇪🇸 zwj 👩‍👩‍👧',
  'combining e\u0301 a\u030a',
  'pipe | percent %s %d %% lua %w+ [[ ]] ',
  '{"amount":1,"open":2}',
  '<script>alert(1)</script>',
  'ü€\u00a0\u200b',
];

describe('texts with every awkward character, from a client through Redis and the ledger and back (API.md)', () => {
  it('a pool, tags, names and references: 201s, the ledger records them, GET /v1/transactions/{id} answers them, reconcile is clean', async () => {
    const { expectReconciledWith, expectRecordedWith } = await import('./ledger-checks.ts');
    const biz = await createBusiness(gw);
    const ids: string[] = [];
    for (const [i, text] of texts.entries()) {
      const pool = text.slice(0, 64).trim(); // a pool is trimmed, as a merchant's code it may name is
      const offer = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: text, kind: 'cashback', goal: 'spend', award: { fixed: 100 + i }, validity_days: 30, pool: text.slice(0, 64), conditions: { tags: [text.slice(0, 64).trim()] } });
      expect(offer.status, offer.text).toBe(201);
      expect(offer.body.pool).toBe(pool);
      const card = testCard(++seed);
      const contact = await call(gw, 'POST', '/v1/contacts', biz.admin_key, {
        first_name: text, last_name: text, tags: [text.slice(0, 64).trim()], cims: [{ type: 'card', value: card }, { type: 'loyalty_id', value: text }],
      });
      expect(contact.status, contact.text).toBe(201);
      const reference = `${i}${text}`.slice(0, 64);
      const cim = { type: 'loyalty_id', value: text };
      const items = [{ sku: text.slice(0, 64), family: text, brand: text, type: text, quantity: 1, amount: 5000 }];
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim, amount: 5000, currency: 'EUR', items });
      expect(p.status, p.text).toBe(201);
      expect(p.body.reference).toBe(reference);
      expect(p.body.awards.map((a: { pool: string }) => a.pool)).toEqual([pool]);
      const again = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim, amount: 5000, currency: 'EUR', items });
      expect([again.status, again.headers.get('idempotent-replayed'), again.text]).toEqual([201, 'true', p.text]);
      const r = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: `r${reference}`.slice(0, 64), cim });
      expect(r.status, r.text).toBe(201);
      const v = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: `v${reference}`.slice(0, 64), original_reference: `r${reference}`.slice(0, 64) });
      expect(v.status, v.text).toBe(201);
      const f = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: `f${reference}`.slice(0, 64), original_reference: reference, amount: 1000 });
      expect(f.status, f.text).toBe(201);
      const wallet = await call(gw, 'GET', `/v1/contacts/${contact.body.id}/wallet`, biz.admin_key);
      expect(wallet.status, wallet.text).toBe(200);
      expect(wallet.body.pools.map((x: { pool: string }) => x.pool)).toEqual([pool]);
      ids.push(p.body.id, r.body.id, v.body.id, f.body.id);
      for (const [id, ref] of [[p.body.id, reference], [f.body.id, `f${reference}`.slice(0, 64)]] as const) {
        const t = await call(gw, 'GET', `/v1/transactions/${id}`, biz.admin_key);
        expect(t.status, t.text).toBe(200);
        expect(t.body.reference).toBe(ref);
      }
      const back = await call(gw, 'GET', `/v1/contacts/${contact.body.id}`, biz.admin_key);
      expect([back.status, back.body.first_name, back.body.tags]).toEqual([200, text, [text.slice(0, 64).trim()]]);
    }
    await expectRecordedWith(gw, biz, ids);
    for (const id of ids) {
      const t = await call(gw, 'GET', `/v1/transactions/${id}`, biz.admin_key);
      expect([t.status, t.body.ledger], t.text).toEqual([200, 'recorded']);
    }
    const stats = await call(gw, 'GET', `/v1/transactions?limit=100`, biz.admin_key);
    expect(stats.status, stats.text).toBe(200);
    await expectReconciledWith(gw, biz);
  }, 60_000);
});

describe('texts in processor callbacks (EVENTS.md): transaction ids, event ids, merchant and terminal codes', () => {
  it('are booked, recorded, shown by GET /v1/transactions/{id} and replayed; reconcile is clean', async () => {
    const { expectReconciledWith, expectRecordedWith } = await import('./ledger-checks.ts');
    const { createProcessor, postCallback, refunded, reversed, sale } = await import('./callback-helpers.ts');
    const biz = await createBusiness(gw);
    const processor = await createProcessor(gw, biz, 'authorization');
    const ids: string[] = [];
    for (const [i, text] of texts.entries()) {
      // A merchant with no venue: the processor's terminal gets a venue made for it, named after it.
      // A merchant code is printable ASCII (ISO 8583 DE42): the text's awkward ASCII in it.
      const code = `${i}${text.replace(/[^\x20-\x7e]/g, '')}`.slice(0, 15).trimEnd();
      const m = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: `${'n'.repeat(198 - [...text].length)}${text}`, code });
      expect(m.status, m.text).toBe(201);
      const card = testCard(++seed);
      const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
      expect(c.status, c.text).toBe(201);
      const transaction_id = `${i}${text}${'x'.repeat(64)}`.slice(0, 64);
      const terminal_code = text.slice(0, 64);
      const data = { transaction_id, card: { number: card }, amount: 5000, currency: 'EUR', merchant_code: code, terminal_code };
      const event = sale('transaction.authorized', data, `${i}${text}`);
      const a = await postCallback(gw, processor, event);
      expect([a.status, a.body.status], a.text).toEqual([200, 'processed']);
      const replay = await postCallback(gw, processor, event);
      expect([replay.status, replay.body.replayed, replay.body.transaction_id], replay.text).toEqual([200, true, a.body.transaction_id]);
      const cl = await postCallback(gw, processor, sale('transaction.cleared', { ...data, amount: 4000 }));
      expect([cl.status, cl.body.status], cl.text).toEqual([200, 'processed']);
      const rf = await postCallback(gw, processor, refunded({ transaction_id, original_transaction_id: transaction_id, amount: 1000, currency: 'EUR', merchant_code: code, terminal_code }));
      expect([rf.status, rf.body.status], rf.text).toEqual([200, 'processed']);
      const rv = await postCallback(gw, processor, reversed(transaction_id));
      expect([rv.status, rv.body.status], rv.text).toEqual([200, 'processed']);
      ids.push(a.body.transaction_id, cl.body.transaction_id, rf.body.transaction_id, rv.body.transaction_id);
      const t = await call(gw, 'GET', `/v1/transactions/${a.body.transaction_id}`, biz.admin_key);
      expect([t.status, t.body.reference, t.body.terminal_code], t.text).toEqual([200, transaction_id, terminal_code]);
      const v = await call(gw, 'GET', `/v1/transactions/${rv.body.transaction_id}`, biz.admin_key);
      expect([v.status, v.body.reference], v.text).toEqual([200, `${transaction_id}/reversal`]);
    }
    await expectRecordedWith(gw, biz, ids);
    for (const id of ids) {
      const t = await call(gw, 'GET', `/v1/transactions/${id}`, biz.admin_key);
      expect([t.status, t.body.ledger], t.text).toEqual([200, 'recorded']);
    }
    await expectReconciledWith(gw, biz);
  }, 60_000);
});
