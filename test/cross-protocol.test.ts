// One business, every protocol: the same transaction whichever way it arrives. ISO8583.md: "The
// same transaction that the HTTP API would create is created: the same offers, wallet effects,
// idempotency and ledger entries"; TERMINAL.md: "The same transactions, idempotency (terminal +
// reference, shared with HTTP and ISO 8583), awards and ledger entries as over HTTP"; EVENTS.md:
// "The same transactions, awards and ledger entries as the HTTP API". Checked end to end against
// one listening gateway (HTTP, WebSocket, ISO 8583 over TCP, callbacks) on stores of this file's
// own, with a webhook receiver on loopback.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage, type IsoMessage } from '../adapters/iso8583/codec.ts';
import { decodeAdditionalAmounts } from '../adapters/iso8583/additional-amounts.ts';
import { formatOriginalData } from '../adapters/iso8583/original-data.ts';
import { linkAcquirer, randomAcquirerId } from './acquirer.ts';
import { createCardContact, type CardContact as Contact } from './card-contact.ts';
import { call, closeAll, createBusiness, eventually, openFeed, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { startReceiver, ofType, type Receiver } from './webhook-helpers.ts';
import { TerminalClient } from './ws-client.ts';
import { createProcessor, postCallback, refunded, reversed, sale, transactionId, type ProcessorFixture } from './callback-helpers.ts';

let own: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;
let iso: IsoClient;
let ws: TerminalClient;
let hooks: Receiver;
let processor: ProcessorFixture;
let offers: { cashback: string; discount: string };
let seq = 0;
let stan = 0;
const acquirer = randomAcquirerId();
const transmission = '1124101500';

beforeAll(async () => {
  own = await startOwnStores('xproto');
  gw = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url, webhooks: { retry_base_ms: 60, allow_private: true, worker: true } }, true, true);
  biz = await createBusiness(gw);
  const cashback = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'cashback', goal: 'spend', award: { percent: 5 }, validity_days: 30 });
  const discount = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'discount', goal: 'spend', kind: 'instant_discount', award: { fixed: 100 }, conditions: { min_amount: 5000 } });
  expect([cashback.status, discount.status]).toEqual([201, 201]);
  offers = { cashback: cashback.body.id, discount: discount.body.id };
  await linkAcquirer(gw, biz, acquirer);
  hooks = await startReceiver();
  expect((await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: hooks.url, events: ['*'] })).status).toBe(201);
  processor = await createProcessor(gw, biz);
  iso = await connectIso(gw.iso8583_port);
  ws = await TerminalClient.open(gw.port, biz.terminal_key);
});
afterAll(async () => {
  await closeAll(ws, iso, gw, hooks);
  await own?.stop();
});

// ---------------------------------------------------------------- the three channels

const contact = (): Promise<Contact> => createCardContact(gw, biz, 6_100_000 + ++seq);

/** A POS call over HTTP: status, body and whether it was replayed. */
async function http(path: string, body: unknown): Promise<{ status: number; body: any; replayed: boolean }> {
  const r = await call(gw, 'POST', path, biz.terminal_key, body);
  return { status: r.status, body: r.body, replayed: r.headers.get('idempotent-replayed') === 'true' };
}

/** The same call over the WebSocket terminal channel. */
async function frame(op: string, body: unknown): Promise<{ status: number; body: any; replayed: boolean }> {
  const r = await ws.request(`f${++seq}`, op, body);
  return { status: r.status, body: r.body, replayed: r.replayed === true };
}

const amount = (minor: number) => String(minor).padStart(12, '0');

function isoRequest(mti: string, values: Record<number, string>): IsoMessage {
  return createMessage(mti, {
    7: transmission,
    11: String(++stan).padStart(6, '0'),
    32: acquirer,
    41: biz.terminal_code,
    42: biz.merchant_code.padEnd(15, ' '),
    49: '978',
    ...values,
  });
}

/** DE54 as amount type → signed amount. */
function de54(reply: IsoMessage): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of decodeAdditionalAmounts(reply.fields[54] ?? '')) out[a.amountType] = a.sign === 'D' ? -a.amount : a.amount;
  return out;
}

/** DE90 naming an earlier request of this acquirer. */
function originalOf(m: IsoMessage): string {
  return formatOriginalData({ mti: m.mti, stan: m.fields[11]!, transmissionDateTime: m.fields[7]!, acquirerId: m.fields[32]! });
}

