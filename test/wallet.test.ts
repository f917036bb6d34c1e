// Redeem, spend (OTP and wallet code), refunds, reversals, statements and settlement, through
// the HTTP contract, against real Redis and PostgreSQL.

import { describe, expect, it } from 'vitest';
import { businessGatewayForFile } from './business-gateway.ts';
import { createCardContact, type CardContact } from './card-contact.ts';
import { call, createBusiness, eventually, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;

// 10% cashback on everything: easy numbers.
businessGatewayForFile((made) => ({ gw, biz } = made), { name: '10% back', goal: 'spend', award: { percent: 10 } });

const newContact = (): Promise<CardContact> => createCardContact(gw, biz, 900_000 + ++seq);

const ref = () => `w-${Date.now()}-${++seq}`;

async function purchase(card: string, amount: number, extra: Record<string, unknown> = {}) {
  return call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: card }, amount, currency: 'EUR', ...extra });
}

async function wallet(id: string) {
  const w = await call(gw, 'GET', `/v1/contacts/${id}/wallet`, biz.admin_key);
  expect(w.status).toBe(200);
  return w.body as { open: number; commerce: number; pools: unknown[]; expiring: unknown[] };
}

describe('redeem', () => {
  it('moves commerce into open, all eligible without an amount, and refuses more than there is', async () => {
    const c = await newContact();
    expect((await purchase(c.card, 5000)).body.wallet).toEqual({ open: 0, commerce: 500 });
    const part = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card }, amount: 200 });
    expect(part.status).toBe(201);
    expect(part.body.redeemed).toBe(200);
    expect(part.body.wallet).toEqual({ open: 200, commerce: 300 });
    const too_much = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card }, amount: 301 });
    expect(too_much.status).toBe(422);
    expect(too_much.body.code).toBe('insufficient_funds');
    const rest = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    expect(rest.status).toBe(201);
    expect(rest.body.redeemed).toBe(300);
    expect(await wallet(c.id)).toMatchObject({ open: 500, commerce: 0 });
  });
});

