// Contract: payment processors and their callbacks (spec/EVENTS.md, "Signatures" and "Callbacks
// in"), row by row through the HTTP API, on the test Redis and PostgreSQL.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signatureHeader } from '../core/signature.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { countRows, expectProblem, expectValidation, shop as shopOf, unique, walletOf, type Shop } from './contract-util.ts';
import { createProcessor, eventId, postCallback, refunded, reversed, sale, transactionId, type ProcessorFixture } from './callback-helpers.ts';

let gw: TestGateway;
let seed = 610_000;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.close();
});

/** A business with 10% cashback and one contact holding a card. */
function shop(): Promise<Shop> {
  return shopOf(gw, testCard(++seed), [{ name: '10% back', goal: 'spend', award: { percent: 10 } }]);
}

async function shopWithProcessor(): Promise<{ s: Shop; p: ProcessorFixture }> {
  const s = await shop();
  return { s, p: await createProcessor(gw, s.biz) };
}

function saleData(s: Shop, transaction_id: string, amount: number, extra: Record<string, unknown> = {}) {
  return { transaction_id, card: { number: s.card }, amount, currency: 'EUR', merchant_code: s.biz.merchant_code, ...extra };
}

async function commerce(s: Shop): Promise<number> {
  return (await walletOf(gw, s.biz.admin_key, s.contact_id)).commerce;
}

async function eventRows(p: ProcessorFixture): Promise<number> {
  const [row] = await gw.processor.stores.sql<{ n: number }[]>`select count(*)::int as n from callback_events where processor_id = ${p.id}`;
  return row!.n;
}

async function transaction(biz: BusinessFixture, id: string) {
  const t = await call(gw, 'GET', `/v1/transactions/${id}`, biz.admin_key);
  expect(t.status, t.text).toBe(200);
  return t.body;
}