const purchaseBody = (c: Contact, total: number) => ({ reference: `x-${++seq}`, cim: { type: 'card', value: c.card }, amount: total, currency: 'EUR' });

async function wallet(c: Contact): Promise<{ open: number; commerce: number }> {
  const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
  expect(w.status, w.text).toBe(200);
  return { open: w.body.open, commerce: w.body.commerce };
}

async function statementLines(c: Contact): Promise<any[]> {
  const s = await call(gw, 'GET', `/v1/contacts/${c.id}/statement`, biz.admin_key);
  expect(s.status, s.text).toBe(200);
  return s.body.lines;
}

async function transaction(id: string): Promise<any> {
  return eventually(`transaction ${id} recorded`, async () => {
    const t = await call(gw, 'GET', `/v1/transactions/${id}`, biz.admin_key);
    return t.status === 200 && t.body.ledger === 'recorded' ? t.body : undefined;
  });
}

/** The contact's only transaction of a kind, by its statement. */
async function onlyOfKind(c: Contact, kind: string): Promise<string> {
  const lines = (await statementLines(c)).filter((l) => l.kind === kind);
  expect(lines, JSON.stringify(lines)).toHaveLength(1);
  return lines[0].transaction_id;
}

/** What a transaction shows that does not depend on the channel or the moment. */
function channelFree(view: any): any {
  const { id: _id, reference: _r, contact_id: _c, created_at: _ca, recorded_at: _ra, occurred_at: _oa, postings, awards, ...rest } = view;
  return {
    ...rest,
    awards: awards.map(({ expires_at: _e, ...a }: any) => a),
    postings: (postings ?? []).map((p: any) => ({ ...p, debit_account: p.debit_account.replace(view.contact_id, 'C'), credit_account: p.credit_account.replace(view.contact_id, 'C') })),
  };
}

function statementFree(lines: any[]): any[] {
  return lines.map(({ transaction_id: _t, at: _a, ...l }) => l);
}

// ---------------------------------------------------------------- purchases