describe('spend', () => {
  it('by wallet code: debits open, never below zero', async () => {
    const c = await newContact();
    await purchase(c.card, 10_000); // 1,000 commerce
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    const ok = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 400, currency: 'EUR', wallet_code: c.wallet_code });
    expect(ok.status).toBe(201);
    expect(ok.body.spent).toBe(400);
    expect(ok.body.wallet.open).toBe(600);
    const short = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 601, currency: 'EUR', wallet_code: c.wallet_code });
    expect(short.status).toBe(422);
    expect(short.body.code).toBe('insufficient_funds');
    expect((await wallet(c.id)).open).toBe(600);
    const unknown = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 1, currency: 'EUR', wallet_code: '4111111111111111' });
    expect(unknown.body.code).toBe('wallet_code_invalid');
  });

  it('a wallet code no wallet could have (a digit changed, so Luhn fails; too short; not digits) is 422 wallet_code_invalid, not 400, and spends nothing', async () => {
    const c = await newContact();
    await purchase(c.card, 10_000);
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    const open = (await wallet(c.id)).open;
    const last = Number(c.wallet_code.slice(-1));
    const typo = c.wallet_code.slice(0, -1) + String((last + 1) % 10);
    for (const code of [typo, '1234', 'abcdefghijklmnop']) {
      const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 1, currency: 'EUR', wallet_code: code });
      expect([spend.status, spend.body.code], code).toEqual([422, 'wallet_code_invalid']);
      const paying = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card }, amount: 500, currency: 'EUR', pay: { amount: 100, wallet_code: code } });
      expect([paying.status, paying.body.code], code).toEqual([422, 'wallet_code_invalid']);
    }
    expect((await wallet(c.id)).open).toBe(open);
  });

  it('a refused request repeated is refused the same, as a replay (the original status and body), even once it would fit', async () => {
    const c = await newContact();
    await purchase(c.card, 10_000);
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    const body = { reference: ref(), amount: 1001, currency: 'EUR', wallet_code: c.wallet_code };
    const short = await call(gw, 'POST', '/v1/spends', biz.terminal_key, body);
    expect([short.status, short.body.code, short.headers.get('idempotent-replayed')]).toEqual([422, 'insufficient_funds', null]);
    await purchase(c.card, 10_000);
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    const again = await call(gw, 'POST', '/v1/spends', biz.terminal_key, body);
    expect([again.status, again.headers.get('idempotent-replayed'), again.body]).toEqual([422, 'true', short.body]);
    expect((await wallet(c.id)).open).toBe(2000);
    // Another body under its reference is a conflict, as for an approved one.
    expect((await call(gw, 'POST', '/v1/spends', biz.terminal_key, { ...body, amount: 1000 })).status).toBe(409);
    // A purchase whose wallet payment was refused, and a refund past its original: the same.
    const pay = { reference: ref(), cim: { type: 'card', value: c.card }, amount: 5000, currency: 'EUR', pay: { amount: 2001, wallet_code: c.wallet_code } };
    const refused = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, pay);
    expect([refused.status, refused.body.code]).toEqual([422, 'insufficient_funds']);
    const repeated = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, pay);
    expect([repeated.status, repeated.headers.get('idempotent-replayed'), repeated.body]).toEqual([422, 'true', refused.body]);
    const p = await purchase(c.card, 1000);
    const over = { reference: ref(), original_reference: p.body.reference, amount: 1001 };
    const first = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, over);
    expect([first.status, first.body.code]).toEqual([422, 'amount_exceeds_original']);
    const second = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, over);
    expect([second.status, second.headers.get('idempotent-replayed'), second.body]).toEqual([422, 'true', first.body]);
    expect(await wallet(c.id)).toMatchObject({ open: 2000 });
  });

  it('refuses spend_blocked contacts, and a rotated wallet code stops working at once', async () => {
    const c = await newContact();
    await purchase(c.card, 10_000);
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    expect((await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: true })).status).toBe(200);
    const blocked = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 10, currency: 'EUR', wallet_code: c.wallet_code });
    expect(blocked.status).toBe(422);
    expect(blocked.body.code).toBe('spend_blocked');
    await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: false });
    const rotated = await call(gw, 'POST', `/v1/contacts/${c.id}/wallet-code`, biz.admin_key, {});
    expect(rotated.status).toBe(201);
    expect(rotated.body.wallet_code).toMatch(/^\d{16}$/);
    const old = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 10, currency: 'EUR', wallet_code: c.wallet_code });
    expect(old.body.code).toBe('wallet_code_invalid');
    const fresh = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 10, currency: 'EUR', wallet_code: rotated.body.wallet_code });
    expect(fresh.status).toBe(201);
  });

  it('by OTP: once, up to its amount, until it expires', async () => {
    const c = await newContact();
    await purchase(c.card, 10_000);
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    const otp = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 300, ttl_seconds: 60 });
    expect(otp.status).toBe(201);
    expect(otp.body.otp).toMatch(/^\d{6}$/);
    const over = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 301, currency: 'EUR', otp: otp.body.otp });
    expect(over.body.code).toBe('otp_invalid');
    const spent = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 250, currency: 'EUR', otp: otp.body.otp });
    expect(spent.status).toBe(201);
    expect(spent.body.wallet.open).toBe(750);
    const again = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 10, currency: 'EUR', otp: otp.body.otp });
    expect(again.body.code).toBe('otp_invalid');

    const late = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 100, ttl_seconds: 30 });
    const clock = gw.processor.stores.clock;
    const real = clock.now;
    clock.now = () => real() + 31_000;
    try {
      const expired = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 10, currency: 'EUR', otp: late.body.otp });
      expect(expired.status).toBe(422);
      expect(expired.body.code).toBe('otp_expired');
    } finally {
      clock.now = real;
    }
    expect((await wallet(c.id)).open).toBe(750);
  });

  // The `expires_at` shown is when it expires, to the millisecond: shown rounded down to the
  // second, an OTP was taken 0.3 s after it (a black-box probe, 2026-12-05). It still lives at
  // least ttl_seconds.
  it("an OTP expires at the `expires_at` its issue showed, not a moment later, and lives at least ttl_seconds", async () => {
    const c = await newContact();
    await purchase(c.card, 10_000);
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    const clock = gw.processor.stores.clock;
    const real = clock.now;
    const issued_ms = Math.ceil(real() / 1000) * 1000 + 400;
    try {
      clock.now = () => issued_ms;
      const otps = [];
      for (let i = 0; i < 2; i++) otps.push(await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 100, ttl_seconds: 30 }));
      const expires_ms = Date.parse(otps[0]!.body.expires_at);
      expect(expires_ms - issued_ms).toBeGreaterThanOrEqual(30_000);
      expect(expires_ms - issued_ms).toBeLessThan(31_000);
      clock.now = () => expires_ms - 1;
      const before = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 10, currency: 'EUR', otp: otps[0]!.body.otp });
      expect(before.status, before.text).toBe(201);
      clock.now = () => expires_ms;
      const at = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 10, currency: 'EUR', otp: otps[1]!.body.otp });
      expect(at.status, at.text).toBe(422);
      expect(at.body.code).toBe('otp_expired');
    } finally {
      clock.now = real;
    }
  });

  it('locks a terminal out of OTP spends after 5 wrong codes in a minute', async () => {
    const other = await createBusiness(gw);
    for (let i = 0; i < 5; i++) {
      const r = await call(gw, 'POST', '/v1/spends', other.terminal_key, { reference: `bf-${i}`, amount: 1, currency: 'EUR', otp: String(100000 + i) });
      expect(r.body.code).toBe('otp_invalid');
    }
    const locked = await call(gw, 'POST', '/v1/spends', other.terminal_key, { reference: 'bf-6', amount: 1, currency: 'EUR', otp: '123456' });
    expect(locked.status).toBe(429);
    expect(locked.body.code).toBe('rate_limited');
  });

  it('50 concurrent spends of 1.00 against 10.00: exactly 10 approved, never negative', async () => {
    const c = await newContact();
    await purchase(c.card, 10_000); // 1,000 commerce → redeem all → open 1,000
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: `${ref()}-c${i}`, amount: 100, currency: 'EUR', wallet_code: c.wallet_code })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(10);
    expect(results.filter((r) => r.status === 422 && r.body.code === 'insufficient_funds')).toHaveLength(40);
    const opens = results.filter((r) => r.status === 201).map((r) => r.body.wallet.open as number);
    expect(Math.min(...opens)).toBe(0);
    expect(opens.every((o) => o >= 0)).toBe(true);
    expect((await wallet(c.id)).open).toBe(0);
  });

  it('purchase with pay: wallet code pays part of the amount due', async () => {
    const c = await newContact();
    await purchase(c.card, 10_000);
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    const p = await purchase(c.card, 2000, { pay: { amount: 500, wallet_code: c.wallet_code } });
    expect(p.status).toBe(201);
    expect(p.body.paid_from_wallet).toBe(500);
    expect(p.body.amount_due).toBe(1500);
    expect(p.body.wallet).toEqual({ open: 500, commerce: 200 });
  });
});