describe('processors (admin key)', () => {
  it('POST creates one with a whsec_ secret of 32 random bytes, award_on clearing by default', async () => {
    const biz = await createBusiness(gw);
    const res = await call(gw, 'POST', '/v1/processors', biz.admin_key, { name: 'Adyen' });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ name: 'Adyen', award_on: 'clearing' });
    expect(typeof res.body.id).toBe('string');
    expect(res.body.signing_secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(res.body.signing_secret.slice(6), 'base64url')).toHaveLength(32);
    const auth = await call(gw, 'POST', '/v1/processors', biz.admin_key, { name: 'CLO network', award_on: 'authorization' });
    expect(auth.body.award_on).toBe('authorization');
    expect(auth.body.signing_secret).not.toBe(res.body.signing_secret);
  });

  it('refuses a bad body with 400', async () => {
    const biz = await createBusiness(gw);
    expectValidation(await call(gw, 'POST', '/v1/processors', biz.admin_key, {}), 'name');
    expectValidation(await call(gw, 'POST', '/v1/processors', biz.admin_key, { name: 'x', award_on: 'settlement' }), 'award_on');
    expect((await call(gw, 'GET', '/v1/processors', biz.admin_key)).body.data).toEqual([]);
  });

  it('GET lists them, never with a secret; the secret is not stored in clear', async () => {
    const biz = await createBusiness(gw);
    const p = await createProcessor(gw, biz);
    const list = await call(gw, 'GET', '/v1/processors', biz.admin_key);
    expect(list.status, list.text).toBe(200);
    expect(list.body.data).toEqual([expect.objectContaining({ id: p.id, name: 'Acquirer', award_on: 'clearing' })]);
    expect(list.text).not.toContain('whsec_');
    const rows = await gw.processor.stores.sql<{ row: string }[]>`select t::text as row from processor_secrets t where processor_id = ${p.id}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.row).not.toContain(p.secret.slice(6));
  });

  it('rotate-secret answers 201 with a new secret, which verifies at once', async () => {
    const biz = await createBusiness(gw);
    const p = await createProcessor(gw, biz);
    const r = await call(gw, 'POST', `/v1/processors/${p.id}/rotate-secret`, biz.admin_key);
    expect(r.status, r.text).toBe(201);
    expect(r.body.signing_secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(r.body.signing_secret).not.toBe(p.secret);
    const res = await postCallback(gw, { id: p.id, secret: r.body.signing_secret }, reversed(transactionId()));
    expect(res.status, res.text).toBe(200);
  });

  it('every secret replaced verifies for 24 hours: an 11th rotation within them is refused 429, and changes nothing (a black-box probe)', async () => {
    const biz = await createBusiness(gw);
    const p = await createProcessor(gw, biz);
    const secrets = [p.secret];
    for (let i = 0; i < 10; i++) {
      const r = await call(gw, 'POST', `/v1/processors/${p.id}/rotate-secret`, biz.admin_key);
      expect(r.status, r.text).toBe(201);
      secrets.push(r.body.signing_secret);
    }
    const refused = await call(gw, 'POST', `/v1/processors/${p.id}/rotate-secret`, biz.admin_key);
    expectProblem(refused, 429, 'rate_limited');
    // Retry-After when the oldest replaced secret's 24 hours end, not the usual minute (a probe).
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(86_000);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(86_400);
    for (const secret of secrets) expect((await postCallback(gw, { id: p.id, secret }, reversed(transactionId()))).status).toBe(200);
  });

  it("another business's admin key gets 404, and sees none of them", async () => {
    const a = await createBusiness(gw);
    const b = await createBusiness(gw);
    const p = await createProcessor(gw, a);
    expectProblem(await call(gw, 'POST', `/v1/processors/${p.id}/rotate-secret`, b.admin_key), 404, 'not_found');
    expectProblem(await call(gw, 'POST', '/v1/processors/prc_doesnotexist/rotate-secret', a.admin_key), 404, 'not_found');
    expect((await call(gw, 'GET', '/v1/processors', b.admin_key)).body.data).toEqual([]);
    // The secret did not change: the old one still verifies and nothing expires it.
    expect((await postCallback(gw, p, reversed(transactionId()))).status).toBe(200);
  });

  it('needs an admin key', async () => {
    const biz = await createBusiness(gw);
    expectProblem(await call(gw, 'POST', '/v1/processors', undefined, { name: 'x' }), 401, 'unauthorized');
    expectProblem(await call(gw, 'POST', '/v1/processors', biz.terminal_key, { name: 'x' }), 403, 'forbidden');
    expectProblem(await call(gw, 'GET', '/v1/processors', biz.terminal_key), 403, 'forbidden');
  });
});

describe('signatures', () => {
  let s: Shop;
  let p: ProcessorFixture;
  beforeAll(async () => ({ s, p } = await shopWithProcessor()));

  /** A callback that would make a purchase; every refusal below must leave all as it was. */
  function body() {
    return sale('transaction.cleared', saleData(s, transactionId(), 1000));
  }

  async function expectRefusedAndNothingChanged(res: Awaited<ReturnType<typeof postCallback>>, before: { commerce: number; events: number; terminals: number }) {
    expectProblem(res, 401, 'signature_invalid');
    expect(await commerce(s)).toBe(before.commerce);
    expect(await eventRows(p)).toBe(before.events);
    expect(await countRows(gw, 'terminals', s.biz.business_id)).toBe(before.terminals);
  }

  async function state() {
    return { commerce: await commerce(s), events: await eventRows(p), terminals: await countRows(gw, 'terminals', s.biz.business_id) };
  }

  it('missing, malformed, wrong or stale: 401 signature_invalid, nothing changes', async () => {
    const before = await state();
    const e = body();
    const text = JSON.stringify(e);
    const good = signatureHeader([p.secret], Math.floor(gw.processor.stores.clock.now() / 1000), text);
    // Each case reads the clock again when it is sent: the cases before it take time, and a `t`
    // ahead of a clock that has since moved on is no longer more than 300 s ahead. The ahead case
    // keeps a second of margin because both clocks are read in whole seconds.
    const cases: [string, (now: number) => Parameters<typeof postCallback>[3]][] = [
      ['missing', () => ({ signature: null })],
      ['empty', () => ({ signature: '' })],
      ['no t', () => ({ signature: good.replace(/^t=\d+,/, '') })],
      ['no v1', (now) => ({ signature: `t=${now}` })],
      ['not hex', (now) => ({ signature: `t=${now},v1=${'z'.repeat(64)}` })],
      ['wrong secret', () => ({ secrets: ['whsec_not_the_secret'] })],
      ['secret without its prefix', () => ({ secrets: [p.secret.slice(6)] })],
      ['301 s old', (now) => ({ t: now - 301 })],
      ['302 s ahead', (now) => ({ t: now + 302 })],
      ['a day old', (now) => ({ t: now - 86_400 })],
    ];
    for (const [what, options] of cases) {
      const res = await postCallback(gw, p, text, options(Math.floor(gw.processor.stores.clock.now() / 1000)));
      expect(res.status, `${what}: ${res.text}`).toBe(401);
      await expectRefusedAndNothingChanged(res, before);
    }
    // Signed, then one byte of the body changed.
    const tampered = await gw.app.request(`/v1/callbacks/${p.id}`, { method: 'POST', headers: { 'pocketgate-signature': good }, body: text.replace('1000', '9000') });
    expect(tampered.status).toBe(401);
    // The same event, signed right: accepted.
    const ok = await postCallback(gw, p, text);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.status).toBe('processed');
  });

  it('an unknown processor id, or one that is no id: 401 signature_invalid', async () => {
    for (const id of ['prc_doesnotexist', 'x'.repeat(300), 'a%00b']) {
      const res = await postCallback(gw, { id, secret: p.secret }, body());
      expectProblem(res, 401, 'signature_invalid');
    }
  });

  it('within 300 s either way is accepted; several v1, one valid, is enough', async () => {
    const now = Math.floor(gw.processor.stores.clock.now() / 1000);
    for (const t of [now - 299, now + 299]) expect((await postCallback(gw, p, body(), { t })).status).toBe(200);
    const res = await postCallback(gw, p, body(), { secrets: ['whsec_old', p.secret, 'whsec_other'] });
    expect(res.status, res.text).toBe(200);
  });

  it('after a rotation both secrets verify; 24 hours later only the new one', async () => {
    const q = await createProcessor(gw, s.biz);
    const r = await call(gw, 'POST', `/v1/processors/${q.id}/rotate-secret`, s.biz.admin_key);
    const fresh = { id: q.id, secret: r.body.signing_secret as string };
    expect((await postCallback(gw, q, body())).status).toBe(200);
    expect((await postCallback(gw, fresh, body())).status).toBe(200);
    const clock = gw.processor.stores.clock;
    const real = clock.now;
    try {
      clock.now = () => real() + 24 * 3_600_000 - 60_000;
      expect((await postCallback(gw, q, body())).status).toBe(200);
      clock.now = () => real() + 24 * 3_600_000 + 1_000;
      expectProblem(await postCallback(gw, q, body()), 401, 'signature_invalid');
      expect((await postCallback(gw, fresh, body())).status).toBe(200);
    } finally {
      clock.now = real;
    }
  });
});

describe('secrets across gateways', () => {
  it('a secret rotated through another gateway verifies here within a second; the cached old one still does', async () => {
    const s = await shop();
    const p = await createProcessor(gw, s.biz);
    const other = await startTestGateway({ ledger_writer: false });
    try {
      // `other` caches the processor with its first secret.
      expect((await postCallback(other, p, reversed(transactionId()))).status).toBe(200);
      const r = await call(gw, 'POST', `/v1/processors/${p.id}/rotate-secret`, s.biz.admin_key);
      expect(r.status, r.text).toBe(201);
      // `other` reads a processor again at most once a second, so a second after it read it.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect((await postCallback(other, { id: p.id, secret: r.body.signing_secret }, reversed(transactionId()))).status).toBe(200);
      expect((await postCallback(other, p, reversed(transactionId()))).status).toBe(200);
      expectProblem(await postCallback(other, { id: p.id, secret: 'whsec_never' }, reversed(transactionId())), 401, 'signature_invalid');
    } finally {
      await other.close();
    }
  });
});

describe('secrets across gateways, a rotation right after a bad signature', () => {
  it('the new secret verifies on the other gateway at once: the miss waits for the next read (up to a second), never 401', async () => {
    const s = await shop();
    const p = await createProcessor(gw, s.biz);
    const other = await startTestGateway({ ledger_writer: false });
    try {
      expect((await postCallback(other, p, reversed(transactionId()))).status).toBe(200);
      // A bad signature makes `other` read the processor again: its secrets as they were.
      expectProblem(await postCallback(other, { id: p.id, secret: 'whsec_never' }, reversed(transactionId())), 401, 'signature_invalid');
      const r = await call(gw, 'POST', `/v1/processors/${p.id}/rotate-secret`, s.biz.admin_key);
      expect(r.status, r.text).toBe(201);
      const fresh = { id: p.id, secret: r.body.signing_secret as string };
      const answers = await Promise.all([1, 2, 3].map(() => postCallback(other, fresh, reversed(transactionId()))));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      expectProblem(await postCallback(other, { id: p.id, secret: 'whsec_never' }, reversed(transactionId())), 401, 'signature_invalid');
    } finally {
      await other.close();
    }
  });
});

describe('bodies', () => {
  let s: Shop;
  let p: ProcessorFixture;
  beforeAll(async () => ({ s, p } = await shopWithProcessor()));

  it('over 1 MiB: 400 problem validation_failed, nothing changes', async () => {
    const events = Array.from({ length: 400 }, () => ({ ...sale('transaction.cleared', saleData(s, transactionId(), 100)), pad: 'x'.repeat(2_700) }));
    const text = JSON.stringify({ events });
    expect(text.length).toBeGreaterThan(1024 * 1024);
    const res = await postCallback(gw, p, text);
    expectProblem(res, 400, 'validation_failed');
    expect(await eventRows(p)).toBe(0);
  });

  it('a signed body that is not JSON, or neither an event nor a batch: 400 validation_failed', async () => {
    for (const text of ['not json', '{"id": ', '[]', '42', '"event"', '{"events": {}}', '\u00ff']) {
      expectProblem(await postCallback(gw, p, text), 400, 'validation_failed');
    }
    const invalid_utf8 = Buffer.from([0x7b, 0xff, 0x7d]);
    const t = Math.floor(Date.now() / 1000);
    const res = await gw.app.request(`/v1/callbacks/${p.id}`, { method: 'POST', headers: { 'pocketgate-signature': signatureHeader([p.secret], t, invalid_utf8) }, body: invalid_utf8 });
    expect(res.status).toBe(400);
  });

  it('a batch of at most 500 events; 501 is 400 and nothing changes', async () => {
    const too_many = Array.from({ length: 501 }, () => reversed(transactionId()));
    expectValidation(await postCallback(gw, p, { events: too_many }), 'events');
    expect(await eventRows(p)).toBe(0);
    const most = Array.from({ length: 500 }, () => reversed(transactionId()));
    const res = await postCallback(gw, p, { events: most });
    expect(res.status, res.text.slice(0, 300)).toBe(200);
    expect(res.body.results).toHaveLength(500);
    expect(res.body.results.every((r: { status: string; code: string }) => r.status === 'ignored' && r.code === 'original_not_found')).toBe(true);
    expect((await postCallback(gw, p, { events: [] })).body).toEqual({ results: [] });
  });
});

describe('events', () => {
  let s: Shop;
  let p: ProcessorFixture;
  beforeAll(async () => ({ s, p } = await shopWithProcessor()));

  it('award_on clearing: authorized is ignored (awaiting_clearing), cleared makes the purchase on the processor’s terminal', async () => {
    const txn = transactionId();
    const before = await commerce(s);
    const a = await postCallback(gw, p, sale('transaction.authorized', saleData(s, txn, 2000)));
    expect(a.status, a.text).toBe(200);
    expect(a.body).toEqual({ event_id: expect.any(String), status: 'ignored', code: 'awaiting_clearing' });
    expect(await commerce(s)).toBe(before);
    // An empty list of items is no basket from a processor (a terminal's is 400: it adds up to 0).
    const e = sale('transaction.cleared', saleData(s, txn, 2000, { terminal_code: 'POS 7', items: [] }));
    const c = await postCallback(gw, p, e);
    expect(c.body).toEqual({ event_id: e.id, status: 'processed', transaction_id: expect.stringMatching(/^txn_/) });
    expect(await commerce(s)).toBe(before + 200);
    const t = await transaction(s.biz, c.body.transaction_id);
    expect(t).toMatchObject({ kind: 'purchase', reference: txn, contact_id: s.contact_id, amount: 2000, currency: 'EUR', terminal_code: 'POS 7', made_by: 'processor' });
    expect(t.terminal_id).not.toBe(s.biz.terminal_id);
    const [terminal] = await gw.processor.stores.sql<{ merchant_id: string; venue_id: string }[]>`select merchant_id, venue_id from terminals where id = ${t.terminal_id}`;
    expect(terminal).toEqual({ merchant_id: s.biz.merchant_id, venue_id: s.biz.venue_id });
  });

  it('a terminal_code that reads as a card number is kept masked: the sale is booked, the number nowhere (a PAN probe found it stored and in webhooks)', async () => {
    const { s, p } = await shopWithProcessor();
    const before = await commerce(s);
    const pan = testCard(++seed);
    for (const terminal_code of [pan, pan.replace(/(\d{4})(?=\d)/g, '$1 ')]) {
      const e = sale('transaction.cleared', saleData(s, transactionId(), 1000, { terminal_code }));
      const res = await postCallback(gw, p, e);
      expect(res.body, res.text).toMatchObject({ event_id: e.id, status: 'processed' });
      const t = await transaction(s.biz, res.body.transaction_id);
      expect(t.terminal_code).toBe(`${pan.slice(0, 6)}${'*'.repeat(pan.length - 10)}${pan.slice(-4)}`);
      expect(JSON.stringify(t)).not.toContain(pan);
    }
    expect(await commerce(s)).toBe(before + 200);
  });

  it('award_on authorization: authorized makes the purchase; a cleared of the same amount or more changes nothing', async () => {
    const q = await createProcessor(gw, s.biz, 'authorization');
    const before = await commerce(s);
    for (const [authorized, cleared] of [[3000, 3000], [3000, 3500]] as const) {
      const txn = transactionId();
      const a = await postCallback(gw, q, sale('transaction.authorized', saleData(s, txn, authorized)));
      expect(a.body).toMatchObject({ status: 'processed', transaction_id: expect.stringMatching(/^txn_/) });
      const c = await postCallback(gw, q, sale('transaction.cleared', saleData(s, txn, cleared)));
      expect(c.status, c.text).toBe(200);
      expect(c.body).toMatchObject({ status: 'ignored', code: 'already_processed' });
      expect(c.body.replayed).toBeUndefined();
    }
    // The awards are the authorized amounts': 10% of 3000, twice.
    expect(await commerce(s)).toBe(before + 600);
  });

  it('award_on authorization: a lower clearing amount refunds the difference, reference <transaction_id>/clearing', async () => {
    const q = await createProcessor(gw, s.biz, 'authorization');
    const before = await commerce(s);
    const txn = transactionId();
    const a = await postCallback(gw, q, sale('transaction.authorized', saleData(s, txn, 4000)));
    expect(a.body.status).toBe('processed');
    expect(await commerce(s)).toBe(before + 400);
    const c = await postCallback(gw, q, sale('transaction.cleared', saleData(s, txn, 3000)));
    expect(c.body).toMatchObject({ status: 'processed', transaction_id: expect.stringMatching(/^txn_/) });
    expect(c.body.transaction_id).not.toBe(a.body.transaction_id);
    expect(await commerce(s)).toBe(before + 300);
    const t = await transaction(s.biz, c.body.transaction_id);
    expect(t).toMatchObject({ kind: 'refund', reference: `${txn}/clearing`, amount: 1000, made_by: 'processor' });
  });

  it('award_on authorization: a cleared with no authorization booked makes the purchase', async () => {
    const q = await createProcessor(gw, s.biz, 'authorization');
    const before = await commerce(s);
    const c = await postCallback(gw, q, sale('transaction.cleared', saleData(s, transactionId(), 1500)));
    expect(c.body.status).toBe('processed');
    expect(await commerce(s)).toBe(before + 150);
  });

  it('refunded claws back in proportion; an unknown original or too much is ignored', async () => {
    const txn = transactionId();
    const before = await commerce(s);
    const c = await postCallback(gw, p, sale('transaction.cleared', saleData(s, txn, 5000)));
    expect(c.body.status).toBe('processed');
    const refund = (amount: number, original = txn) => refunded({ transaction_id: transactionId('rfd'), original_transaction_id: original, amount, currency: 'EUR', merchant_code: s.biz.merchant_code });
    const r = await postCallback(gw, p, refund(2000));
    expect(r.body).toMatchObject({ status: 'processed', transaction_id: expect.stringMatching(/^txn_/) });
    expect(await commerce(s)).toBe(before + 300);
    const t = await transaction(s.biz, r.body.transaction_id);
    expect(t).toMatchObject({ kind: 'refund', amount: 2000, made_by: 'processor' });
    expect(t.terminal_code).toBeUndefined();
    expect((await postCallback(gw, p, refund(3001))).body).toMatchObject({ status: 'ignored', code: 'amount_exceeds_original' });
    expect((await postCallback(gw, p, refund(100, 'never-seen'))).body).toMatchObject({ status: 'ignored', code: 'original_not_found' });
    expect(await commerce(s)).toBe(before + 300);
  });

  it('reversed voids the purchase; a purchase whose reversal came first is never booked', async () => {
    const txn = transactionId();
    const before = await commerce(s);
    expect((await postCallback(gw, p, sale('transaction.cleared', saleData(s, txn, 1000)))).body.status).toBe('processed');
    expect(await commerce(s)).toBe(before + 100);
    const r = await postCallback(gw, p, reversed(txn));
    expect(r.body).toMatchObject({ status: 'processed', transaction_id: expect.stringMatching(/^txn_/) });
    expect(await commerce(s)).toBe(before);
    expect(await transaction(s.biz, r.body.transaction_id)).toMatchObject({ kind: 'reversal' });
    // Authorization voided before clearing (award_on clearing): nothing to reverse, and the clearing is refused.
    const late = transactionId();
    expect((await postCallback(gw, p, sale('transaction.authorized', saleData(s, late, 1000)))).body.code).toBe('awaiting_clearing');
    expect((await postCallback(gw, p, reversed(late))).body).toMatchObject({ status: 'ignored', code: 'original_not_found' });
    expect((await postCallback(gw, p, sale('transaction.cleared', saleData(s, late, 1000)))).body).toMatchObject({ status: 'ignored', code: 'already_reversed' });
    expect(await commerce(s)).toBe(before);
  });

  it('ignored: an unknown card or CIM, an unknown merchant, a currency the business does not run', async () => {
    const before = await commerce(s);
    const cases: [Record<string, unknown>, string][] = [
      [saleData(s, transactionId(), 1000, { card: { number: testCard(999_999) } }), 'contact_not_found'],
      [saleData(s, transactionId(), 1000, { card: undefined, cim: { type: 'loyalty_id', value: 'nobody' } }), 'contact_not_found'],
      [saleData(s, transactionId(), 1000, { merchant_code: 'NOPE' }), 'not_found'],
      [saleData(s, transactionId(), 1000, { currency: 'USD' }), 'validation_failed'],
    ];
    for (const [data, code] of cases) {
      const res = await postCallback(gw, p, sale('transaction.cleared', data));
      expect(res.status, res.text).toBe(200);
      expect(res.body, code).toMatchObject({ status: 'ignored', code });
    }
    // An authorization the clearing would book in another currency: the clearing's code, not awaiting_clearing.
    const usd = await postCallback(gw, p, sale('transaction.authorized', saleData(s, transactionId(), 1000, { currency: 'USD' })));
    expect(usd.body).toMatchObject({ status: 'ignored', code: 'validation_failed' });
    expect(await commerce(s)).toBe(before);
  });

  it('unknown wallet and contact codes, however many: ignored contact_not_found, never 429 (a signed processor does not guess)', async () => {
    const events = Array.from({ length: 30 }, (_, i) =>
      sale('transaction.cleared', saleData(s, transactionId(), 1000, { card: undefined, cim: i % 2 === 0 ? { type: 'wallet_code', value: testCard(888_000 + i) } : { type: 'contact_code', value: `ZZZZZZZ${String(i).padStart(3, '0')}` } })),
    );
    const res = await postCallback(gw, p, { events });
    expect(res.status, res.text).toBe(200);
    expect(res.body.results).toHaveLength(30);
    for (const r of res.body.results) expect(r).toMatchObject({ status: 'ignored', code: 'contact_not_found' });
    // And the contact's own wallet code still works afterwards.
    const contact = await call(gw, 'GET', `/v1/contacts/${s.contact_id}`, s.biz.admin_key);
    const ok = await postCallback(gw, p, sale('transaction.cleared', saleData(s, transactionId(), 1000, { card: undefined, cim: { type: 'wallet_code', value: contact.body.wallet_code } })));
    expect(ok.body, ok.text).toMatchObject({ status: 'processed' });
  });

  it('a merchant made just after a callback found it unknown is found by the next one', async () => {
    const code = unique('M').slice(0, 15);
    const before = await postCallback(gw, p, sale('transaction.cleared', saleData(s, transactionId(), 1000, { merchant_code: code })));
    expect(before.body).toMatchObject({ status: 'ignored', code: 'not_found' });
    const m = await call(gw, 'POST', '/v1/merchants', s.biz.admin_key, { name: 'New shop', code, contribution_fee_percent: 0 });
    expect(m.status, m.text).toBe(201);
    const after = await postCallback(gw, p, sale('transaction.cleared', saleData(s, transactionId(), 1000, { merchant_code: code })));
    expect(after.body, after.text).toMatchObject({ status: 'processed' });
  });

  it('a processor sending card tokens: the token enrolled as loyalty_id, sent as cim', async () => {
    const token = unique('tok_');
    const added = await call(gw, 'POST', `/v1/contacts/${s.contact_id}/cims`, s.biz.admin_key, { type: 'loyalty_id', value: token });
    expect(added.status, added.text).toBe(201);
    const before = await commerce(s);
    const res = await postCallback(gw, p, sale('transaction.cleared', saleData(s, transactionId(), 1000, { card: undefined, cim: { type: 'loyalty_id', value: token } })));
    expect(res.body.status).toBe('processed');
    expect(await commerce(s)).toBe(before + 100);
  });

  it('rejected: malformed events (validation_failed), nothing booked', async () => {
    const before = await commerce(s);
    const bad: Record<string, unknown>[] = [
      { type: 'transaction.cleared', data: saleData(s, transactionId(), 1000) }, // no id
      sale('transaction.cleared', saleData(s, transactionId(), 1000, { card: { number: '4111111111111112' } })), // fails Luhn
      sale('transaction.cleared', saleData(s, transactionId(), 1000, { cim: { type: 'email', value: 'a@b.co' } })), // card and cim
      sale('transaction.cleared', saleData(s, transactionId(), 0)),
      sale('transaction.cleared', saleData(s, transactionId(), 10.5)),
      sale('transaction.cleared', saleData(s, 'x'.repeat(65), 1000)),
      sale('transaction.cleared', saleData(s, transactionId(), 1000, { items: [{ sku: 'a', amount: 10 }] })), // items do not add up
      { id: eventId(), type: 'transaction.disputed', data: {} },
      { id: eventId(), type: 'transaction.reversed' },
      refunded({ transaction_id: transactionId() }),
    ];
    for (const e of bad) {
      const res = await postCallback(gw, p, e);
      expect(res.status, res.text).toBe(200);
      expect(res.body, JSON.stringify(e).slice(0, 200)).toMatchObject({ status: 'rejected', code: 'validation_failed' });
    }
    expect(await commerce(s)).toBe(before);
  });

  it('occurred_at up to 35 days back and 5 minutes ahead, else rejected', async () => {
    const before = await commerce(s);
    const now = Date.now();
    const at = (ms: number) => new Date(ms).toISOString();
    const ok = await postCallback(gw, p, sale('transaction.cleared', saleData(s, transactionId(), 1000, { occurred_at: at(now - 34 * 86_400_000) })));
    expect(ok.body.status, ok.text).toBe('processed');
    for (const ms of [now - 36 * 86_400_000, now + 6 * 60_000]) {
      const res = await postCallback(gw, p, sale('transaction.cleared', saleData(s, transactionId(), 1000, { occurred_at: at(ms) })));
      expect(res.body).toMatchObject({ status: 'rejected', code: 'validation_failed' });
      // An authorization the clearing will book is malformed alike: not acknowledged awaiting_clearing (a black-box probe).
      const authorized = await postCallback(gw, p, sale('transaction.authorized', saleData(s, transactionId(), 1000, { occurred_at: at(ms) })));
      expect(authorized.body).toMatchObject({ status: 'rejected', code: 'validation_failed' });
    }
    const in_window = await postCallback(gw, p, sale('transaction.authorized', saleData(s, transactionId(), 1000, { occurred_at: at(now - 34 * 86_400_000) })));
    expect(in_window.body).toMatchObject({ status: 'ignored', code: 'awaiting_clearing' });
    expect(await commerce(s)).toBe(before + 100);
  });

  it('a batch mixing valid, malformed and unknown-card events: one result each, in order; sent again, all replayed', async () => {
    const before = await commerce(s);
    const events = [
      sale('transaction.cleared', saleData(s, transactionId(), 1000)),
      sale('transaction.cleared', saleData(s, transactionId(), -5)),
      sale('transaction.cleared', saleData(s, transactionId(), 1000, { card: { number: testCard(888_888) } })),
      sale('transaction.cleared', saleData(s, transactionId(), 2000)),
    ];
    const res = await postCallback(gw, p, { events });
    expect(res.status, res.text).toBe(200);
    expect(res.body.results.map((r: { event_id: string; status: string }) => [r.event_id, r.status])).toEqual([
      [events[0]!.id, 'processed'],
      [events[1]!.id, 'rejected'],
      [events[2]!.id, 'ignored'],
      [events[3]!.id, 'processed'],
    ]);
    expect(res.body.results[2].code).toBe('contact_not_found');
    expect(await commerce(s)).toBe(before + 300);
    const again = await postCallback(gw, p, { events });
    expect(again.body.results).toEqual(res.body.results.map((r: object) => ({ ...r, replayed: true })));
    expect(await commerce(s)).toBe(before + 300);
  });

  it('a batch applies the events of one transaction in order, whatever else it holds', async () => {
    const q = await createProcessor(gw, s.biz, 'authorization');
    const before = await commerce(s);
    const txn = transactionId();
    const others = () => Array.from({ length: 20 }, () => reversed(transactionId()));
    const events = [
      ...others(),
      sale('transaction.authorized', saleData(s, txn, 5000)),
      ...others(),
      sale('transaction.cleared', saleData(s, txn, 4000)),
      ...others(),
      refunded({ transaction_id: transactionId('rfd'), original_transaction_id: txn, amount: 4000, currency: 'EUR', merchant_code: s.biz.merchant_code }),
      ...others(),
    ];
    const res = await postCallback(gw, q, { events });
    expect(res.status, res.text.slice(0, 300)).toBe(200);
    expect(res.body.results.map((r: { event_id: string }) => r.event_id)).toEqual(events.map((e) => e.id));
    const mine = res.body.results.filter((r: { status: string }) => r.status === 'processed');
    expect(mine).toHaveLength(3);
    expect(await commerce(s)).toBe(before);
  });

  it('the same event id gets the first result again, replayed; so does the same transaction id and type under a new id', async () => {
    const before = await commerce(s);
    const e = sale('transaction.cleared', saleData(s, transactionId(), 1000));
    const first = await postCallback(gw, p, e);
    expect(first.body.replayed).toBeUndefined();
    const again = await postCallback(gw, p, e);
    expect(again.body).toEqual({ ...first.body, replayed: true });
    const renamed = await postCallback(gw, p, { ...e, id: eventId() });
    expect(renamed.body).toMatchObject({ status: 'processed', transaction_id: first.body.transaction_id, replayed: true });
    expect(await commerce(s)).toBe(before + 100);
  });

  it('the same event 50 times at once: one transaction', async () => {
    const before = await commerce(s);
    const txn = transactionId();
    const e = sale('transaction.cleared', saleData(s, txn, 1000));
    const replies = await Promise.all(Array.from({ length: 50 }, () => postCallback(gw, p, e)));
    expect(replies.every((r) => r.status === 200 && r.body.status === 'processed')).toBe(true);
    expect(new Set(replies.map((r) => r.body.transaction_id)).size).toBe(1);
    expect(replies.filter((r) => r.body.replayed !== true)).toHaveLength(1);
    expect(await commerce(s)).toBe(before + 100);
    const sql = gw.processor.stores.sql;
    await eventually('the purchase in the ledger', async () => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where business_id = ${s.biz.business_id} and reference = ${txn}`;
      return row!.n === 1;
    });
  });

  it('50 different event ids of one transaction at once: one transaction', async () => {
    const before = await commerce(s);
    const data = saleData(s, transactionId(), 1000);
    const replies = await Promise.all(Array.from({ length: 50 }, () => postCallback(gw, p, sale('transaction.cleared', data))));
    expect(new Set(replies.map((r) => r.body.transaction_id)).size).toBe(1);
    expect(await commerce(s)).toBe(before + 100);
  });
});

