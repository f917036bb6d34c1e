// Processor callbacks end to end (spec/EVENTS.md, "Callbacks in"): sequences of one processor
// transaction's events, out of order, under new and reused event ids, against the same sale's
// HTTP semantics (callbacks review 2).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { shop as shopOf, walletOf, type Shop } from './contract-util.ts';
import { createProcessor, eventId, postCallback, refunded, reversed, sale, transactionId, type ProcessorFixture } from './callback-helpers.ts';

let gw: TestGateway;
let seed = 640_000;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.close();
});

async function shopWithProcessor(award_on?: 'clearing' | 'authorization'): Promise<{ s: Shop; p: ProcessorFixture }> {
  const s = await shopOf(gw, testCard(++seed), [{ name: '10% back', goal: 'spend', award: { percent: 10 } }]);
  return { s, p: await createProcessor(gw, s.biz, award_on) };
}

function saleData(s: Shop, transaction_id: string, amount: number) {
  return { transaction_id, card: { number: s.card }, amount, currency: 'EUR', merchant_code: s.biz.merchant_code };
}

async function commerce(s: Shop): Promise<number> {
  return (await walletOf(gw, s.biz.admin_key, s.contact_id)).commerce;
}

describe('event ids', () => {
  it('the same event id twice in a batch, for two transactions: the second is the first result replayed and changes nothing', async () => {
    const { s, p } = await shopWithProcessor();
    const id = eventId();
    const res = await postCallback(gw, p, { events: [sale('transaction.cleared', saleData(s, transactionId(), 1000), id), sale('transaction.cleared', saleData(s, transactionId(), 2000), id)] });
    expect(res.status, res.text).toBe(200);
    const [first, second] = res.body.results;
    expect(first).toMatchObject({ event_id: id, status: 'processed' });
    expect(second).toEqual({ ...first, replayed: true });
    expect(await commerce(s)).toBe(100);
    const t = await postCallback(gw, p, sale('transaction.cleared', saleData(s, transactionId(), 3000), id));
    expect(t.body).toEqual({ ...first, replayed: true });
    expect(await commerce(s)).toBe(100);
  });

  it('the same event id in requests at once, for different transactions: one transaction, the others replay it', async () => {
    const { s, p } = await shopWithProcessor();
    const id = eventId();
    const answers = await Promise.all([1000, 2000, 3000, 4000].map((amount) => postCallback(gw, p, sale('transaction.cleared', saleData(s, transactionId(), amount), id))));
    const first = answers.find((a) => a.body.replayed === undefined)!.body;
    expect(answers.filter((a) => a.body.replayed === true)).toHaveLength(3);
    for (const a of answers) expect(a.body.transaction_id).toBe(first.transaction_id);
    const view = await gw.app.request(`/v1/transactions/${first.transaction_id}`, { headers: { authorization: `Bearer ${s.biz.admin_key}` } });
    const amount = ((await view.json()) as { amount: number }).amount;
    expect(await commerce(s)).toBe(amount / 10);
  });

  it('a malformed event and a valid one under the same id in one batch: the valid one changes nothing', async () => {
    const { s, p } = await shopWithProcessor();
    const id = eventId();
    const res = await postCallback(gw, p, { events: [{ id, type: 'transaction.cleared', data: { amount: 'x' } }, sale('transaction.cleared', saleData(s, transactionId(), 1000), id)] });
    const [first, second] = res.body.results;
    expect(first).toMatchObject({ event_id: id, status: 'rejected', code: 'validation_failed' });
    expect(second).toEqual({ ...first, replayed: true });
    expect(await commerce(s)).toBe(0);
  });
});