describe('refunds', () => {
  it('claw back awards in proportion and never exceed the original', async () => {
    const c = await newContact();
    const p = await purchase(c.card, 3333); // award 333
    expect(p.body.awards[0].amount).toBe(333);
    const r1 = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: ref(), original_reference: p.body.reference, amount: 1000 });
    expect(r1.status).toBe(201);
    expect(r1.body.clawed_back).toBe(99); // floor(333 × 1000 / 3333)
    const r2 = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: ref(), original_reference: p.body.reference, amount: 2334 });
    expect(r2.status).toBe(422);
    expect(r2.body.code).toBe('amount_exceeds_original');
    const r3 = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: ref(), original_reference: p.body.reference });
    expect(r3.status).toBe(201);
    expect(r3.body.amount).toBe(2333);
    expect(r3.body.clawed_back).toBe(234);
    expect((await wallet(c.id)).commerce).toBe(0);
    const missing = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: ref(), original_reference: 'never-was' });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('original_not_found');
  });

  it('claws back from open when commerce was redeemed, then as debt settled by later awards', async () => {
    const c = await newContact();
    const p = await purchase(c.card, 10_000); // 1,000
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card }, amount: 600 });
    await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 500, currency: 'EUR', wallet_code: c.wallet_code });
    // commerce 400, open 100: a full refund claws 1,000 = 400 commerce + 100 open + 500 debt.
    const r = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: ref(), original_reference: p.body.reference });
    expect(r.status).toBe(201);
    expect(r.body.wallet).toEqual({ open: 0, commerce: -500 });
    const later = await purchase(c.card, 7000); // award 700 settles the 500 debt first
    expect(later.body.wallet).toEqual({ open: 0, commerce: 200 });
    const redeem = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    expect(redeem.body.redeemed).toBe(200);
  });

  it('returns a wallet payment in proportion', async () => {
    const c = await newContact();
    await purchase(c.card, 10_000);
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    const p = await purchase(c.card, 4000, { pay: { amount: 1000, wallet_code: c.wallet_code } }); // award 400, open 0
    expect(p.body.wallet).toEqual({ open: 0, commerce: 400 });
    const r = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: ref(), original_reference: p.body.reference, amount: 2000 });
    expect(r.body.returned_to_wallet).toBe(500);
    expect(r.body.clawed_back).toBe(200);
    expect(r.body.wallet).toEqual({ open: 500, commerce: 200 });
  });
});

