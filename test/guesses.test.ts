// Guessing (README "Guessing", core/guesses.ts): wrong OTPs, wallet codes and contact codes
// counted per terminal and source in Redis, through the HTTP and ISO 8583 contracts, against real
// Redis and PostgreSQL, and the WebSocket terminal channel's. Sources are told apart by
// X-Forwarded-For behind one trusted proxy.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage } from '../adapters/iso8583/codec.ts';
import { guess_limits, otp_tries_max, type GuessKind } from '../core/guesses.ts';
import { guessCountersOf } from '../processor/hot/guess.ts';
import { otpIndexKey } from '../processor/hot/keys.ts';
import { linkAcquirer, randomAcquirerId } from './acquirer.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { TerminalClient } from './ws-client.ts';

let gw: TestGateway;
let seq = 0;
const day_ms = 86_400_000;

beforeAll(async () => {
  gw = await startTestGateway({ trust_proxy_hops: 1 }, true, true);
});
afterAll(async () => {
  await gw?.close();
});

// The soft limits count per minute: a test that crossed a minute's end would see its count start
// again (a 422 where the limit answers 429; it failed so once, in CI). Each test runs on the
// processor's clock set back to one second into the current minute, going on from there: no test
// here lasts 59 s.
let real_now: (() => number) | undefined;
beforeEach(() => {
  const clock = gw.processor.stores.clock;
  real_now = clock.now;
  const started = Date.now();
  const base = Math.floor(started / 60_000) * 60_000 + 1_000;
  clock.now = () => base + (Date.now() - started);
});
afterEach(() => {
  if (real_now !== undefined) gw.processor.stores.clock.now = real_now;
});

/** A business whose purchases award 10% cashback. */
async function business(): Promise<BusinessFixture> {
  const biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10% back', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
  return biz;
}

async function secondTerminal(biz: BusinessFixture): Promise<string> {
  const t = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: biz.venue_id, code: 'T0000002' });
  expect(t.status).toBe(201);
  return t.body.api_key as string;
}

interface Contact {
  readonly id: string;
  readonly card: string;
  readonly code: string;
  readonly wallet_code: string;
}

/** A contact with `open` in its open balance (a purchase's cashback, redeemed). */
async function contact(biz: BusinessFixture, open = 0): Promise<Contact> {
  const card = testCard(600_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status).toBe(201);
  if (open > 0) {
    expect((await pos(biz.terminal_key, 'POST', '/v1/purchases', { reference: ref(), cim: { type: 'card', value: card }, amount: open * 10, currency: 'EUR' })).status).toBe(201);
    expect((await pos(biz.terminal_key, 'POST', '/v1/redemptions', { reference: ref(), cim: { type: 'card', value: card } })).status).toBe(201);
  }
  return { id: c.body.id, card, code: c.body.code, wallet_code: c.body.wallet_code };
}

const ref = () => `g-${Date.now()}-${++seq}`;

/** A POS call from `source` (the client's address, as our proxy wrote it). */
function pos(key: string, method: string, path: string, body?: unknown, source = '198.51.100.1') {
  return call(gw, method, path, key, body, { 'x-forwarded-for': source });
}

async function openBalance(biz: BusinessFixture, c: Contact): Promise<number> {
  return (await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body.open as number;
}

async function otpOf(biz: BusinessFixture, c: Contact, amount: number): Promise<string> {
  const o = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount });
  expect(o.status).toBe(201);
  return o.body.otp as string;
}

/** A six-digit code that is not `right`. */
const wrongOtp = (right: string, i: number) => String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0');
/** A Luhn-valid 16-digit code no contact has (the odds of one are about 10^-9). */
const wrongWalletCode = () => testCard(10_000_000 + ++seq);
const wrongContactCode = () => `ZZZ${String(++seq).padStart(7, '0')}`;

/** Run `body` with the processor's clock moved by `ms`. */
async function later<T>(ms: number, body: () => Promise<T>): Promise<T> {
  const clock = gw.processor.stores.clock;
  const real = clock.now;
  clock.now = () => real() + ms;
  try {
    return await body();
  } finally {
    clock.now = real;
  }
}

