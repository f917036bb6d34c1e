// The same money asked for at once from several sides: HTTP, the WebSocket channel, ISO 8583 and
// processor callbacks racing each other and the admin API, then exact invariants checked (every
// wallet equal to its ledger, no 5xx, every refusal a code the pages list, caps and budgets held).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage, type IsoMessage } from '../adapters/iso8583/codec.ts';
import { formatOriginalData } from '../adapters/iso8583/original-data.ts';
import { linkAcquirer, randomAcquirerId } from './acquirer.ts';
import { createCardContact, type CardContact } from './card-contact.ts';
import { createProcessor, postCallback, refunded, reversed, sale, transactionId } from './callback-helpers.ts';
import { call, closeAll, createBusiness, eventually, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';
import { TerminalClient } from './ws-client.ts';
import { expectContractualAnswer, expectReconciledWith, expectRecordedWith } from './ledger-checks.ts';

let gw: TestGateway;
let seed = 93_100_000;
let seq = 0;

beforeAll(async () => {
  gw = await startTestGateway({}, true, true);
});
afterAll(async () => {
  await closeAll(gw);
});

interface Reply {
  readonly status: number;
  readonly body: any;
  readonly replayed: boolean;
  readonly via: string;
}


async function http(biz: BusinessFixture, path: string, body: unknown): Promise<Reply> {
  const r = await call(gw, 'POST', path, biz.terminal_key, body);
  return { status: r.status, body: r.body, replayed: r.headers.get('idempotent-replayed') === 'true', via: `http ${path}` };
}

async function frame(ws: TerminalClient, op: string, body: unknown): Promise<Reply> {
  const r = await ws.request(`f${++seq}`, op, body);
  return { status: r.status, body: r.body, replayed: r.replayed === true, via: `ws ${op}` };
}

async function wallet(biz: BusinessFixture, c: { id: string }): Promise<{ open: number; commerce: number }> {
  const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
  expect(w.status, w.text).toBe(200);
  return { open: w.body.open, commerce: w.body.commerce };
}



const contactOf = (biz: BusinessFixture): Promise<CardContact> => createCardContact(gw, biz, ++seed);

async function offer(biz: BusinessFixture, body: Record<string, unknown>): Promise<string> {
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'offer', goal: 'spend', kind: 'cashback', ...body });
  expect(o.status, o.text).toBe(201);
  return o.body.id;
}

/** A contact with `open` minor units in its open balance: an instant_redeem award of that much. */
async function fundedContact(biz: BusinessFixture, open: number): Promise<CardContact> {
  const c = await contactOf(biz);
  const r = await http(biz, '/v1/purchases', { reference: `fund-${++seq}`, cim: { type: 'card', value: c.card }, amount: open * 10, currency: 'EUR' });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  expect(await wallet(biz, c)).toEqual({ open, commerce: 0 });
  return c;
}

const iso_amount = (minor: number) => String(minor).padStart(12, '0');
let stan = 0;
const transmission = '1124101500';

function isoRequest(biz: BusinessFixture, acquirer: string, mti: string, values: Record<number, string>): IsoMessage {
  return createMessage(mti, { 7: transmission, 11: String(++stan).padStart(6, '0'), 32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' '), 49: '978', ...values });
}
const isoReference = (m: IsoMessage) => `iso:${m.fields[32]!.padStart(11, '0')}:${m.fields[11]}:${m.fields[7]}`;
const originalOf = (m: IsoMessage) => formatOriginalData({ mti: m.mti, stan: m.fields[11]!, transmissionDateTime: m.fields[7]!, acquirerId: m.fields[32]! });

const expectContractual = (r: Reply): void => expectContractualAnswer(r.status, r.body, `${r.via} ${r.status} ${JSON.stringify(r.body)}`);
const expectReconciled = (biz: BusinessFixture): Promise<void> => expectReconciledWith(gw, biz);
const expectRecorded = (biz: BusinessFixture, ids: readonly string[]): Promise<void> => expectRecordedWith(gw, biz, ids);