describe('rejected events', () => {
  it('rejected when booked (occurred_at out of the window, items not adding up): its id replays the rejection; the corrected event under a new id is applied', async () => {
    const days_36_ms = 36 * 86_400_000;
    for (const [award_on, type, fault] of [
      ['clearing', 'transaction.cleared', { occurred_at: new Date(Date.now() - days_36_ms).toISOString() }],
      ['authorization', 'transaction.authorized', { items: [{ sku: 'a', quantity: 1, amount: 999 }] }],
    ] as const) {
      const { s, p } = await shopWithProcessor(award_on);
      const txn = transactionId();
      const bad = sale(type, { ...saleData(s, txn, 1000), ...fault });
      const first = await postCallback(gw, p, bad);
      expect(first.body, award_on).toMatchObject({ status: 'rejected', code: 'validation_failed' });
      expect((await postCallback(gw, p, bad)).body).toEqual({ ...first.body, replayed: true });
      const corrected = await postCallback(gw, p, sale(type, saleData(s, txn, 1000)));
      expect(corrected.body, award_on).toMatchObject({ status: 'processed', transaction_id: expect.stringMatching(/^txn_/) });
      expect(corrected.body.replayed).toBeUndefined();
      expect(await commerce(s)).toBe(100);
    }
  });
});

describe('strings no store can hold', () => {
  it('U+0000 or an unpaired surrogate in an event (valid JSON) rejects that event, not the request: the batch’s others are applied', async () => {
    const { s, p } = await shopWithProcessor();
    const nul_id = sale('transaction.cleared', saleData(s, transactionId(), 1000), 'id-\u0000');
    const events = [
      sale('transaction.cleared', saleData(s, transactionId(), 1000)),
      sale('transaction.cleared', saleData(s, `t-\u0000-${transactionId()}`, 1000)),
      sale('transaction.cleared', { ...saleData(s, transactionId(), 1000), terminal_code: 'T\ud800' }),
      nul_id,
      sale('transaction.cleared', saleData(s, transactionId(), 2000)),
    ];
    const res = await postCallback(gw, p, { events });
    expect(res.status, res.text).toBe(200);
    expect(res.body.results.map((r: { event_id: string | null; status: string; code?: string }) => [r.event_id, r.status, r.code])).toEqual([
      [events[0]!.id, 'processed', undefined],
      [events[1]!.id, 'rejected', 'validation_failed'],
      [events[2]!.id, 'rejected', 'validation_failed'],
      [null, 'rejected', 'validation_failed'],
      [events[4]!.id, 'processed', undefined],
    ]);
    expect(res.body.results[1].message).toMatch(/^data\.transaction_id: /);
    expect(await commerce(s)).toBe(300);
    const one = await postCallback(gw, p, events[1]);
    expect([one.status, one.body.status], one.text).toEqual([200, 'rejected']);
  });
});

describe('refunds', () => {
  it('a refund under the transaction_id of its original (idempotency is by transaction_id and type) is booked', async () => {
    for (const award_on of ['clearing', 'authorization'] as const) {
      const { s, p } = await shopWithProcessor(award_on);
      const txn = transactionId();
      const type = award_on === 'clearing' ? 'transaction.cleared' : 'transaction.authorized';
      expect((await postCallback(gw, p, sale(type, saleData(s, txn, 1000)))).body.status).toBe('processed');
      const r = await postCallback(gw, p, refunded({ transaction_id: txn, original_transaction_id: txn, amount: 400, currency: 'EUR', merchant_code: s.biz.merchant_code }));
      expect(r.body, award_on).toMatchObject({ status: 'processed', transaction_id: expect.stringMatching(/^txn_/) });
      expect(await commerce(s)).toBe(60);
      const again = await postCallback(gw, p, refunded({ transaction_id: txn, original_transaction_id: txn, amount: 400, currency: 'EUR', merchant_code: s.biz.merchant_code }));
      expect(again.body).toMatchObject({ status: 'processed', transaction_id: r.body.transaction_id, replayed: true });
      expect(await commerce(s)).toBe(60);
    }
  });
});