describe('OTP guesses', () => {
  it('retries of an approved spend whose code is gone since (an OTP expired or lost with Redis, a wallet code rotated) replay it and count no guess', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const otp = await otpOf(biz, c, 300);
    const by_otp = { reference: ref(), amount: 300, currency: 'EUR', otp };
    expect((await pos(biz.terminal_key, 'POST', '/v1/spends', by_otp)).status).toBe(201);
    // What an expiry or a rebuild (OTPs are not rebuilt) leaves: the code names no one.
    await gw.processor.stores.redis.del(otpIndexKey(biz.business_id, otp));
    const by_code = { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code };
    expect((await pos(biz.terminal_key, 'POST', '/v1/spends', by_code)).status).toBe(201);
    expect((await call(gw, 'POST', `/v1/contacts/${c.id}/wallet-code`, biz.admin_key)).status).toBe(201);
    for (let i = 0; i <= guess_limits.otp.pair_per_day; i++) {
      for (const body of [by_otp, by_code]) {
        const again = await pos(biz.terminal_key, 'POST', '/v1/spends', body);
        expect([again.status, again.headers.get('idempotent-replayed')], again.text).toEqual([201, 'true']);
      }
    }
    // Nothing counted: a customer's fresh OTP at that terminal and source is served.
    const fresh = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp: await otpOf(biz, c, 100) });
    expect(fresh.status, fresh.text).toBe(201);
    expect(await openBalance(biz, c)).toBe(500);
  });

  it('repeats of a spend refused for its code are replayed and count no guess again: past the soft limit a new wrong code is still 422 (a black-box probe)', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const otp = await otpOf(biz, c, 300);
    const refused = [
      { reference: ref(), amount: 100, currency: 'EUR', otp: wrongOtp(otp, 0) },
      { reference: ref(), amount: 100, currency: 'EUR', wallet_code: wrongWalletCode() },
      { reference: ref(), amount: 100, currency: 'EUR', wallet_code: '480100555357174' }, // 15 digits: counted as no guess
    ];
    for (const body of refused) {
      const first = await pos(biz.terminal_key, 'POST', '/v1/spends', body);
      expect(first.status, first.text).toBe(422);
      for (let i = 0; i <= guess_limits.otp.soft_per_minute; i++) {
        const again = await pos(biz.terminal_key, 'POST', '/v1/spends', body);
        expect([again.status, again.text, again.headers.get('idempotent-replayed')]).toEqual([422, first.text, 'true']);
      }
    }
    // One wrong OTP and one wrong wallet code counted, as sent once each: a new wrong one is a guess below the soft limit.
    const next = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp: wrongOtp(otp, 1) });
    expect([next.status, next.body.code], next.text).toEqual([422, 'otp_invalid']);
    const right = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 300, currency: 'EUR', otp });
    expect(right.status, right.text).toBe(201);
  });

  it('copies of a spend refused for its code sent at once count one guess, past the soft limit too: a right code after them is approved (a black-box probe)', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const otp = await otpOf(biz, c, 300);
    const copies = 100;
    const cases: [GuessKind, object][] = [
      ['otp', { reference: ref(), amount: 100, currency: 'EUR', otp: wrongOtp(otp, 0) }],
      ['code', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: wrongWalletCode() }],
    ];
    for (const [kind, body] of cases) {
      const answers = await Promise.all(Array.from({ length: copies }, () => pos(biz.terminal_key, 'POST', '/v1/spends', body, '192.0.2.50')));
      // One refused on its merits; the others its copies, answered with its refusal, replayed (or
      // 429, should a copy have come before the first was remembered: none here, but not the point).
      expect(answers.filter((a) => a.status === 422 && a.headers.get('idempotent-replayed') === null)).toHaveLength(1);
      const counters = guessCountersOf(biz.business_id, kind, { terminal_id: biz.terminal_id, source: '192.0.2.50' }, gw.processor.stores.clock.now());
      // The copies' guesses given back: the pair's day counter holds the one wrong code sent.
      expect(await gw.processor.stores.redis.get(counters.keys[1]!)).toBe('1');
    }
    const right = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 300, currency: 'EUR', otp }, '192.0.2.50');
    expect(right.status, right.text).toBe(201);
  });

  it('copies of a spend sent at once from a terminal already past the soft limit count one guess: the same 429 each (the review)', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const otp = await otpOf(biz, c, 300);
    const source = '192.0.2.51';
    for (let i = 0; i < guess_limits.otp.soft_per_minute; i++) {
      expect((await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp: wrongOtp(otp, 10 + i) }, source)).body.code).toBe('otp_invalid');
    }
    const body = { reference: ref(), amount: 100, currency: 'EUR', otp: wrongOtp(otp, 0) };
    const answers = await Promise.all(Array.from({ length: 100 }, () => pos(biz.terminal_key, 'POST', '/v1/spends', body, source)));
    expect(answers.every((a) => a.status === 429)).toBe(true);
    const counters = guessCountersOf(biz.business_id, 'otp', { terminal_id: biz.terminal_id, source }, gw.processor.stores.clock.now());
    expect(await gw.processor.stores.redis.get(counters.keys[1]!)).toBe(String(guess_limits.otp.soft_per_minute + 1));
    const right = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 300, currency: 'EUR', otp }, source);
    expect(right.status, right.text).toBe(201);
  });

  it('copies of a purchase paying with a wrong OTP sent at once try it once: the customer\'s code lives on (the review)', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const otp = await otpOf(biz, c, 300);
    const body = { reference: ref(), cim: { type: 'card', value: c.card }, amount: 5_000, currency: 'EUR', pay: { amount: 100, otp: wrongOtp(otp, 0) } };
    const answers = await Promise.all(Array.from({ length: 10 }, () => pos(biz.terminal_key, 'POST', '/v1/purchases', body)));
    expect(answers.map((a) => a.body.code)).toEqual(Array(10).fill('otp_invalid'));
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(9);
    const paid = await pos(biz.terminal_key, 'POST', '/v1/purchases', { ...body, reference: ref(), pay: { amount: 300, otp } });
    expect([paid.status, paid.body.paid_from_wallet], paid.text).toEqual([201, 300]);
  });

  it('repeats of a purchase or redemption refused for a wallet or contact code no contact has are replayed and count no guess again', async () => {
    const biz = await business();
    const refused: [string, object][] = [
      ['/v1/purchases', { reference: ref(), cim: { type: 'contact_code', value: wrongContactCode() }, amount: 1000, currency: 'EUR' }],
      ['/v1/redemptions', { reference: ref(), cim: { type: 'wallet_code', value: wrongWalletCode() } }],
    ];
    for (const [path, body] of refused) {
      const first = await pos(biz.terminal_key, 'POST', path, body);
      expect([first.status, first.body.code], first.text).toEqual([404, 'contact_not_found']);
      for (let i = 0; i <= guess_limits.code.soft_per_minute / 2; i++) {
        const again = await pos(biz.terminal_key, 'POST', path, body);
        expect([again.status, again.text, again.headers.get('idempotent-replayed')]).toEqual([404, first.text, 'true']);
      }
    }
    // Two wrong codes counted, as sent once each: a new wrong one is below the soft limit.
    const next = await pos(biz.terminal_key, 'POST', '/v1/purchases', { reference: ref(), cim: { type: 'contact_code', value: wrongContactCode() }, amount: 1000, currency: 'EUR' });
    expect([next.status, next.body.code], next.text).toEqual([404, 'contact_not_found']);
  });

  // The same rule as spends' (wallet.ts replayOr): a repeat changes nothing, its guess included.
  it('retries of an approved purchase and redemption by a wallet code rotated since replay them and count no guess', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const by_code = [
      ['/v1/purchases', { reference: ref(), cim: { type: 'wallet_code', value: c.wallet_code }, amount: 1000, currency: 'EUR' }],
      ['/v1/redemptions', { reference: ref(), cim: { type: 'wallet_code', value: c.wallet_code } }],
    ] as const;
    for (const [path, body] of by_code) expect((await pos(biz.terminal_key, 'POST', path, body)).status).toBe(201);
    expect((await call(gw, 'POST', `/v1/contacts/${c.id}/wallet-code`, biz.admin_key)).status).toBe(201);
    for (let i = 0; i <= guess_limits.code.soft_per_minute; i++) {
      for (const [path, body] of by_code) {
        const again = await pos(biz.terminal_key, 'POST', path, body);
        expect([again.status, again.headers.get('idempotent-replayed')], again.text).toEqual([201, 'true']);
      }
    }
    // Counted, a wrong code now would be past the minute's soft limit: 429.
    const next = await pos(biz.terminal_key, 'POST', '/v1/purchases', { reference: ref(), cim: { type: 'wallet_code', value: wrongWalletCode() }, amount: 1000, currency: 'EUR' });
    expect([next.status, next.body.code], next.text).toEqual([404, 'contact_not_found']);
  });

  it('retries of an approved purchase paying with a code gone since (an OTP expired or lost with Redis, a wallet code rotated) replay it and count no guess', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const by_otp = { reference: ref(), cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', pay: { amount: 300, otp: await otpOf(biz, c, 300) } };
    expect((await pos(biz.terminal_key, 'POST', '/v1/purchases', by_otp)).status).toBe(201);
    await gw.processor.stores.redis.del(otpIndexKey(biz.business_id, by_otp.pay.otp));
    const by_code = { reference: ref(), cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', pay: { amount: 100, wallet_code: c.wallet_code } };
    expect((await pos(biz.terminal_key, 'POST', '/v1/purchases', by_code)).status).toBe(201);
    expect((await call(gw, 'POST', `/v1/contacts/${c.id}/wallet-code`, biz.admin_key)).status).toBe(201);
    // The customer's next OTP, asked for while the terminal retries.
    const next = await otpOf(biz, c, 100);
    for (let i = 0; i <= guess_limits.otp.pair_per_day; i++) {
      for (const body of [by_otp, by_code]) {
        const again = await pos(biz.terminal_key, 'POST', '/v1/purchases', body);
        expect([again.status, again.headers.get('idempotent-replayed')], again.text).toEqual([201, 'true']);
      }
    }
    // Nothing counted: the customer's OTP still pays a purchase there (a wrong try against the
    // contact's OTPs would have voided it at the third), and a fresh one a spend.
    const fresh = await pos(biz.terminal_key, 'POST', '/v1/purchases', { reference: ref(), cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', pay: { amount: 100, otp: next } });
    expect(fresh.status, fresh.text).toBe(201);
    const spend = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp: await otpOf(biz, c, 100) });
    expect(spend.status, spend.text).toBe(201);
    // Nor wallet-code guesses: past the minute's soft limit a wrong one would be 429.
    const rotated = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code });
    expect([rotated.status, rotated.body.code], rotated.text).toEqual([422, 'wallet_code_invalid']);
  });

  it('fifty spends raced on one right OTP: one approved, the rest 422 otp_invalid, none counted; the next right OTP at that terminal is approved (a black-box probe)', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const otp = await otpOf(biz, c, 500);
    const raced = await Promise.all(Array.from({ length: 50 }, () => pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp })));
    const outcomes = raced.map((r) => (r.status === 201 ? '201' : `${r.status} ${r.body.code}`));
    expect(outcomes.filter((o) => o === '201')).toHaveLength(1);
    expect(outcomes.filter((o) => o !== '201')).toEqual(Array(49).fill('422 otp_invalid'));
    const counts = await Promise.all(guessCountersOf(biz.business_id, 'otp', { terminal_id: biz.terminal_id, source: '198.51.100.1' }, gw.processor.stores.clock.now()).keys.map((k) => gw.processor.stores.redis.get(k)));
    expect(counts.every((n) => n === null || n === '0')).toBe(true);
    const fresh = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp: await otpOf(biz, c, 100) });
    expect(fresh.status, fresh.text).toBe(201);
    expect(await openBalance(biz, c)).toBe(800);
  });

  it('wrong OTPs at a terminal do not stop a right one there: past the soft limit wrong ones are answered 429, the right one is approved', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const otp = await otpOf(biz, c, 300);
    for (let i = 0; i < guess_limits.otp.soft_per_minute; i++) {
      const wrong = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp: wrongOtp(otp, i) });
      expect(wrong.body.code).toBe('otp_invalid');
    }
    const limited = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp: wrongOtp(otp, 99) });
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    const right = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 300, currency: 'EUR', otp });
    expect(right.status).toBe(201);
    expect(await openBalance(biz, c)).toBe(700);
  });

  it('past the day’s limit for a terminal and source every OTP spend from there is refused, changing nothing; a purchase paying by OTP, another source and the next day are served', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const otp = await otpOf(biz, c, 300);
    for (let i = 0; i < guess_limits.otp.pair_per_day; i++) {
      const wrong = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp: wrongOtp(otp, i) }, '203.0.113.50');
      expect([422, 429]).toContain(wrong.status);
    }
    const reference = ref();
    const locked = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference, amount: 100, currency: 'EUR', otp }, '203.0.113.50');
    expect(locked.status).toBe(429);
    expect(locked.body.code).toBe('rate_limited');
    expect(await openBalance(biz, c)).toBe(1000);
    // Nothing was claimed: the reference is free for another request, and the OTP is still live.
    const elsewhere = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference, amount: 150, currency: 'EUR', otp }, '203.0.113.51');
    expect(elsewhere.status).toBe(201);
    expect(await openBalance(biz, c)).toBe(850);
    // A purchase names its contact: its OTP is tried against that contact's own, whatever the terminal guessed.
    const second = await otpOf(biz, c, 200);
    const paid = await pos(biz.terminal_key, 'POST', '/v1/purchases', { reference: ref(), cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', pay: { amount: 200, otp: second } }, '203.0.113.50');
    expect(paid.status).toBe(201);
    expect(paid.body.paid_from_wallet).toBe(200);
    const next_day = await later(day_ms, async () => {
      const third = await otpOf(biz, c, 100);
      return pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp: third }, '203.0.113.50');
    });
    expect(next_day.status).toBe(201);
  });

  it('wrong OTPs from many sources lock the terminal for every source, and no other terminal', async () => {
    const biz = await business();
    const other_key = await secondTerminal(biz);
    const c = await contact(biz, 1000);
    const otp = await otpOf(biz, c, 100);
    for (let i = 0; i < guess_limits.otp.terminal_per_day; i++) {
      await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp: wrongOtp(otp, i) }, `10.1.0.${i + 1}`);
    }
    const fresh_source = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp }, '10.2.0.1');
    expect(fresh_source.status).toBe(429);
    const other_terminal = await pos(other_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp }, '10.2.0.1');
    expect(other_terminal.status).toBe(201);
  });

  it(`an OTP dies after ${otp_tries_max} wrong tries against its contact, whichever terminal and source tried; a new one works`, async () => {
    const biz = await business();
    const other_key = await secondTerminal(biz);
    const c = await contact(biz, 1000);
    const otp = await otpOf(biz, c, 300);
    for (let i = 0; i < otp_tries_max; i++) {
      const key = i % 2 === 0 ? biz.terminal_key : other_key;
      const wrong = await pos(key, 'POST', '/v1/purchases', { reference: ref(), cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', pay: { amount: 100, otp: wrongOtp(otp, i) } }, `10.3.0.${i + 1}`);
      expect(wrong.status).toBe(422);
      expect(wrong.body.code).toBe('otp_invalid');
    }
    const dead = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', otp }, '10.3.0.9');
    expect(dead.status).toBe(422);
    expect(dead.body.code).toBe('otp_invalid');
    const dead_in_purchase = await pos(biz.terminal_key, 'POST', '/v1/purchases', { reference: ref(), cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', pay: { amount: 100, otp } }, '10.3.0.9');
    expect(dead_in_purchase.body.code).toBe('otp_invalid');
    expect(await openBalance(biz, c)).toBe(1000); // the purchases were refused whole: nothing paid, nothing awarded
    const fresh = await otpOf(biz, c, 300);
    expect((await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 300, currency: 'EUR', otp: fresh }, '10.3.0.9')).status).toBe(201);
  });
});