describe('the same purchase over HTTP, WebSocket, ISO 8583 and a processor callback', () => {
  it('gives the same awards, discount, wallet, statement, transaction view and webhooks', async () => {
    const [a, b, c, d] = [await contact(), await contact(), await contact(), await contact()];
    const total = 6000;

    const quoteHttp = await http('/v1/purchases/quote', purchaseBody(a, total));
    const quoteWs = await frame('purchase.quote', purchaseBody(b, total));
    expect(quoteHttp.status).toBe(200);

    const byHttp = await http('/v1/purchases', purchaseBody(a, total));
    const byWs = await frame('purchase', purchaseBody(b, total));
    expect([byHttp.status, byWs.status]).toEqual([201, 201]);
    const strip = (p: any) => ({ ...p, id: undefined, contact_id: undefined, reference: undefined, created_at: undefined, awards: p.awards.map(({ expires_at: _e, ...x }: any) => x) });
    // expires_at is left out: two requests may straddle a second (known, README).
    expect(strip(quoteWs.body)).toEqual(strip(quoteHttp.body));
    expect(strip(byWs.body)).toEqual(strip(byHttp.body));
    expect(byHttp.body).toMatchObject({ discount: 100, amount_due: 5900, paid_from_wallet: 0, wallet: { open: 0, commerce: 300 } });
    // TERMINAL.md: a quote followed at once by the same purchase gives the same awards, discount and amount due.
    for (const k of ['awards', 'discount', 'amount_due'] as const) expect(strip(quoteHttp.body)[k], k).toEqual(strip(byHttp.body)[k]);

    const byIso = await iso.send(isoRequest('0200', { 2: c.card, 3: '000000', 4: amount(total) }));
    expect(byIso.fields[39]).toBe('00');
    expect(de54(byIso)).toEqual({ '90': 300, '91': 100 });

    const cleared = await postCallback(gw, processor, sale('transaction.cleared', { transaction_id: transactionId(), card: { number: d.card }, amount: total, currency: 'EUR', merchant_code: biz.merchant_code }));
    expect(cleared.status, cleared.text).toBe(200);
    expect(cleared.body.status).toBe('processed');

    for (const x of [a, b, c, d]) expect(await wallet(x)).toEqual({ open: 0, commerce: 300 });

    const ids = { a: byHttp.body.id, b: byWs.body.id, c: await onlyOfKind(c, 'purchase'), d: cleared.body.transaction_id };
    expect(byIso.fields[38]).toBe(ids.c.slice(-6).toUpperCase());
    const views = { a: await transaction(ids.a), b: await transaction(ids.b), c: await transaction(ids.c), d: await transaction(ids.d) };
    expect(channelFree(views.b)).toEqual(channelFree(views.a));
    expect(channelFree(views.c)).toEqual(channelFree(views.a));
    // The callback's is booked on its processor's terminal, and says the processor made it.
    const { terminal_id: _t, made_by, ...callbackView } = channelFree(views.d);
    const { terminal_id: _t2, made_by: made_by_a, ...httpView } = channelFree(views.a);
    expect(callbackView).toEqual(httpView);
    expect([made_by, made_by_a]).toEqual(['processor', 'terminal']);
    for (const [k, v] of Object.entries(views)) expect(v.contact_id, k).toBe({ a, b, c, d }[k as 'a']!.id);

    const lines = { a: await statementLines(a), b: await statementLines(b), c: await statementLines(c), d: await statementLines(d) };
    expect(statementFree(lines.b)).toEqual(statementFree(lines.a));
    expect(statementFree(lines.c)).toEqual(statementFree(lines.a));
    expect(statementFree(lines.d)).toEqual(statementFree(lines.a));

    // EVENTS.md: transaction.approved's data is the transaction as GET /v1/transactions/{id}
    // answers it; award.created one per award, as a purchase reply shows it.
    for (const [k, id] of Object.entries(ids)) {
      const approved = await eventually(`transaction.approved of ${k}`, async () => ofType(hooks.received, 'transaction.approved').find((r) => r.json.data.id === id));
      expect(approved.json.data, k).toEqual(views[k as 'a']);
      const awards = await eventually(`award.created of ${k}`, async () => {
        const found = ofType(hooks.received, 'award.created').filter((r) => r.json.data.transaction_id === id);
        return found.length >= views[k as 'a'].awards.length ? found : undefined;
      });
      expect(awards.map((r) => r.json.data).sort((x, y) => x.offer_id.localeCompare(y.offer_id)), k).toEqual(
        views[k as 'a'].awards.map((w: any) => ({ ...w, contact_id: views[k as 'a'].contact_id, transaction_id: id })).sort((x: any, y: any) => x.offer_id.localeCompare(y.offer_id)),
      );
    }
  });
});

/** The transaction.approved event of a transaction, once sent; its data is the transaction's view. */
async function approvedEvent(id: string): Promise<any> {
  const r = await eventually(`transaction.approved of ${id}`, async () => ofType(hooks.received, 'transaction.approved').find((x) => x.json.data.id === id));
  return r.json.data;
}

/** The ISO reference of a request, as GET /v1/transactions/{id} shows it. */
function isoReferenceOf(m: IsoMessage): string {
  return `iso:${m.fields[32]!.padStart(11, '0')}:${m.fields[11]}:${m.fields[7]}`;
}

/** The contact's transactions of a kind, oldest first, by the statement. */
async function idsOfKind(c: Contact, kind: string): Promise<string[]> {
  return (await statementLines(c)).filter((l) => l.kind === kind).map((l) => l.transaction_id);
}