describe('one reference from three channels at once', () => {
  // Since 2026-12-07 a new HTTP or WebSocket transaction may not take a reference ISO 8583
  // messages are filed under (adapters/terminal-ops.ts): the race leaves the key to the acquirer's
  // message, which wins whatever comes first (it raced HTTP and WebSocket bodies before, and
  // was 94 when one of them won).
  it('HTTP, WebSocket and ISO 8583 with one reference at once: one transaction, the ISO 8583 message\'s; HTTP and WebSocket refused, changing nothing', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { award: { percent: 10 } });
    const acquirer = randomAcquirerId();
    await linkAcquirer(gw, biz, acquirer);
    const ws = await TerminalClient.open(gw.port, biz.terminal_key);
    const isos = await Promise.all(Array.from({ length: 5 }, () => connectIso(gw.iso8583_port)));
    try {
      for (let round = 0; round < 5; round++) {
        const c = await contactOf(biz);
        const m = isoRequest(biz, acquirer, '0200', { 2: c.card, 3: '000000', 4: iso_amount(1000) });
        const reference = isoReference(m);
        const body = (amount: number) => ({ reference, cim: { type: 'card', value: c.card }, amount, currency: 'EUR' });
        const [isoReplies, others] = await Promise.all([
          Promise.all(isos.map((l) => l.send(m))),
          Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? http(biz, '/v1/purchases', body(i % 4 === 0 ? 1000 : 2000)) : frame(ws, 'purchase', body(i % 4 === 1 ? 1000 : 2000))))),
        ]);
        for (const r of others) expectContractual(r);
        for (const r of others) expect([r.status, r.body.code], JSON.stringify(r.body)).toEqual([400, 'validation_failed']);
        expect(isoReplies.map((r) => r.fields[39])).toEqual(isoReplies.map(() => '00'));
        // Exactly one transaction was made: the 0200's (10% of 10.00).
        expect((await wallet(biz, c)).commerce).toBe(100);
      }
    } finally {
      await closeAll(ws, ...isos);
    }
    await expectReconciled(biz);
  });
});

describe('a purchase, its refunds and its reversal at once', () => {
  it('six partial refunds past the original and a reversal, raced 10 times: refunds within the original, void exactly once', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { award: { percent: 10 } });
    const ws = await TerminalClient.open(gw.port, biz.terminal_key);
    const approved: string[] = [];
    try {
      for (let round = 0; round < 10; round++) {
        const c = await contactOf(biz);
        const reference = `p-${++seq}`;
        const purchase = { reference, cim: { type: 'card', value: c.card }, amount: 3000, currency: 'EUR' };
        const replies = await Promise.all([
          http(biz, '/v1/purchases', purchase),
          ...Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? http(biz, '/v1/refunds', { reference: `r-${round}-${i}`, original_reference: reference, amount: 700 }) : frame(ws, 'refund', { reference: `r-${round}-${i}`, original_reference: reference, amount: 700 }))),
          round % 2 === 0 ? http(biz, '/v1/reversals', { reference: `v-${round}`, original_reference: reference }) : frame(ws, 'reversal', { reference: `v-${round}`, original_reference: reference }),
        ]);
        for (const r of replies) expectContractual(r);
        for (const r of replies) if (r.status === 201) approved.push(r.body.id);
        const [p, ...rest] = replies;
        const reversal = rest.pop()!;
        const refunds = rest.filter((r) => r.status === 201);
        for (const r of rest.filter((r) => r.status !== 201)) expect(['original_not_found', 'amount_exceeds_original', 'already_reversed'], JSON.stringify(r.body)).toContain(r.body.code);
        expect(refunds.length * 700).toBeLessThanOrEqual(3000);
        const w = await wallet(biz, c);
        if (p!.status === 201 && reversal.status === 201) expect(w).toEqual({ open: 0, commerce: 0 });
        else if (p!.status === 201) expect(w.commerce).toBe(300 - refunds.length * 70);
        else expect(w).toEqual({ open: 0, commerce: 0 });
        if (p!.status !== 201) expect(p!.body.code).toBe('already_reversed');
      }
    } finally {
      await closeAll(ws);
    }
    await expectRecorded(biz, approved);
    await expectReconciled(biz);
  });
});