describe('wallet-code guesses', () => {
  it('per terminal and source: soft limit answers wrong ones 429 and passes right ones; at the day’s limit that source is refused, others are not; the next day it is served again', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const spend = (wallet_code: string, source: string, reference = ref()) => pos(biz.terminal_key, 'POST', '/v1/spends', { reference, amount: 100, currency: 'EUR', wallet_code }, source);
    const l = guess_limits.code;
    for (let i = 0; i < l.soft_per_minute; i++) expect((await spend(wrongWalletCode(), '192.0.2.10')).body.code).toBe('wallet_code_invalid');
    expect((await spend(wrongWalletCode(), '192.0.2.10')).status).toBe(429);
    expect((await spend(c.wallet_code, '192.0.2.10')).status).toBe(201);
    for (let i = l.soft_per_minute + 1; i < l.pair_per_day; i++) expect((await spend(wrongWalletCode(), '192.0.2.10')).status).toBe(429);
    const reference = ref();
    const locked = await spend(c.wallet_code, '192.0.2.10', reference);
    expect(locked.status).toBe(429);
    expect(locked.body.code).toBe('rate_limited');
    // A purchase paying by wallet code from there: refused too, nothing paid, nothing awarded.
    const paying = await pos(biz.terminal_key, 'POST', '/v1/purchases', { reference: ref(), cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', pay: { amount: 100, wallet_code: c.wallet_code } }, '192.0.2.10');
    expect(paying.status).toBe(429);
    expect(await openBalance(biz, c)).toBe(900);
    expect((await spend(c.wallet_code, '192.0.2.11', reference)).status).toBe(201);
    expect(await later(day_ms, () => spend(c.wallet_code, '192.0.2.10'))).toMatchObject({ status: 201 });
    expect(await openBalance(biz, c)).toBe(700);
  });

  it('per terminal: wrong codes from many sources lock the terminal; per source: across the business’s terminals', async () => {
    const biz = await business();
    const other_key = await secondTerminal(biz);
    const c = await contact(biz, 1000);
    const l = guess_limits.code;
    const sources = Math.ceil(l.terminal_per_day / l.pair_per_day);
    for (let s = 0; s < sources; s++) {
      for (let i = 0; i < l.pair_per_day; i++) await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 1, currency: 'EUR', wallet_code: wrongWalletCode() }, `10.4.${s}.1`);
    }
    expect((await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code }, '10.5.0.1')).status).toBe(429);
    expect((await pos(other_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code }, '10.5.0.1')).status).toBe(201);

    // One source's wrong codes at other terminals, as a source at its day's limit would leave them.
    const counters = guessCountersOf(biz.business_id, 'code', { terminal_id: biz.terminal_id, source: '10.6.0.1' }, Date.now());
    await gw.processor.stores.redis.set(counters.keys[3]!, String(l.source_per_day - 1));
    expect((await pos(other_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: wrongWalletCode() }, '10.6.0.1')).body.code).toBe('wallet_code_invalid');
    expect((await pos(other_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code }, '10.6.0.1')).status).toBe(429);
    expect((await pos(other_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code }, '10.6.0.2')).status).toBe(201);
    expect(await openBalance(biz, c)).toBe(800);
  });
});