describe('out of order', () => {
  it('award_on authorization: an authorization after the clearing that made the purchase is ignored (already_processed), whatever its amount', async () => {
    const { s, p } = await shopWithProcessor('authorization');
    for (const authorized of [1000, 1200, 800]) {
      const txn = transactionId();
      const c = await postCallback(gw, p, sale('transaction.cleared', saleData(s, txn, 1000)));
      expect(c.body.status).toBe('processed');
      const a = await postCallback(gw, p, sale('transaction.authorized', saleData(s, txn, authorized)));
      expect(a.body, String(authorized)).toEqual({ event_id: expect.any(String), status: 'ignored', code: 'already_processed' });
    }
    expect(await commerce(s)).toBe(300);
  });

  it('award_on authorization: a clearing after the authorization was reversed is ignored (already_reversed), whatever its amount, and books nothing', async () => {
    const { s, p } = await shopWithProcessor('authorization');
    for (const cleared of [1000, 1200, 800]) {
      const txn = transactionId();
      expect((await postCallback(gw, p, sale('transaction.authorized', saleData(s, txn, 1000)))).body.status).toBe('processed');
      expect((await postCallback(gw, p, reversed(txn))).body.status).toBe('processed');
      const c = await postCallback(gw, p, sale('transaction.cleared', saleData(s, txn, cleared)));
      expect(c.body, String(cleared)).toEqual({ event_id: expect.any(String), status: 'ignored', code: 'already_reversed' });
    }
    expect(await commerce(s)).toBe(0);
  });
});

describe('an event whose purchase was booked and whose answer a kill lost (stored after the purchase, in PostgreSQL)', () => {
  /** What a gateway killed between the purchase and the answer's save leaves: the purchase, no answer. */
  async function answerLost(p: ProcessorFixture, event_id: string): Promise<void> {
    const gone = await gw.processor.stores.sql`delete from callback_events where processor_id = ${p.id} and event_id = ${event_id} returning 1`;
    expect(gone).toHaveLength(1);
  }

  it('award_on authorization: a lower clearing refunds the difference of the authorization’s purchase; the authorization again replays it', async () => {
    const { s, p } = await shopWithProcessor('authorization');
    const txn = transactionId();
    const auth = sale('transaction.authorized', saleData(s, txn, 5000));
    const first = await postCallback(gw, p, auth);
    expect(first.body.status).toBe('processed');
    await answerLost(p, auth.id);
    const c = await postCallback(gw, p, sale('transaction.cleared', saleData(s, txn, 4000)));
    expect(c.body).toMatchObject({ status: 'processed' });
    expect(await commerce(s)).toBe(400);
    const again = await postCallback(gw, p, auth);
    expect(again.body).toMatchObject({ status: 'processed', transaction_id: first.body.transaction_id });
    expect(await commerce(s)).toBe(400);
  });

  it('award_on authorization: a clearing naming a merchant the business does not have is ignored not_found, and refunds nothing', async () => {
    const { s, p } = await shopWithProcessor('authorization');
    const txn = transactionId();
    expect((await postCallback(gw, p, sale('transaction.authorized', saleData(s, txn, 5000)))).body.status).toBe('processed');
    expect(await commerce(s)).toBe(500);
    const c = await postCallback(gw, p, sale('transaction.cleared', { ...saleData(s, txn, 4000), merchant_code: 'NO-SUCH-MERCH' }));
    expect(c.body).toMatchObject({ status: 'ignored', code: 'not_found' });
    expect(await commerce(s)).toBe(500);
  });

  it('award_on authorization: a reversal voids the authorization’s purchase', async () => {
    const { s, p } = await shopWithProcessor('authorization');
    const txn = transactionId();
    const auth = sale('transaction.authorized', saleData(s, txn, 5000));
    expect((await postCallback(gw, p, auth)).body.status).toBe('processed');
    await answerLost(p, auth.id);
    expect((await postCallback(gw, p, reversed(txn))).body).toMatchObject({ status: 'processed' });
    expect(await commerce(s)).toBe(0);
    expect((await postCallback(gw, p, auth)).body).toEqual({ event_id: auth.id, status: 'ignored', code: 'already_reversed' });
    expect(await commerce(s)).toBe(0);
  });

  it('award_on authorization: an authorization after the clearing that made the purchase is already_processed', async () => {
    const { s, p } = await shopWithProcessor('authorization');
    const txn = transactionId();
    const clearing = sale('transaction.cleared', saleData(s, txn, 1000));
    expect((await postCallback(gw, p, clearing)).body.status).toBe('processed');
    await answerLost(p, clearing.id);
    const a = await postCallback(gw, p, sale('transaction.authorized', saleData(s, txn, 1200)));
    expect(a.body).toEqual({ event_id: expect.any(String), status: 'ignored', code: 'already_processed' });
    expect(await commerce(s)).toBe(100);
  });
});