describe('one wallet, spends and redemptions past its balance', () => {
  it('spends by wallet code, OTP and purchases paying from the wallet, and redemptions, over HTTP and WebSocket: never below zero, exactly what fits', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { award: { percent: 10 }, instant_redeem: true });
    const ws = await TerminalClient.open(gw.port, biz.terminal_key);
    try {
      const c = await fundedContact(biz, 1000);
      const otps = await Promise.all(Array.from({ length: 10 }, async () => (await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 100 })).body.otp as string));
      const replies = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => (i % 2 ? http : (b: BusinessFixture, _p: string, body: unknown) => frame(ws, 'spend', body))(biz, '/v1/spends', { reference: `s-${++seq}`, amount: 100, currency: 'EUR', wallet_code: c.wallet_code })),
        ...otps.map((otp) => http(biz, '/v1/spends', { reference: `o-${++seq}`, amount: 100, currency: 'EUR', otp })),
      ]);
      for (const r of replies) expectContractual(r);
      const spent = replies.filter((r) => r.status === 201).reduce((s, r) => s + r.body.spent, 0);
      for (const r of replies.filter((r) => r.status !== 201)) expect(r.body.code, JSON.stringify(r.body)).toBe('insufficient_funds');
      expect(spent).toBe(1000);
      expect(await wallet(biz, c)).toEqual({ open: 0, commerce: 0 });
    } finally {
      await closeAll(ws);
    }
    await expectReconciled(biz);
  });

  it('one OTP used at once by 10 references over HTTP and WebSocket: spent once', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { award: { percent: 10 }, instant_redeem: true });
    const ws = await TerminalClient.open(gw.port, biz.terminal_key);
    try {
      const c = await fundedContact(biz, 1000);
      const otp = (await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 300 })).body.otp as string;
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? http(biz, '/v1/spends', { reference: `o-${++seq}`, amount: 200, currency: 'EUR', otp }) : frame(ws, 'spend', { reference: `o-${++seq}`, amount: 200, currency: 'EUR', otp }))));
      for (const r of replies) expectContractual(r);
      expect(replies.filter((r) => r.status === 201)).toHaveLength(1);
      for (const r of replies.filter((r) => r.status !== 201)) expect(r.body.code, JSON.stringify(r.body)).toBe('otp_invalid');
      expect(await wallet(biz, c)).toEqual({ open: 800, commerce: 0 });
    } finally {
      await closeAll(ws);
    }
  });

  it('a wallet code rotated while spent: after the rotation answers, the old code spends nothing', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { award: { percent: 10 }, instant_redeem: true });
    const c = await fundedContact(biz, 5000);
    const early = Array.from({ length: 20 }, () => http(biz, '/v1/spends', { reference: `s-${++seq}`, amount: 10, currency: 'EUR', wallet_code: c.wallet_code }));
    const rotated = await call(gw, 'POST', `/v1/contacts/${c.id}/wallet-code`, biz.admin_key);
    expect(rotated.status, rotated.text).toBe(201);
    const late = await Promise.all(Array.from({ length: 5 }, () => http(biz, '/v1/spends', { reference: `s-${++seq}`, amount: 10, currency: 'EUR', wallet_code: c.wallet_code })));
    for (const r of late) expect([r.status, r.body.code]).toEqual([422, 'wallet_code_invalid']);
    const before = await Promise.all(early);
    for (const r of before) expectContractual(r);
    const spent = before.filter((r) => r.status === 201).length * 10;
    const fresh = await http(biz, '/v1/spends', { reference: `s-${++seq}`, amount: 10, currency: 'EUR', wallet_code: rotated.body.wallet_code });
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(201);
    expect(await wallet(biz, c)).toEqual({ open: 5000 - spent - 10, commerce: 0 });
    await expectReconciled(biz);
  });

  it('redemptions racing spends and a purchase paying from the wallet: nothing below zero', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { award: { percent: 10 } });
    const ws = await TerminalClient.open(gw.port, biz.terminal_key);
    try {
      const c = await contactOf(biz);
      expect((await http(biz, '/v1/purchases', { reference: `p-${++seq}`, cim: { type: 'card', value: c.card }, amount: 10000, currency: 'EUR' })).status).toBe(201);
      const replies = await Promise.all([
        ...Array.from({ length: 10 }, () => http(biz, '/v1/redemptions', { reference: `rd-${++seq}`, cim: { type: 'card', value: c.card }, amount: 150 })),
        ...Array.from({ length: 10 }, () => frame(ws, 'redemption', { reference: `rd-${++seq}`, cim: { type: 'card', value: c.card } })),
        ...Array.from({ length: 10 }, () => http(biz, '/v1/spends', { reference: `s-${++seq}`, amount: 100, currency: 'EUR', wallet_code: c.wallet_code })),
        ...Array.from({ length: 5 }, () => http(biz, '/v1/purchases', { reference: `pp-${++seq}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', pay: { amount: 100, wallet_code: c.wallet_code } })),
      ]);
      for (const r of replies) expectContractual(r);
      for (const r of replies.filter((r) => r.status !== 201)) expect(['insufficient_funds'], JSON.stringify(r.body)).toContain(r.body.code);
      const w = await wallet(biz, c);
      expect(w.open).toBeGreaterThanOrEqual(0);
      expect(w.commerce).toBeGreaterThanOrEqual(0);
    } finally {
      await closeAll(ws);
    }
    await expectReconciled(biz);
  });
});

describe('caps and budgets hit at once', () => {
  it('a per_contact cap and a budget, one contact and many, over HTTP and WebSocket: never more, the replies match what was made', async () => {
    const biz = await createBusiness(gw);
    const capped = await offer(biz, { award: { fixed: 100 }, limits: { per_contact: { count: 2, period: 'day' } } });
    const budgeted = await offer(biz, { award: { fixed: 70 }, limits: { budget: 1000 } });
    const ws = await TerminalClient.open(gw.port, biz.terminal_key);
    try {
      const one = await contactOf(biz);
      const many = await Promise.all(Array.from({ length: 10 }, () => contactOf(biz)));
      const replies = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => (i % 2 ? http(biz, '/v1/purchases', { reference: `c-${++seq}`, cim: { type: 'card', value: one.card }, amount: 1000, currency: 'EUR' }) : frame(ws, 'purchase', { reference: `c-${++seq}`, cim: { type: 'card', value: one.card }, amount: 1000, currency: 'EUR' }))),
        ...many.flatMap((c) => [http(biz, '/v1/purchases', { reference: `m-${++seq}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' }), frame(ws, 'purchase', { reference: `m-${++seq}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' })]),
      ]);
      for (const r of replies) expect(r.status, JSON.stringify(r.body)).toBe(201);
      const awards = replies.flatMap((r) => r.body.awards as { offer_id: string; amount: number }[]);
      const of = (id: string) => awards.filter((a) => a.offer_id === id).reduce((s, a) => s + a.amount, 0);
      expect(of(budgeted)).toBeLessThanOrEqual(1000);
      expect(of(budgeted)).toBeGreaterThan(1000 - 70);
      expect(replies.slice(0, 20).flatMap((r) => r.body.awards).filter((a: any) => a.offer_id === capped)).toHaveLength(2);
      // The replies' awards are what the wallets hold.
      const total = awards.reduce((s, a) => s + a.amount, 0);
      let held = 0;
      for (const c of [one, ...many]) held += (await wallet(biz, c)).commerce;
      expect(held).toBe(total);
    } finally {
      await closeAll(ws);
    }
    await expectReconciled(biz);
  });
});