describe('refunds and reversals, whichever channel made the purchase', () => {
  it('a refund claws back the same over HTTP, WebSocket, ISO 8583 and a callback', async () => {
    const [a, b, c, d] = [await contact(), await contact(), await contact(), await contact()];
    const pa = purchaseBody(a, 6000);
    expect((await http('/v1/purchases', pa)).status).toBe(201);
    const ra = await http('/v1/refunds', { reference: `rf-${++seq}`, original_reference: pa.reference, amount: 2000 });
    const pb = purchaseBody(b, 6000);
    expect((await frame('purchase', pb)).status).toBe(201);
    const rb = await frame('refund', { reference: `rf-${++seq}`, original_reference: pb.reference, amount: 2000 });
    expect([ra.status, rb.status]).toEqual([201, 201]);
    const pc = isoRequest('0200', { 2: c.card, 3: '000000', 4: amount(6000) });
    expect((await iso.send(pc)).fields[39]).toBe('00');
    const rc = await iso.send(isoRequest('0200', { 3: '200000', 4: amount(2000), 90: originalOf(pc) }));
    expect(rc.fields[39]).toBe('00');
    const tid = transactionId();
    expect((await postCallback(gw, processor, sale('transaction.cleared', { transaction_id: tid, card: { number: d.card }, amount: 6000, currency: 'EUR', merchant_code: biz.merchant_code }))).body.status).toBe('processed');
    const rd = await postCallback(gw, processor, refunded({ transaction_id: transactionId(), original_transaction_id: tid, amount: 2000, currency: 'EUR', merchant_code: biz.merchant_code }));
    expect(rd.body.status, rd.text).toBe('processed');

    for (const x of [a, b, c, d]) expect(await wallet(x)).toEqual({ open: 0, commerce: 200 });
    const refunds = { a: ra.body.id, b: rb.body.id, c: (await idsOfKind(c, 'refund'))[0]!, d: rd.body.transaction_id };
    expect(rc.fields[38]).toBe(refunds.c.slice(-6).toUpperCase());
    const views: Record<string, any> = {};
    for (const [k, id] of Object.entries(refunds)) views[k] = await transaction(id);
    // The fee a refund gives back goes through its merchant's carry on the contact's shard (a
    // fraction of a unit there may make one more: core/refund.ts feeGivenBack), and the four
    // contacts are on shards whose carries earlier tests left apart: the same to a unit.
    const fees = (v: any) => v.postings.filter((p: any) => p.credit_account.includes(':fees:')).map((p: any) => p.amount);
    const same = (v: any) => {
      const free = channelFree(v);
      return { ...free, postings: free.postings.filter((p: any) => !p.credit_account.includes(':fees:')), original_id: undefined, terminal_id: undefined, terminal_code: undefined, made_by: undefined };
    };
    expect(views.d.made_by).toBe('processor');
    for (const k of ['b', 'c', 'd']) {
      expect(same(views[k]), k).toEqual(same(views.a));
      const [fee, fee_a] = [fees(views[k]), fees(views.a)];
      expect(fee.length, k).toBe(fee_a.length);
      fee.forEach((amount: number, i: number) => expect(Math.abs(amount - fee_a[i]), k).toBeLessThanOrEqual(1));
    }
    for (const x of [b, c, d]) expect(statementFree(await statementLines(x))).toEqual(statementFree(await statementLines(a)));
    for (const [k, id] of Object.entries(refunds)) expect(await approvedEvent(id), k).toEqual(views[k]);
  });

  it('an HTTP or WebSocket refund or reversal names an ISO 8583 purchase by the reference its transaction shows', async () => {
    const c = await contact();
    const p = isoRequest('0200', { 2: c.card, 3: '000000', 4: amount(6000) });
    expect((await iso.send(p)).fields[39]).toBe('00');
    const purchase = await transaction((await idsOfKind(c, 'purchase'))[0]!);
    expect(purchase.reference).toBe(isoReferenceOf(p));
    const refund = await http('/v1/refunds', { reference: `rf-${++seq}`, original_reference: purchase.reference, amount: 3000 });
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
    expect(refund.body).toMatchObject({ original_id: purchase.id, clawed_back: 150, wallet: { open: 0, commerce: 150 } });
    // The sum of refunds never exceeds the original, whichever channel refunds.
    expect((await iso.send(isoRequest('0200', { 3: '200000', 4: amount(3001), 90: originalOf(p) }))).fields[39]).toBe('13');
    expect((await frame('refund', { reference: `rf-${++seq}`, original_reference: purchase.reference, amount: 3001 })).body.code).toBe('amount_exceeds_original');
    const reversal = await frame('reversal', { reference: `rv-${++seq}`, original_reference: purchase.reference });
    expect(reversal.status).toBe(201);
    expect(await wallet(c)).toEqual({ open: 0, commerce: 0 });
    // Void already: an ISO 8583 reversal is acknowledged (00) and changes nothing; an HTTP one is 409.
    const again = await iso.send(isoRequest('0400', { 2: c.card, 3: '000000', 4: amount(6000), 90: originalOf(p) }));
    expect(again.fields[39]).toBe('00');
    expect((await http('/v1/reversals', { reference: `rv-${++seq}`, original_reference: purchase.reference })).body.code).toBe('already_reversed');
    expect((await iso.send(isoRequest('0200', { 3: '200000', 4: amount(100), 90: originalOf(p) }))).fields[39]).toBe('12');
    expect(await idsOfKind(c, 'reversal')).toEqual([reversal.body.id]);
  });

  // Until 2026-12-07 an HTTP purchase under an acquirer's next key took it, and that message's
  // first transmission was answered 94 (an API audit).
  it('an HTTP or WebSocket transaction may not take a reference ISO 8583 messages are filed under: the acquirer\'s message under that key is still its first', async () => {
    const c = await contact();
    const p = isoRequest('0200', { 2: c.card, 3: '000000', 4: amount(100) });
    const reference = isoReferenceOf(p);
    const over_http = await http('/v1/purchases', { ...purchaseBody(c, 5000), reference });
    expect(over_http.status).toBe(400);
    expect(over_http.body).toMatchObject({ code: 'validation_failed', errors: [{ path: 'reference' }] });
    const over_ws = await frame('redemption', { reference, cim: { type: 'card', value: c.card } });
    expect([over_ws.status, over_ws.body.code, over_ws.body.errors?.[0]?.path]).toEqual([400, 'validation_failed', 'reference']);
    expect((await iso.send(p)).fields[39]).toBe('00');
    expect(await idsOfKind(c, 'purchase')).toHaveLength(1);
  });

  it('a reversal voids the same over HTTP, WebSocket, ISO 8583 and a callback', async () => {
    const [a, b, c, d] = [await contact(), await contact(), await contact(), await contact()];
    const pa = purchaseBody(a, 6000);
    expect((await http('/v1/purchases', pa)).status).toBe(201);
    const va = await http('/v1/reversals', { reference: `rv-${++seq}`, original_reference: pa.reference });
    const pb = purchaseBody(b, 6000);
    expect((await frame('purchase', pb)).status).toBe(201);
    const vb = await frame('reversal', { reference: `rv-${++seq}`, original_reference: pb.reference });
    const pc = isoRequest('0200', { 2: c.card, 3: '000000', 4: amount(6000) });
    expect((await iso.send(pc)).fields[39]).toBe('00');
    const vc = await iso.send(isoRequest('0400', { 2: c.card, 3: '000000', 4: amount(6000), 90: originalOf(pc) }));
    expect([va.status, vb.status, vc.mti, vc.fields[39]]).toEqual([201, 201, '0410', '00']);
    const tid = transactionId();
    expect((await postCallback(gw, processor, sale('transaction.cleared', { transaction_id: tid, card: { number: d.card }, amount: 6000, currency: 'EUR', merchant_code: biz.merchant_code }))).body.status).toBe('processed');
    const vd = await postCallback(gw, processor, reversed(tid));
    expect(vd.body.status, vd.text).toBe('processed');
    for (const x of [a, b, c, d]) expect(await wallet(x)).toEqual({ open: 0, commerce: 0 });
    const ids = { a: va.body.id, b: vb.body.id, c: (await idsOfKind(c, 'reversal'))[0]!, d: vd.body.transaction_id };
    expect(vc.fields[38]).toBe(ids.c.slice(-6).toUpperCase());
    const views: Record<string, any> = {};
    for (const [k, id] of Object.entries(ids)) views[k] = await transaction(id);
    const same = (v: any) => ({ ...channelFree(v), original_id: undefined, terminal_id: undefined, made_by: undefined });
    for (const k of ['b', 'c', 'd']) expect(same(views[k]), k).toEqual(same(views.a));
    expect([views.a.made_by, views.d.made_by]).toEqual(['terminal', 'processor']);
    for (const x of [b, c, d]) expect(statementFree(await statementLines(x))).toEqual(statementFree(await statementLines(a)));
    for (const [k, id] of Object.entries(ids)) expect(await approvedEvent(id), k).toEqual(views[k]);
  });
});