describe('codes sent at once', () => {
  // Until 2026-12-04 each code was counted before its lookup and given back if right, so more
  // right codes in flight at one terminal than its day's limit were refused 429 (a black-box
  // probe: 256 on one WebSocket, 133 approved).
  it('right codes, more at once than the day’s limit for the terminal and source: every one approved, none counted', async () => {
    const biz = await business();
    const c = await contact(biz);
    const l = guess_limits.code;
    const n = l.pair_per_day * 2 + 56;
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) => pos(biz.terminal_key, 'POST', '/v1/purchases', { reference: ref(), cim: { type: i % 2 === 0 ? 'wallet_code' : 'contact_code', value: i % 2 === 0 ? c.wallet_code : c.code }, amount: 100, currency: 'EUR' }, '192.0.2.40')),
    );
    expect(answers.filter((a) => a.status !== 201).map((a) => a.text)).toEqual([]);
    const counters = guessCountersOf(biz.business_id, 'code', { terminal_id: biz.terminal_id, source: '192.0.2.40' }, gw.processor.stores.clock.now());
    // Nothing counted, nothing left reserved (a key is deleted at zero).
    expect(await gw.processor.stores.redis.exists([...counters.keys, ...counters.pending_keys])).toBe(0);
  });

  it('wrong codes, more at once than the day’s limit: exactly the limit are tried, the rest refused 429 untried, and a right code after them is refused', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const l = guess_limits.code;
    const answers = await Promise.all(
      Array.from({ length: l.pair_per_day * 3 }, () => pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: wrongWalletCode() }, '192.0.2.41')),
    );
    expect(answers.every((a) => a.status === 429 || a.body.code === 'wallet_code_invalid')).toBe(true);
    // Past the soft limit a wrong code tried is answered 429 too: the counter says how many were tried.
    const counters = guessCountersOf(biz.business_id, 'code', { terminal_id: biz.terminal_id, source: '192.0.2.41' }, gw.processor.stores.clock.now());
    expect(await gw.processor.stores.redis.get(counters.keys[1]!)).toBe(String(l.pair_per_day));
    expect(answers.filter((a) => a.body.code === 'wallet_code_invalid')).toHaveLength(l.soft_per_minute);
    expect(await gw.processor.stores.redis.exists([...counters.pending_keys])).toBe(0);
    const right = await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code }, '192.0.2.41');
    expect(right.status).toBe(429);
    expect(await openBalance(biz, c)).toBe(1000);
  });
});