describe('processor callbacks of one transaction at once', () => {
  it('authorized, cleared lower, refunded and reversed sent at once in separate requests: a consistent wallet, no 5xx', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { award: { percent: 10 } });
    const processor = await createProcessor(gw, biz, 'authorization');
    for (let round = 0; round < 8; round++) {
      const c = await contactOf(biz);
      const tid = transactionId();
      const data = { transaction_id: tid, card: { number: c.card }, currency: 'EUR', merchant_code: biz.merchant_code };
      const events = [
        sale('transaction.authorized', { ...data, amount: 5000 }),
        sale('transaction.cleared', { ...data, amount: 4000 }),
        refunded({ transaction_id: `${tid}-r1`, original_transaction_id: tid, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }),
        refunded({ transaction_id: `${tid}-r2`, original_transaction_id: tid, amount: 1000, currency: 'EUR', merchant_code: biz.merchant_code }),
        reversed(tid),
      ];
      const order = round % 2 === 0 ? events : [...events].reverse();
      const replies = await Promise.all([...order, ...order].map((e) => postCallback(gw, processor, e)));
      for (const r of replies) {
        expect(r.status, r.text).toBe(200);
        expect(['processed', 'ignored'], r.text).toContain(r.body.status);
      }
      // Same event id twice at once: the same answer.
      for (let i = 0; i < order.length; i++) expect({ ...replies[i]!.body, replayed: undefined }, order[i]!.type).toEqual({ ...replies[i + order.length]!.body, replayed: undefined });
      const w = await wallet(biz, c);
      expect(w.commerce).toBeGreaterThanOrEqual(0);
    }
    await expectReconciled(biz);
  });
});