describe('spends, whichever channel', () => {
  /** A contact with `open` in its open balance (a purchase awarding 5%, then a redemption). */
  async function funded(open: number): Promise<Contact> {
    const c = await contact();
    expect((await http('/v1/purchases', purchaseBody(c, open * 20))).status).toBe(201);
    expect((await http('/v1/redemptions', { reference: `rd-${++seq}`, cim: { type: 'card', value: c.card } })).status).toBe(201);
    return c;
  }
  const otpFor = async (c: Contact, limit: number) => (await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: limit })).body.otp as string;

  it('by wallet code and by OTP: the same debit, view, statement and event over HTTP, WebSocket and ISO 8583', async () => {
    const [a, b, c] = [await funded(1000), await funded(1000), await funded(1000)];
    const wa = await http('/v1/spends', { reference: `sp-${++seq}`, amount: 300, currency: 'EUR', wallet_code: a.wallet_code });
    const wb = await frame('spend', { reference: `sp-${++seq}`, amount: 300, currency: 'EUR', wallet_code: b.wallet_code });
    const wc = await iso.send(isoRequest('0200', { 2: c.wallet_code, 3: '000000', 4: amount(300) }));
    expect([wa.status, wb.status, wc.fields[39]]).toEqual([201, 201, '00']);
    expect(de54(wc)).toEqual({}); // a spend awards nothing: DE54's 90/91 are a purchase's
    const oa = await http('/v1/spends', { reference: `sp-${++seq}`, amount: 200, currency: 'EUR', otp: await otpFor(a, 250) });
    const ob = await frame('spend', { reference: `sp-${++seq}`, amount: 200, currency: 'EUR', otp: await otpFor(b, 250) });
    const oc = await iso.send(isoRequest('0200', { 3: '000000', 4: amount(200), 48: `OTP=${await otpFor(c, 250)};` }));
    expect([oa.status, ob.status, oc.fields[39]]).toEqual([201, 201, '00']);
    for (const x of [a, b, c]) expect(await wallet(x)).toEqual({ open: 500, commerce: 0 });
    const spends = await idsOfKind(c, 'spend');
    expect(spends).toHaveLength(2);
    const views = await Promise.all([wa.body.id, wb.body.id, spends[0]!, oa.body.id, ob.body.id, spends[1]!].map(transaction));
    for (const i of [1, 2]) expect(channelFree(views[i])).toEqual(channelFree(views[0]));
    for (const i of [4, 5]) expect(channelFree(views[i])).toEqual(channelFree(views[3]));
    for (const v of views) expect(await approvedEvent(v.id)).toEqual(v);
    for (const x of [b, c]) expect(statementFree(await statementLines(x))).toEqual(statementFree(await statementLines(a)));
    // A wallet-code spend reversed over ISO 8583 gives the money back, as over HTTP.
    const spend = isoRequest('0200', { 2: c.wallet_code, 3: '000000', 4: amount(100) });
    expect((await iso.send(spend)).fields[39]).toBe('00');
    expect((await iso.send(isoRequest('0400', { 2: c.wallet_code, 3: '000000', 4: amount(100), 90: originalOf(spend) }))).fields[39]).toBe('00');
    expect(await wallet(c)).toEqual({ open: 500, commerce: 0 });
  });

  it('a refusal reads as the matching code on each channel (API.md codes, ISO8583.md DE39)', async () => {
    const c = await funded(100);
    const unknown = testCard(9_990_001);
    const cases: { what: string; http: () => Promise<{ status: number; body: any }>; ws: () => Promise<{ status: number; body: any }>; iso: () => Promise<IsoMessage>; status: number; code: string; de39: string }[] = [
      {
        what: 'insufficient funds',
        http: () => http('/v1/spends', { reference: `sp-${++seq}`, amount: 101, currency: 'EUR', wallet_code: c.wallet_code }),
        ws: () => frame('spend', { reference: `sp-${++seq}`, amount: 101, currency: 'EUR', wallet_code: c.wallet_code }),
        iso: () => iso.send(isoRequest('0200', { 2: c.wallet_code, 3: '000000', 4: amount(101) })),
        status: 422, code: 'insufficient_funds', de39: '51',
      },
      {
        what: 'wrong OTP',
        http: () => http('/v1/spends', { reference: `sp-${++seq}`, amount: 1, currency: 'EUR', otp: '000000' }),
        ws: () => frame('spend', { reference: `sp-${++seq}`, amount: 1, currency: 'EUR', otp: '000000' }),
        iso: () => iso.send(isoRequest('0200', { 3: '000000', 4: amount(1), 48: 'OTP=000000;' })),
        status: 422, code: 'otp_invalid', de39: '55',
      },
      {
        what: 'unknown card',
        http: () => http('/v1/purchases', { ...purchaseBody(c, 1000), cim: { type: 'card', value: unknown } }),
        ws: () => frame('purchase', { ...purchaseBody(c, 1000), cim: { type: 'card', value: unknown } }),
        iso: () => iso.send(isoRequest('0200', { 2: unknown, 3: '000000', 4: amount(1000) })),
        status: 404, code: 'contact_not_found', de39: '14',
      },
      {
        what: 'unknown original',
        http: () => http('/v1/refunds', { reference: `rf-${++seq}`, original_reference: `none-${seq}`, amount: 1 }),
        ws: () => frame('refund', { reference: `rf-${++seq}`, original_reference: `none-${seq}`, amount: 1 }),
        iso: () => iso.send(isoRequest('0200', { 3: '200000', 4: amount(1), 90: formatOriginalData({ mti: '0200', stan: '999998', transmissionDateTime: transmission, acquirerId: acquirer }) })),
        status: 404, code: 'original_not_found', de39: '25',
      },
    ];
    for (const k of cases) {
      const [h, w, i] = [await k.http(), await k.ws(), await k.iso()];
      expect([h.status, h.body.code], k.what).toEqual([k.status, k.code]);
      expect({ ...w.body, detail: undefined }, k.what).toEqual({ ...h.body, detail: undefined });
      expect(w.status, k.what).toBe(k.status);
      expect(i.fields[39], k.what).toBe(k.de39);
    }
    // An OTP presented for more than its amount, or after it expired.
    const over = [
      await http('/v1/spends', { reference: `sp-${++seq}`, amount: 15, currency: 'EUR', otp: await otpFor(c, 10) }),
      await frame('spend', { reference: `sp-${++seq}`, amount: 15, currency: 'EUR', otp: await otpFor(c, 10) }),
    ];
    expect(over.map((r) => [r.status, r.body.code])).toEqual([[422, 'otp_invalid'], [422, 'otp_invalid']]);
    expect((await iso.send(isoRequest('0200', { 3: '000000', 4: amount(15), 48: `OTP=${await otpFor(c, 10)};` }))).fields[39]).toBe('55');
    const short = async () => (await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 10, ttl_seconds: 30 })).body.otp as string;
    const stale = [await short(), await short(), await short()];
    const clock = gw.processor.stores.clock;
    const now = clock.now;
    clock.now = () => now() + 31_000;
    try {
      const expired = [
        await http('/v1/spends', { reference: `sp-${++seq}`, amount: 5, currency: 'EUR', otp: stale[0] }),
        await frame('spend', { reference: `sp-${++seq}`, amount: 5, currency: 'EUR', otp: stale[1] }),
      ];
      expect(expired.map((r) => [r.status, r.body.code])).toEqual([[422, 'otp_expired'], [422, 'otp_expired']]);
      expect((await iso.send(isoRequest('0200', { 3: '000000', 4: amount(5), 48: `OTP=${stale[2]};` }))).fields[39]).toBe('55');
    } finally {
      clock.now = now;
    }
    await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: true });
    const blocked = [
      await http('/v1/spends', { reference: `sp-${++seq}`, amount: 1, currency: 'EUR', wallet_code: c.wallet_code }),
      await frame('spend', { reference: `sp-${++seq}`, amount: 1, currency: 'EUR', otp: await otpFor(c, 10) }),
    ];
    expect(blocked.map((r) => [r.status, r.body.code])).toEqual([[422, 'spend_blocked'], [422, 'spend_blocked']]);
    expect((await iso.send(isoRequest('0200', { 2: c.wallet_code, 3: '000000', 4: amount(1) }))).fields[39]).toBe('05');
    expect((await iso.send(isoRequest('0200', { 3: '000000', 4: amount(1), 48: `OTP=${await otpFor(c, 10)};` }))).fields[39]).toBe('05');
    expect(await wallet(c)).toEqual({ open: 100, commerce: 0 });
  });
});