describe('reversals', () => {
  it('void a purchase, a spend and a redemption; twice is already_reversed', async () => {
    const c = await newContact();
    const p = await purchase(c.card, 10_000);
    const redemption = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card }, amount: 400 });
    const spend = await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 300, currency: 'EUR', wallet_code: c.wallet_code });
    expect(await wallet(c.id)).toMatchObject({ open: 100, commerce: 600 });

    const v1 = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: ref(), original_reference: spend.body.reference });
    expect(v1.status).toBe(201);
    expect(v1.body.wallet).toEqual({ open: 400, commerce: 600 });
    const v2 = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: ref(), original_reference: redemption.body.reference });
    expect(v2.body.wallet).toEqual({ open: 0, commerce: 1000 });
    const v3 = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: ref(), original_reference: p.body.reference });
    expect(v3.body.wallet).toEqual({ open: 0, commerce: 0 });
    const twice = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: ref(), original_reference: p.body.reference });
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe('already_reversed');
    const refund_after = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: ref(), original_reference: p.body.reference });
    expect(refund_after.body.code).toBe('already_reversed');
  });

  it('a reversal that arrives first makes the late original be refused', async () => {
    const c = await newContact();
    const original_reference = ref();
    const early = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: ref(), original_reference });
    expect(early.status).toBe(404);
    expect(early.body.code).toBe('original_not_found');
    const late = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: original_reference, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR' });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('already_reversed');
    expect(await wallet(c.id)).toMatchObject({ open: 0, commerce: 0 });
  });
});

describe('statement and settlement', () => {
  it('statement from the ledger closes at the wallet, with running balances', async () => {
    const c = await newContact();
    await purchase(c.card, 10_000);
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card }, amount: 300 });
    await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code });
    const w = await wallet(c.id);
    const s = await eventually('the ledger to catch up', async () => {
      const r = await call(gw, 'GET', `/v1/contacts/${c.id}/statement`, biz.admin_key);
      return r.body.lines?.length === 3 ? r : undefined;
    });
    expect(s.body.opening).toEqual({ open: 0, commerce: 0 });
    expect(s.body.closing).toEqual({ open: w.open, commerce: w.commerce });
    expect(s.body.lines.map((l: any) => [l.kind, l.open_delta, l.commerce_delta, l.open_balance, l.commerce_balance])).toEqual([
      ['purchase', 0, 1000, 0, 1000],
      ['redemption', 300, -300, 300, 700],
      ['spend', -100, 0, 200, 700],
    ]);
  });

  it('settlement reports awards funded, fees and spends at a merchant', async () => {
    const c = await newContact();
    await purchase(c.card, 10_000); // award 1,000 at the fixture's merchant (10% fee) → fee 100
    await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'card', value: c.card } });
    await call(gw, 'POST', '/v1/spends', biz.terminal_key, { reference: ref(), amount: 700, currency: 'EUR', wallet_code: c.wallet_code });
    const s = await eventually('settlement', async () => {
      const r = await call(gw, 'GET', `/v1/settlements?merchant_id=${biz.merchant_id}`, biz.admin_key);
      return r.body.merchants?.[0]?.spends_accepted >= 700 ? r : undefined;
    });
    const m = s.body.merchants[0];
    expect(m.merchant_id).toBe(biz.merchant_id);
    expect(m.contribution_fees).toBe(m.awards_funded / 10);
    expect(m.net_owed_to_merchant).toBe(m.spends_accepted + m.discounts_given - m.contribution_fees);
  });
});