describe('admin changes racing POS traffic', () => {
  it('an offer disabled while 40 purchases run: each reply is awarded or not, the wallets hold the replies', async () => {
    const biz = await createBusiness(gw);
    const id = await offer(biz, { award: { fixed: 100 } });
    const cs = await Promise.all(Array.from({ length: 10 }, () => contactOf(biz)));
    const buys = Array.from({ length: 40 }, (_, i) => http(biz, '/v1/purchases', { reference: `d-${++seq}`, cim: { type: 'card', value: cs[i % 10]!.card }, amount: 1000, currency: 'EUR' }));
    const patched = await call(gw, 'PATCH', `/v1/offers/${id}`, biz.admin_key, { active: false });
    expect(patched.status, patched.text).toBe(200);
    const after = await http(biz, '/v1/purchases', { reference: `d-${++seq}`, cim: { type: 'card', value: cs[0]!.card }, amount: 1000, currency: 'EUR' });
    expect(after.body.awards).toEqual([]);
    const replies = await Promise.all(buys);
    for (const r of replies) expect(r.status).toBe(201);
    let held = 0;
    for (const c of cs) held += (await wallet(biz, c)).commerce;
    expect(held).toBe(replies.reduce((s, r) => s + r.body.awards.length * 100, 0));
    await expectReconciled(biz);
  });

  it('spend_blocked set while 30 spends run: after it answers, every spend is spend_blocked', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { award: { percent: 10 }, instant_redeem: true });
    const c = await fundedContact(biz, 1000);
    const early = Array.from({ length: 30 }, () => http(biz, '/v1/spends', { reference: `s-${++seq}`, amount: 10, currency: 'EUR', wallet_code: c.wallet_code }));
    const blocked = await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: true });
    expect(blocked.status, blocked.text).toBe(200);
    const late = await http(biz, '/v1/spends', { reference: `s-${++seq}`, amount: 10, currency: 'EUR', wallet_code: c.wallet_code });
    expect(late.body.code).toBe('spend_blocked');
    const replies = await Promise.all(early);
    for (const r of replies) expectContractual(r);
    expect((await wallet(biz, c)).open).toBe(1000 - replies.filter((r) => r.status === 201).length * 10);
    await expectReconciled(biz);
  });

  it('a terminal key rotated while the terminal buys: no 5xx, the old key refused after', async () => {
    const biz = await createBusiness(gw);
    const c = await contactOf(biz);
    const early = Array.from({ length: 30 }, () => http(biz, '/v1/purchases', { reference: `k-${++seq}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' }));
    const rotated = await call(gw, 'POST', `/v1/terminals/${biz.terminal_id}/rotate-key`, biz.admin_key);
    expect(rotated.status, rotated.text).toBe(201);
    const late = await http(biz, '/v1/purchases', { reference: `k-${++seq}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' });
    expect(late.status).toBe(401);
    for (const r of await Promise.all(early)) expectContractual(r);
  });
});

describe('a reversal racing its original', () => {
  it('ISO 8583 0200 and its 0400/0420 sent at once on separate connections, 20 times: nothing stays awarded when the reversal is approved', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { award: { percent: 10 } });
    const acquirer = randomAcquirerId();
    await linkAcquirer(gw, biz, acquirer);
    const links = await Promise.all(Array.from({ length: 3 }, () => connectIso(gw.iso8583_port)));
    try {
      for (let round = 0; round < 20; round++) {
        const c = await contactOf(biz);
        const sale = isoRequest(biz, acquirer, '0200', { 2: c.card, 3: '000000', 4: iso_amount(1000) });
        const reversal = isoRequest(biz, acquirer, round % 2 ? '0420' : '0400', { 2: c.card, 3: '000000', 4: iso_amount(1000), 90: originalOf(sale) });
        const [s, v, v2] = await Promise.all([links[0]!.send(sale), links[1]!.send(reversal), links[2]!.send(createMessage(round % 2 ? '0421' : '0401', reversal.fields as Record<number, string>))]);
        const codes = `${s.fields[39]} ${v.fields[39]} ${v2.fields[39]}`;
        expect(['00', '25', '94', '91'], codes).toContain(s.fields[39]);
        expect(v.fields[39], codes).toBe(v2.fields[39]);
        const w = await wallet(biz, c);
        if (s.fields[39] === '00' && v.fields[39] === '00') expect(w.commerce, codes).toBe(0);
        if (s.fields[39] === '00' && v.fields[39] !== '00') expect(w.commerce, codes).toBe(100);
        if (s.fields[39] !== '00') expect(w.commerce, codes).toBe(0);
      }
    } finally {
      await closeAll(...links);
    }
    await expectReconciled(biz);
  });

  it('an HTTP reversal first, then its purchase and refunds of it at once: the purchase refused or voided, the refunds never left standing', async () => {
    const biz = await createBusiness(gw);
    await offer(biz, { award: { percent: 10 } });
    const ws = await TerminalClient.open(gw.port, biz.terminal_key);
    try {
      for (let round = 0; round < 10; round++) {
        const c = await contactOf(biz);
        const reference = `late-${++seq}`;
        const replies = await Promise.all([
          http(biz, '/v1/reversals', { reference: `v-${reference}`, original_reference: reference }),
          frame(ws, 'purchase', { reference, cim: { type: 'card', value: c.card }, amount: 2000, currency: 'EUR' }),
          http(biz, '/v1/refunds', { reference: `r1-${reference}`, original_reference: reference, amount: 500 }),
          frame(ws, 'refund', { reference: `r2-${reference}`, original_reference: reference, amount: 500 }),
          frame(ws, 'reversal', { reference: `v-${reference}`, original_reference: reference }),
        ]);
        for (const r of replies) expectContractual(r);
        const [v, p] = replies;
        const w = await wallet(biz, c);
        if (v!.status === 201 || p!.status !== 201) expect(w, JSON.stringify(replies.map((r) => [r.status, r.body.code]))).toEqual({ open: 0, commerce: 0 });
        else expect(w.commerce).toBe(200 - replies.slice(2, 4).filter((r) => r.status === 201).length * 50);
      }
    } finally {
      await closeAll(ws);
    }
    await expectReconciled(biz);
  });
});