describe('contact-code guesses', () => {
  it('lookups, purchases and redemptions by contact code: counted per terminal and source, refused past the limit without a change; an admin key is never limited', async () => {
    const biz = await business();
    const c = await contact(biz, 0);
    const l = guess_limits.code;
    const lookup = (code: string, source: string) => pos(biz.terminal_key, 'GET', `/v1/wallets?cim_type=contact_code&cim_value=${code}`, undefined, source);
    for (let i = 0; i < l.soft_per_minute; i++) expect((await lookup(wrongContactCode(), '192.0.2.20')).body.code).toBe('contact_not_found');
    expect((await lookup(wrongContactCode(), '192.0.2.20')).status).toBe(429);
    expect(await lookup(c.code, '192.0.2.20')).toMatchObject({ status: 200, body: { contact_id: c.id } });
    for (let i = l.soft_per_minute + 1; i < l.pair_per_day; i++) {
      const body = { reference: ref(), cim: { type: 'contact_code', value: wrongContactCode() }, ...(i % 2 === 0 ? { amount: 1000, currency: 'EUR' } : {}) };
      expect((await pos(biz.terminal_key, 'POST', i % 2 === 0 ? '/v1/purchases' : '/v1/redemptions', body, '192.0.2.20')).status).toBe(429);
    }
    const reference = ref();
    const locked = await pos(biz.terminal_key, 'POST', '/v1/purchases', { reference, cim: { type: 'contact_code', value: c.code }, amount: 1000, currency: 'EUR' }, '192.0.2.20');
    expect(locked.status).toBe(429);
    expect((await lookup(c.code, '192.0.2.20')).status).toBe(429);
    const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect(w.body).toMatchObject({ open: 0, commerce: 0 });
    // The refused purchase claimed nothing: its reference serves another body from another source.
    const elsewhere = await pos(biz.terminal_key, 'POST', '/v1/purchases', { reference, cim: { type: 'contact_code', value: c.code }, amount: 2000, currency: 'EUR' }, '192.0.2.21');
    expect(elsewhere.status).toBe(201);
    expect(elsewhere.body.wallet).toEqual({ open: 0, commerce: 200 });
    const admin = await call(gw, 'GET', `/v1/wallets?cim_type=contact_code&cim_value=${c.code}`, biz.admin_key, undefined, { 'x-forwarded-for': '192.0.2.20' });
    expect(admin.status).toBe(200);
    expect(await later(day_ms, () => lookup(c.code, '192.0.2.20'))).toMatchObject({ status: 200 });
  });
});