describe('transaction ids that name two transactions (black-box audit of EVENTS.md, 2026-12-04)', () => {
  const refundOf = (s: Shop, transaction_id: string, original_transaction_id: string, amount: number) =>
    refunded({ transaction_id, original_transaction_id, amount, currency: 'EUR', merchant_code: s.biz.merchant_code });

  it('a sale and a refund under one id (a processor numbering them apart), in either order: both booked', async () => {
    const { s, p } = await shopWithProcessor();
    const [x, z, r1] = [transactionId(), transactionId(), transactionId('refund')];
    for (const txn of [x, z]) expect((await postCallback(gw, p, sale('transaction.cleared', saleData(s, txn, 5000)))).body.status).toBe('processed');
    expect(await commerce(s)).toBe(1000);
    // The sale's id first, then a refund of another sale under it.
    expect((await postCallback(gw, p, refundOf(s, z, x, 1000))).body).toMatchObject({ status: 'processed' });
    expect(await commerce(s)).toBe(900);
    // A refund first, then a sale under its id.
    expect((await postCallback(gw, p, refundOf(s, r1, x, 1000))).body).toMatchObject({ status: 'processed' });
    expect((await postCallback(gw, p, sale('transaction.cleared', saleData(s, r1, 3000)))).body).toMatchObject({ status: 'processed' });
    expect(await commerce(s)).toBe(1100);
    const refund = await postCallback(gw, p, refundOf(s, r1, x, 1000));
    expect(refund.body).toMatchObject({ status: 'processed', replayed: true });
    const view = await gw.app.request(`/v1/transactions/${refund.body.transaction_id}`, { headers: { authorization: `Bearer ${s.biz.admin_key}` } });
    expect(((await view.json()) as { reference: string }).reference).toBe(`${r1}/refund`);
  });

  it('a sale and a refund of another sale under one id in one batch, 20 times: both processed, never a 503 (a review, 2026-12-04)', async () => {
    const { s, p } = await shopWithProcessor();
    const x = transactionId();
    expect((await postCallback(gw, p, sale('transaction.cleared', saleData(s, x, 100_000)))).body.status).toBe('processed');
    for (let round = 0; round < 20; round++) {
      const id = transactionId('both');
      const res = await postCallback(gw, p, { events: [sale('transaction.cleared', saleData(s, id, 1000)), refundOf(s, id, x, 100)] });
      expect(res.status, res.text).toBe(200);
      expect(res.body.results.map((r: { status: string }) => r.status), String(round)).toEqual(['processed', 'processed']);
    }
    expect(await commerce(s)).toBe(10_000 + 20 * 100 - 20 * 10);
  });

  it('a sale under a reference a reversal took (<id>/reversal) is rejected at once, never a 5xx, and in a batch the others are booked', async () => {
    const { s, p } = await shopWithProcessor();
    const q = transactionId();
    expect((await postCallback(gw, p, sale('transaction.cleared', saleData(s, q, 10_000)))).body.status).toBe('processed');
    expect((await postCallback(gw, p, reversed(q))).body.status).toBe('processed');
    const events = [sale('transaction.cleared', saleData(s, transactionId(), 1000)), sale('transaction.cleared', saleData(s, `${q}/reversal`, 3000)), sale('transaction.cleared', saleData(s, transactionId(), 2000))];
    const res = await postCallback(gw, p, { events });
    expect(res.status, res.text).toBe(200);
    expect(res.body.results.map((r: { status: string; code?: string }) => [r.status, r.code])).toEqual([
      ['processed', undefined],
      ['rejected', 'validation_failed'],
      ['processed', undefined],
    ]);
    expect(res.body.results[1].message).toMatch(/^data\.transaction_id: /);
    expect(await commerce(s)).toBe(300);
    const again = await postCallback(gw, p, events[1]);
    expect([again.status, again.body.status], again.text).toEqual([200, 'rejected']);
  });

  it('a refund booked under its bare id (as until 2026-12-04) whose answer a kill lost: sent again, it replays, nothing clawed twice', async () => {
    const { s, p } = await shopWithProcessor();
    const [x, y] = [transactionId(), transactionId('refund')];
    expect((await postCallback(gw, p, sale('transaction.cleared', saleData(s, x, 5000)))).body.status).toBe('processed');
    const business = (await gw.processor.network.business(s.biz.business_id))!;
    const terminal = (await gw.processor.processors.terminalAt(business, p.id, s.biz.merchant_code))!;
    const old = await gw.processor.refunds.refund(business, terminal, { reference: y, original_reference: x, amount: 1000 });
    expect(await commerce(s)).toBe(400);
    const r = await postCallback(gw, p, refundOf(s, y, x, 1000));
    expect(r.body).toMatchObject({ status: 'processed', transaction_id: (JSON.parse(old.body) as { id: string }).id });
    expect(await commerce(s)).toBe(400);
  });

  it('a reversal, a lower clearing and a refund named as its sale are booked where a sale of the processor holds the reference they would have (<id>/reversal, /clearing, /refund)', async () => {
    const { s, p } = await shopWithProcessor('authorization');
    const [q, t, o] = [transactionId(), transactionId(), transactionId()];
    for (const txn of [q, `${q}/reversal`, t, `${t}/clearing`, o, `${o}/refund`]) {
      expect((await postCallback(gw, p, sale('transaction.authorized', saleData(s, txn, 1000)))).body.status, txn).toBe('processed');
    }
    expect(await commerce(s)).toBe(600);
    const reversal = await postCallback(gw, p, reversed(q));
    expect(reversal.body).toMatchObject({ status: 'processed', transaction_id: expect.stringMatching(/^txn_/) });
    expect(await commerce(s)).toBe(500);
    const clearing = await postCallback(gw, p, sale('transaction.cleared', saleData(s, t, 700)));
    expect(clearing.body).toMatchObject({ status: 'processed', transaction_id: expect.stringMatching(/^txn_/) });
    expect(await commerce(s)).toBe(470);
    const refund = await postCallback(gw, p, refundOf(s, o, o, 400));
    expect(refund.body).toMatchObject({ status: 'processed', transaction_id: expect.stringMatching(/^txn_/) });
    expect(await commerce(s)).toBe(430);
    // Each again, under a new event id: the first result, nothing more.
    expect((await postCallback(gw, p, reversed(q))).body).toMatchObject({ transaction_id: reversal.body.transaction_id, replayed: true });
    expect((await postCallback(gw, p, refundOf(s, o, o, 400))).body).toMatchObject({ transaction_id: refund.body.transaction_id, replayed: true });
    expect(await commerce(s)).toBe(430);
    const view = await gw.app.request(`/v1/transactions/${reversal.body.transaction_id}`, { headers: { authorization: `Bearer ${s.biz.admin_key}` } });
    const reference = ((await view.json()) as { reference: string }).reference;
    expect(reference.startsWith(`${q}/reversal/`) && reference.length > 64, reference).toBe(true);
  });
});