describe('terminals', () => {
  it('each processor books on a terminal of its own at the merchant, made once, in its first venue', async () => {
    const s = await shop();
    const p = await createProcessor(gw, s.biz);
    const q = await createProcessor(gw, s.biz);
    const terminals = await countRows(gw, 'terminals', s.biz.business_id);
    const ids = new Set<string>();
    for (const proc of [p, q, p, q]) {
      const res = await postCallback(gw, proc, sale('transaction.cleared', saleData(s, transactionId(), 1000)));
      ids.add((await transaction(s.biz, res.body.transaction_id)).terminal_id);
    }
    expect(ids.size).toBe(2);
    expect(await countRows(gw, 'terminals', s.biz.business_id)).toBe(terminals + 2);
  });

  it('a processor’s own terminal takes no key and no call on its behalf: its references are the processor’s (a black-box probe made a POS key for one)', async () => {
    const s = await shop();
    const p = await createProcessor(gw, s.biz);
    const tx = transactionId();
    const booked = await postCallback(gw, p, sale('transaction.cleared', saleData(s, tx, 1000)));
    expect(booked.body.status, booked.text).toBe('processed');
    const terminal_id = (await transaction(s.biz, booked.body.transaction_id)).terminal_id;
    expectValidation(await call(gw, 'POST', `/v1/terminals/${terminal_id}/rotate-key`, s.biz.admin_key), 'id');
    const later = transactionId();
    const pos = await call(gw, 'POST', '/v1/purchases', s.biz.admin_key, { reference: later, cim: { type: 'card', value: s.card }, amount: 1000, currency: 'EUR' }, { 'pocketgate-terminal': terminal_id });
    expectValidation(pos, 'Pocketgate-Terminal');
    // Nothing held the processor's next transaction id: its event books it.
    const next = await postCallback(gw, p, sale('transaction.cleared', saleData(s, later, 1000)));
    expect(next.body.status, next.text).toBe('processed');
    // The business's own terminals still rotate.
    expect((await call(gw, 'POST', `/v1/terminals/${s.biz.terminal_id}/rotate-key`, s.biz.admin_key)).status).toBe(201);
  });

  it('what a processor books reads made_by "processor", its reversal too; the check admits nothing else', async () => {
    const s = await shop();
    const p = await createProcessor(gw, s.biz);
    const tx = transactionId();
    const booked = await postCallback(gw, p, sale('transaction.cleared', saleData(s, tx, 1000)));
    expect(booked.body.status, booked.text).toBe('processed');
    const voided = await postCallback(gw, p, reversed(tx));
    expect(voided.body.status, voided.text).toBe('processed');
    const ids = [booked.body.transaction_id as string, voided.body.transaction_id as string];
    for (const id of ids) expect((await transaction(s.biz, id)).made_by).toBe('processor');
    // A terminal's own purchase at the same merchant is the terminal's.
    const own = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, { reference: transactionId(), cim: { type: 'card', value: s.card }, amount: 1000, currency: 'EUR' });
    expect(own.status, own.text).toBe(201);
    const { sql } = gw.processor.stores;
    const recorded: string[] = [...ids, own.body.id];
    await eventually('recorded', async () => (await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where id in ${sql(recorded)}`)[0]!.n === 3);
    for (const id of ids) expect((await transaction(s.biz, id)).made_by).toBe('processor');
    expect((await transaction(s.biz, own.body.id)).made_by).toBe('terminal');
    await expect(sql`update ledger_transactions set made_by = 'someone' where id = ${own.body.id}`).rejects.toThrow(/made_by_check/);
  });

  it('a merchant without a venue gets one made for it, once, under concurrency', async () => {
    const s = await shop();
    const code = unique('NV').slice(0, 15);
    const m = await call(gw, 'POST', '/v1/merchants', s.biz.admin_key, { name: 'Venue-less', code });
    expect(m.status, m.text).toBe(201);
    const p = await createProcessor(gw, s.biz);
    const venues = await countRows(gw, 'venues', s.biz.business_id);
    const replies = await Promise.all(Array.from({ length: 10 }, () => postCallback(gw, p, sale('transaction.cleared', saleData(s, transactionId(), 1000, { merchant_code: code })))));
    expect(replies.every((r) => r.body.status === 'processed')).toBe(true);
    expect(await countRows(gw, 'venues', s.biz.business_id)).toBe(venues + 1);
    const [venue] = await gw.processor.stores.sql<{ merchant_id: string }[]>`select merchant_id from venues where business_id = ${s.biz.business_id} order by created_at desc limit 1`;
    expect(venue!.merchant_id).toBe(m.body.id);
  });
});

describe('metrics and docs', () => {
  it('/metrics counts callback events by status', async () => {
    const s = await shop();
    const p = await createProcessor(gw, s.biz);
    await postCallback(gw, p, { events: [sale('transaction.cleared', saleData(s, transactionId(), 1000)), reversed(transactionId()), { id: eventId() }] });
    const m = await call(gw, 'GET', '/metrics', undefined);
    for (const status of ['processed', 'ignored', 'rejected']) {
      expect(m.text).toMatch(new RegExp(`pocketgate_callback_events_total\\{status="${status}",replayed="false"\\} [1-9]`));
    }
  });

  it('the OpenAPI document lists the processor and callback routes', async () => {
    const doc = await call(gw, 'GET', '/openapi.json', undefined);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/processors', '/v1/processors/{id}/rotate-secret', '/v1/callbacks/{processor_id}']));
  });
});