describe('a budget given back by reversals while purchases take it', () => {
  it('a budget of 1000, 20 purchases of 100 and reversals of the first 10 at once: what stands never over the budget', async () => {
    const biz = await createBusiness(gw);
    const id = await offer(biz, { award: { fixed: 100 }, limits: { budget: 1000, per_contact: { count: 1, period: 'lifetime' } } });
    const cs = await Promise.all(Array.from({ length: 20 }, () => contactOf(biz)));
    const first = await Promise.all(cs.slice(0, 10).map((c, i) => http(biz, '/v1/purchases', { reference: `b-${i}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' })));
    expect(first.reduce((s, r) => s + r.body.awards.length, 0)).toBe(10);
    const replies = await Promise.all([
      ...cs.slice(0, 10).map((_, i) => http(biz, '/v1/reversals', { reference: `bv-${i}`, original_reference: `b-${i}` })),
      ...cs.slice(10).map((c, i) => http(biz, '/v1/purchases', { reference: `b2-${i}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' })),
      ...cs.slice(0, 10).map((c, i) => http(biz, '/v1/purchases', { reference: `b3-${i}`, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' })),
    ]);
    for (const r of replies) expect(r.status, JSON.stringify(r.body)).toBe(201);
    const standing = replies.slice(10).reduce((s, r) => s + r.body.awards.filter((a: any) => a.offer_id === id).length * 100, 0);
    expect(standing).toBeLessThanOrEqual(1000);
    let held = 0;
    for (const c of cs) held += (await wallet(biz, c)).commerce;
    expect(held).toBe(standing);
    await expectReconciled(biz);
  });
});