describe('idempotency across channels', () => {
  it('HTTP and WebSocket share the terminal’s references: 60 copies at once make one purchase, another body is 409', async () => {
    const c = await contact();
    const body = purchaseBody(c, 2000);
    const copies = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? http('/v1/purchases', body) : frame('purchase', body))));
    expect(new Set(copies.map((r) => r.status))).toEqual(new Set([201]));
    expect(new Set(copies.map((r) => JSON.stringify(r.body))).size).toBe(1);
    expect(copies.filter((r) => !r.replayed)).toHaveLength(1);
    expect((await frame('purchase', { ...body, amount: 2001 })).body.code).toBe('idempotency_conflict');
    expect((await http('/v1/purchases', { ...body, amount: 2001 })).body.code).toBe('idempotency_conflict');
    expect(await wallet(c)).toEqual({ open: 0, commerce: 100 });
  });

  it('an ISO 8583 retransmission on ten connections at once is one purchase', async () => {
    const c = await contact();
    const links = await Promise.all(Array.from({ length: 10 }, () => connectIso(gw.iso8583_port)));
    try {
      const m = isoRequest('0200', { 2: c.card, 3: '000000', 4: amount(1000) });
      const replies = await Promise.all(links.map((l) => l.send(m)));
      expect(new Set(replies.map((r) => `${r.fields[39]} ${r.fields[38]}`)).size).toBe(1);
      expect(replies[0]!.fields[39]).toBe('00');
      expect(await wallet(c)).toEqual({ open: 0, commerce: 50 });
    } finally {
      await Promise.all(links.map((l) => l.close()));
    }
  });
});