describe('quotes and the WebSocket terminal channel', () => {
  /** The day's count of wrong codes at the business's terminal from `source`, or null. */
  const pairCount = (biz: BusinessFixture, source: string) =>
    gw.processor.stores.redis.get(guessCountersOf(biz.business_id, 'code', { terminal_id: biz.terminal_id, source }, Date.now()).keys[1]!);

  it('a quote by contact or wallet code is a guess as the purchase’s: wrong ones counted per terminal and source, 429 past the soft limit; a right one is quoted and not counted', async () => {
    const biz = await business();
    const c = await contact(biz, 0);
    const l = guess_limits.code;
    const quote = (cim: { type: string; value: string }, source: string) => pos(biz.terminal_key, 'POST', '/v1/purchases/quote', { cim, amount: 1000, currency: 'EUR' }, source);
    for (let i = 0; i < l.soft_per_minute; i++) {
      const cim = i % 2 === 0 ? { type: 'contact_code', value: wrongContactCode() } : { type: 'wallet_code', value: wrongWalletCode() };
      expect((await quote(cim, '192.0.2.40')).body.code).toBe('contact_not_found');
    }
    expect((await quote({ type: 'contact_code', value: wrongContactCode() }, '192.0.2.40')).status).toBe(429);
    expect(await quote({ type: 'contact_code', value: c.code }, '192.0.2.40')).toMatchObject({ status: 200, body: { contact_id: c.id, awards: [{ amount: 100 }] } });
    expect(await quote({ type: 'wallet_code', value: c.wallet_code }, '192.0.2.40')).toMatchObject({ status: 200, body: { contact_id: c.id } });
    expect(await pairCount(biz, '192.0.2.40')).toBe(String(l.soft_per_minute + 1));
    // At the day's limit for the pair, a right code is refused too (a quote is no way round it).
    const counters = guessCountersOf(biz.business_id, 'code', { terminal_id: biz.terminal_id, source: '192.0.2.41' }, Date.now());
    await gw.processor.stores.redis.set(counters.keys[1]!, String(l.pair_per_day));
    expect((await quote({ type: 'contact_code', value: c.code }, '192.0.2.41')).status).toBe(429);
    // A card is no guess.
    expect((await quote({ type: 'card', value: c.card }, '192.0.2.41')).status).toBe(200);
  });

  it('an admin key’s POS calls for a terminal (Pocketgate-Terminal) are counted as that terminal’s, against the request’s source: quotes and spends', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const l = guess_limits.code;
    const admin = (path: string, body: unknown, source: string) => call(gw, 'POST', path, biz.admin_key, body, { 'x-forwarded-for': source, 'pocketgate-terminal': biz.terminal_id });
    for (let i = 0; i < l.soft_per_minute; i++) {
      const wrong = i % 2 === 0
        ? await admin('/v1/purchases/quote', { cim: { type: 'contact_code', value: wrongContactCode() }, amount: 1000, currency: 'EUR' }, '192.0.2.60')
        : await admin('/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: wrongWalletCode() }, '192.0.2.60');
      expect(wrong.body.code).toBe(i % 2 === 0 ? 'contact_not_found' : 'wallet_code_invalid');
    }
    expect(await pairCount(biz, '192.0.2.60')).toBe(String(l.soft_per_minute));
    expect(await pairCount(biz, '192.0.2.61')).toBeNull();
    // The terminal's minute is spent: its own wrong codes are answered 429, from any source.
    expect((await pos(biz.terminal_key, 'POST', '/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: wrongWalletCode() }, '192.0.2.61')).body.code).toBe('rate_limited');
    expect(await pairCount(biz, '192.0.2.61')).toBe('1');
    // Right codes pass: quoted, and spent as the terminal's transaction, made_by admin.
    expect(await admin('/v1/purchases/quote', { cim: { type: 'contact_code', value: c.code }, amount: 1000, currency: 'EUR' }, '192.0.2.60')).toMatchObject({ status: 200, body: { contact_id: c.id, awards: [{ amount: 100 }] } });
    const spent = await admin('/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code }, '192.0.2.60');
    expect(spent.status, spent.text).toBe(201);
    expect((await call(gw, 'GET', `/v1/transactions/${spent.body.id}`, biz.admin_key)).body).toMatchObject({ terminal_id: biz.terminal_id, made_by: 'admin' });
    expect(await openBalance(biz, c)).toBe(900);
  });

  it('WebSocket requests are counted against the upgrade’s client address (X-Forwarded-For behind TRUST_PROXY_HOPS, as HTTP), every command that presents a code', async () => {
    const biz = await business();
    const c = await contact(biz, 1000);
    const client = await TerminalClient.open(gw.port, biz.terminal_key, [], { 'x-forwarded-for': '6.6.6.6, 192.0.2.50' });
    try {
      const wrong = { type: 'contact_code', value: wrongContactCode() };
      expect((await client.request('w', 'wallet', { cim: wrong })).body.code).toBe('contact_not_found');
      expect((await client.request('q', 'purchase.quote', { cim: wrong, amount: 1000, currency: 'EUR' })).body.code).toBe('contact_not_found');
      expect((await client.request('p', 'purchase', { reference: ref(), cim: wrong, amount: 1000, currency: 'EUR' })).body.code).toBe('contact_not_found');
      expect((await client.request('r', 'redemption', { reference: ref(), cim: wrong })).body.code).toBe('contact_not_found');
      expect((await client.request('s', 'spend', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: wrongWalletCode() })).body.code).toBe('wallet_code_invalid');
      expect(await pairCount(biz, '192.0.2.50')).toBe('5');
      expect(await pairCount(biz, '6.6.6.6')).toBeNull();
      expect(await pairCount(biz, '127.0.0.1')).toBeNull();
      expect(await client.request('w2', 'wallet', { cim: { type: 'contact_code', value: c.code } })).toMatchObject({ status: 200, body: { contact_id: c.id, open: 1000 } });
      expect((await client.request('s2', 'spend', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code })).status).toBe(201);
      expect(await pairCount(biz, '192.0.2.50')).toBe('5');
      // Locked out from that address: the same terminal from another is served.
      await gw.processor.stores.redis.set(guessCountersOf(biz.business_id, 'code', { terminal_id: biz.terminal_id, source: '192.0.2.50' }, Date.now()).keys[1]!, String(guess_limits.code.pair_per_day));
      expect((await client.request('w3', 'wallet', { cim: { type: 'contact_code', value: c.code } })).status).toBe(429);
      expect((await pos(biz.terminal_key, 'GET', `/v1/wallets?cim_type=contact_code&cim_value=${c.code}`, undefined, '192.0.2.51')).status).toBe(200);
    } finally {
      await client.close();
    }
  });
});

describe('ISO 8583', () => {
  let iso: IsoClient;
  let biz: BusinessFixture;
  let stan = 0;
  const acquirer = randomAcquirerId();

  beforeAll(async () => {
    biz = await business();
    await linkAcquirer(gw, biz, acquirer);
    iso = await connectIso(gw.iso8583_port);
  });
  afterAll(async () => {
    await iso?.close();
  });

  const request = (values: Record<number, string>) =>
    createMessage('0200', { 3: '000000', 7: '1124101500', 11: String(++stan).padStart(6, '0'), 32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' '), 49: '978', ...values });
  const amount = (minor: number) => String(minor).padStart(12, '0');

  it('OTPs in DE48 are counted against the terminal and the peer: 55 for wrong ones, the right one approved', async () => {
    const c = await contact(biz, 1000);
    const otp = await otpOf(biz, c, 300);
    for (let i = 0; i <= guess_limits.otp.soft_per_minute; i++) expect((await iso.send(request({ 4: amount(100), 48: `OTP=${wrongOtp(otp, i)};` }))).fields[39]).toBe('55');
    const counters = guessCountersOf(biz.business_id, 'otp', { terminal_id: biz.terminal_id, source: '127.0.0.1' }, Date.now());
    expect(Number(await gw.processor.stores.redis.get(counters.keys[1]!))).toBe(guess_limits.otp.soft_per_minute + 1);
    expect((await iso.send(request({ 4: amount(300), 48: `OTP=${otp};` }))).fields[39]).toBe('00');
  });

  it('a DE2 that is no card is a wallet-code guess; past its limit DE2 is taken for a card: 14, nothing spent', async () => {
    const c = await contact(biz, 1000);
    expect((await iso.send(request({ 2: c.wallet_code, 4: amount(100) }))).fields[39]).toBe('00');
    const counters = guessCountersOf(biz.business_id, 'card_or_code', { terminal_id: biz.terminal_id, source: '127.0.0.1' }, Date.now());
    expect((await iso.send(request({ 2: wrongWalletCode(), 4: amount(100) }))).fields[39]).toBe('14');
    expect(await gw.processor.stores.redis.get(counters.keys[1]!)).toBe('1');
    await gw.processor.stores.redis.set(counters.keys[1]!, String(guess_limits.card_or_code.pair_per_day));
    expect((await iso.send(request({ 2: c.wallet_code, 4: amount(100) }))).fields[39]).toBe('14');
    expect(await openBalance(biz, c)).toBe(900);
  });
});