describe('the console’s live feed and latest transactions', () => {
  it('show transactions from every channel', async () => {
    const feed = await openFeed(gw, biz.admin_key);
    try {
      const c = await contact();
      const h = await http('/v1/purchases', purchaseBody(c, 1000));
      const w = await frame('purchase', purchaseBody(c, 1000));
      const m = isoRequest('0200', { 2: c.card, 3: '000000', 4: amount(1000) });
      expect((await iso.send(m)).fields[39]).toBe('00');
      const cb = await postCallback(gw, processor, sale('transaction.cleared', { transaction_id: transactionId(), card: { number: c.card }, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }));
      const ids = [h.body.id, w.body.id, (await idsOfKind(c, 'purchase')).find((id) => ![h.body.id, w.body.id, cb.body.transaction_id].includes(id)), cb.body.transaction_id];
      await feed.until((text) => ids.every((id) => text.includes(id)));
      const latest = await call(gw, 'GET', '/v1/transactions?limit=20', biz.admin_key);
      const listed = latest.body.data.map((t: any) => t.id);
      for (const id of ids) expect(listed).toContain(id);
    } finally {
      await feed.close();
    }
  });
});

describe('balances, whichever channel asks', () => {
  // ISO8583.md: 0110 "DE54 carries open (amount type 01) and commerce (amount type 02) balances";
  // API.md GET /v1/wallets; TERMINAL.md op `wallet` "as GET /v1/wallets".
  it('an 0100’s DE54, GET /v1/wallets, the wallet frame and the contact’s wallet agree, a claw-back debt included', async () => {
    const c = await contact();
    const p = isoRequest('0200', { 2: c.card, 3: '000000', 4: amount(10000) });
    expect((await iso.send(p)).fields[39]).toBe('00');
    expect((await http('/v1/redemptions', { reference: `rd-${++seq}`, cim: { type: 'card', value: c.card } })).status).toBe(201);
    expect((await iso.send(isoRequest('0200', { 2: c.wallet_code, 3: '000000', 4: amount(200) }))).fields[39]).toBe('00');
    const agree = async (expected: { open: number; commerce: number }) => {
      expect(await wallet(c)).toEqual(expected);
      const byCard = await call(gw, 'GET', `/v1/wallets?cim_type=card&cim_value=${c.card}`, biz.terminal_key);
      expect(byCard.body).toEqual({ contact_id: c.id, currency: 'EUR', ...expected });
      expect((await frame('wallet', { cim: { type: 'card', value: c.card } })).body).toEqual(byCard.body);
      for (const de2 of [c.card, c.wallet_code]) {
        const inquiry = await iso.send(isoRequest('0100', { 2: de2, 3: '310000' }));
        expect([inquiry.mti, inquiry.fields[39]]).toEqual(['0110', '00']);
        expect(de54(inquiry)).toEqual({ '01': expected.open, '02': expected.commerce });
      }
    };
    await agree({ open: 300, commerce: 0 });
    // A full refund claws back 500: the 300 in the open balance, the rest a commerce debt (DE54 sign D).
    expect((await iso.send(isoRequest('0200', { 3: '200000', 4: amount(10000), 90: originalOf(p) }))).fields[39]).toBe('00');
    await agree({ open: 0, commerce: -200 });
  });
});
