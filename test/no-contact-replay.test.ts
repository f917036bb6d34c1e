// A request refused for a CIM no contact has is remembered under its reference (API.md: "A
// repeat of the same terminal + reference + body returns the original status and body";
// ISO8583.md: "A retransmission with identical content gets the original reply; different
// content under the same key gets 94"). It was decided again: once the card was enrolled, the
// repeat of a purchase refused 404 (ISO 8583: 14) was approved and awarded, and another body
// under its reference was processed (two black-box probes, 2026-12-05).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage } from '../adapters/iso8583/codec.ts';
import { otpIndexKey } from '../processor/hot/keys.ts';
import { referenceSlot } from '../processor/hot/references.ts';
import { rememberOnShard } from '../processor/refusals.ts';
import { linkAcquirer, randomAcquirerId } from './acquirer.ts';
import { call, closeAll, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let iso: IsoClient;
const acquirer = randomAcquirerId();
let seq = 0;
const ref = () => `ncr-${process.pid}-${Date.now()}-${++seq}`;

beforeAll(async () => {
  gw = await startTestGateway({}, true, true);
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10% back', goal: 'spend', award: { percent: 10 } });
  expect(o.status).toBe(201);
  await linkAcquirer(gw, biz, acquirer);
  iso = await connectIso(gw.iso8583_port);
});
afterAll(async () => {
  await closeAll(iso, gw);
});

const pos = (path: string, body: object) => call(gw, 'POST', path, biz.terminal_key, body);

describe('a request refused for a CIM no contact has', () => {
  it('a purchase: its repeat is refused the same and replayed, before and after the card is enrolled; another body is 409', async () => {
    const card = testCard(882_000_001);
    const body = { reference: ref(), cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' };
    const first = await pos('/v1/purchases', body);
    expect([first.status, first.body.code, first.headers.get('idempotent-replayed')]).toEqual([404, 'contact_not_found', null]);
    const again = await pos('/v1/purchases', body);
    expect([again.status, again.text, again.headers.get('idempotent-replayed')]).toEqual([404, first.text, 'true']);
    const other = await pos('/v1/purchases', { ...body, amount: 2000 });
    expect([other.status, other.body.code]).toEqual([409, 'idempotency_conflict']);

    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(c.status).toBe(201);
    const enrolled = await pos('/v1/purchases', body);
    expect([enrolled.status, enrolled.text, enrolled.headers.get('idempotent-replayed')]).toEqual([404, first.text, 'true']);
    const w = await call(gw, 'GET', `/v1/contacts/${c.body.id}/wallet`, biz.admin_key);
    expect([w.body.open, w.body.commerce]).toEqual([0, 0]);
    // Its reference names no transaction: a refund or reversal of it finds no original (it was
    // run on no contact's shard, and refused contact_not_found).
    for (const path of ['/v1/refunds', '/v1/reversals']) {
      const r = await pos(path, { reference: ref(), original_reference: body.reference });
      expect([r.status, r.body.code], path).toEqual([404, 'original_not_found']);
    }
    // A new reference is a new request: approved.
    const fresh = await pos('/v1/purchases', { ...body, reference: ref() });
    expect(fresh.status, fresh.text).toBe(201);
  });

  it('a purchase paying from the wallet, and a redemption: the same', async () => {
    const card = testCard(882_000_002);
    const redemption = { reference: ref(), cim: { type: 'card', value: card } };
    const paying = { reference: ref(), cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR', pay: { amount: 100, otp: '123456' } };
    for (const [path, body] of [['/v1/redemptions', redemption], ['/v1/purchases', paying]] as const) {
      const first = await pos(path, body);
      expect([first.status, first.body.code], path).toEqual([404, 'contact_not_found']);
    }
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(c.status).toBe(201);
    for (const [path, body] of [['/v1/redemptions', redemption], ['/v1/purchases', paying]] as const) {
      const again = await pos(path, body);
      expect([again.status, again.body.code, again.headers.get('idempotent-replayed')], path).toEqual([404, 'contact_not_found', 'true']);
    }
  });

  it('is journaled, so that the ledger (and a rebuild) remembers it', async () => {
    const body = { reference: ref(), cim: { type: 'card', value: testCard(882_000_003) }, amount: 1000, currency: 'EUR' };
    expect((await pos('/v1/purchases', body)).status).toBe(404);
    const sql = gw.processor.stores.sql;
    const rows = await eventually('the refusal in the ledger', async () => {
      const found = await sql<{ code: string; contact_id: string }[]>`select code, contact_id from ledger_refusals where terminal_id = ${biz.terminal_id} and reference = ${body.reference}`;
      return found.length > 0 && found;
    });
    expect(rows.map((r) => ({ ...r }))).toEqual([{ code: 'contact_not_found', contact_id: '' }]);
  });

  it('ISO 8583: a 0200 answered 14 is answered 14 again once the card is enrolled; other content under its key is 94', async () => {
    const card = testCard(882_000_004);
    const sale = (amount: string) => createMessage('0200', { 2: card, 3: '000000', 4: amount, 7: '1205120000', 11: '000417', 32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' '), 49: '978' });
    expect((await iso.send(sale('000000001000'))).fields[39]).toBe('14');
    expect((await iso.send(sale('000000002000'))).fields[39]).toBe('94');
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(c.status).toBe(201);
    expect((await iso.send(sale('000000001000'))).fields[39]).toBe('14');
    const w = await call(gw, 'GET', `/v1/contacts/${c.body.id}/wallet`, biz.admin_key);
    expect([w.body.open, w.body.commerce]).toEqual([0, 0]);
  });
});

// The same for a spend whose OTP or wallet code names no wallet (422 otp_invalid,
// wallet_code_invalid): decided again until the second session of 2026-12-05, so its repeat was
// not marked replayed and another body under its reference was processed, where a refusal on the
// merits (insufficient_funds) was remembered (a black-box probe of bad input).
describe('a spend whose code names no wallet', () => {
  const funded = async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, {});
    expect(c.status).toBe(201);
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: ref(), cim: { type: 'wallet_code', value: c.body.wallet_code }, amount: 10_000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    const r = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: ref(), cim: { type: 'wallet_code', value: c.body.wallet_code } });
    expect([r.status, r.body.redeemed], r.text).toEqual([201, 1000]);
    return c.body as { id: string; wallet_code: string };
  };
  const open = async (id: string) => (await call(gw, 'GET', `/v1/contacts/${id}/wallet`, biz.admin_key)).body.open;

  it('an OTP: its repeat is refused the same and replayed, even once the code names a wallet; another body is 409', async () => {
    const c = await funded();
    const issued = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 500 });
    expect(issued.status).toBe(201);
    // The code unknown for a moment (as a mistyped one is), then known again: the same request's repeat.
    const redis = gw.processor.stores.redis;
    const index = otpIndexKey(biz.business_id, issued.body.otp);
    const holder = await redis.get(index);
    expect(holder).toBe(c.id);
    await redis.del(index);
    const body = { reference: ref(), amount: 100, currency: 'EUR', otp: issued.body.otp };
    const first = await pos('/v1/spends', body);
    expect([first.status, first.body.code, first.headers.get('idempotent-replayed')]).toEqual([422, 'otp_invalid', null]);
    const again = await pos('/v1/spends', body);
    expect([again.status, again.text, again.headers.get('idempotent-replayed')]).toEqual([422, first.text, 'true']);
    await redis.set(index, holder!, { EX: 600 });
    const known = await pos('/v1/spends', body);
    expect([known.status, known.text, known.headers.get('idempotent-replayed')]).toEqual([422, first.text, 'true']);
    expect(await open(c.id)).toBe(1000);
    const other = await pos('/v1/spends', { ...body, amount: 200 });
    expect([other.status, other.body.code]).toEqual([409, 'idempotency_conflict']);
    // The code itself still works under a new reference.
    const spent = await pos('/v1/spends', { ...body, reference: ref() });
    expect([spent.status, spent.body.spent], spent.text).toEqual([201, 100]);
  });

  it('a wallet code, unknown or not even one (15 digits): the same, and journaled', async () => {
    const c = await funded();
    const unknown = `${c.wallet_code.slice(0, 15)}${(Number(c.wallet_code[15]) + 5) % 10}`; // Luhn fails: names no wallet
    for (const wallet_code of [unknown, c.wallet_code.slice(0, 15)]) {
      const body = { reference: ref(), amount: 100, currency: 'EUR', wallet_code };
      const first = await pos('/v1/spends', body);
      expect([first.status, first.body.code], wallet_code).toEqual([422, 'wallet_code_invalid']);
      const again = await pos('/v1/spends', body);
      expect([again.status, again.text, again.headers.get('idempotent-replayed')]).toEqual([422, first.text, 'true']);
      const other = await pos('/v1/spends', { ...body, wallet_code: c.wallet_code });
      expect([other.status, other.body.code]).toEqual([409, 'idempotency_conflict']);
      const sql = gw.processor.stores.sql;
      const rows = await eventually('the refusal in the ledger', async () => {
        const found = await sql<{ code: string; contact_id: string }[]>`select code, contact_id from ledger_refusals where terminal_id = ${biz.terminal_id} and reference = ${body.reference}`;
        return found.length > 0 && found;
      });
      expect(rows.map((r) => ({ ...r }))).toEqual([{ code: 'wallet_code_invalid', contact_id: '' }]);
    }
    expect(await open(c.id)).toBe(1000);
  });
});

// A purchase refused for its payment code (pay.otp, pay.wallet_code) after its CIM named the
// contact: decided again until 2026-12-06, so its repeat was not replayed, another body under its
// reference was approved, and three repeats of one wrong OTP voided the customer's OTPs (an
// idempotency probe).
describe('a purchase refused for its payment code', () => {
  const funded = async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, {});
    expect(c.status).toBe(201);
    const p = await pos('/v1/purchases', { reference: ref(), cim: { type: 'wallet_code', value: c.body.wallet_code }, amount: 10_000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    const r = await pos('/v1/redemptions', { reference: ref(), cim: { type: 'wallet_code', value: c.body.wallet_code } });
    expect(r.status, r.text).toBe(201);
    return c.body as { id: string; wallet_code: string };
  };

  it('a wrong OTP: its repeats are refused the same and replayed, leave the customer’s OTP alive, and another body is 409; journaled with its contact', async () => {
    const c = await funded();
    const issued = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 300 });
    expect(issued.status).toBe(201);
    const wrong = String((Number(issued.body.otp) + 1) % 1_000_000).padStart(6, '0');
    const body = { reference: ref(), cim: { type: 'wallet_code', value: c.wallet_code }, amount: 5_000, currency: 'EUR', pay: { amount: 100, otp: wrong } };
    const first = await pos('/v1/purchases', body);
    expect([first.status, first.body.code, first.headers.get('idempotent-replayed')]).toEqual([422, 'otp_invalid', null]);
    for (let i = 0; i < 3; i++) {
      const again = await pos('/v1/purchases', body);
      expect([again.status, again.text, again.headers.get('idempotent-replayed')]).toEqual([422, first.text, 'true']);
    }
    const other = await pos('/v1/purchases', { ...body, amount: 7_000, pay: { amount: 300, otp: issued.body.otp } });
    expect([other.status, other.body.code], other.text).toEqual([409, 'idempotency_conflict']);
    const sql = gw.processor.stores.sql;
    const rows = await eventually('the refusal in the ledger', async () => {
      const found = await sql<{ code: string; contact_id: string }[]>`select code, contact_id from ledger_refusals where terminal_id = ${biz.terminal_id} and reference = ${body.reference}`;
      return found.length > 0 && found;
    });
    expect(rows.map((r) => ({ ...r }))).toEqual([{ code: 'otp_invalid', contact_id: c.id }]);
    // The customer's code was tried once: still alive, it pays under a new reference.
    const paid = await pos('/v1/purchases', { ...body, reference: ref(), pay: { amount: 300, otp: issued.body.otp } });
    expect([paid.status, paid.body.paid_from_wallet], paid.text).toEqual([201, 300]);
  });

  it('a wallet code no wallet has: the same', async () => {
    const c = await funded();
    const body = { reference: ref(), cim: { type: 'wallet_code', value: c.wallet_code }, amount: 5_000, currency: 'EUR', pay: { amount: 100, wallet_code: testCard(882_100_001) } };
    const first = await pos('/v1/purchases', body);
    expect([first.status, first.body.code]).toEqual([422, 'wallet_code_invalid']);
    const again = await pos('/v1/purchases', body);
    expect([again.status, again.text, again.headers.get('idempotent-replayed')]).toEqual([422, first.text, 'true']);
    const other = await pos('/v1/purchases', { ...body, pay: undefined });
    expect([other.status, other.body.code], other.text).toEqual([409, 'idempotency_conflict']);
  });

  it('is never written over a record a copy\'s shard script wrote: an approved purchase keeps its reply (the review)', async () => {
    const c = await funded();
    const issued = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 300 });
    const body = { reference: ref(), cim: { type: 'wallet_code', value: c.wallet_code }, amount: 5_000, currency: 'EUR', pay: { amount: 300, otp: issued.body.otp } };
    const approved = await pos('/v1/purchases', body);
    expect(approved.status, approved.text).toBe(201);
    // A copy refused for its code (the OTP used by the first since) remembering its refusal late.
    const stores = gw.processor.stores;
    const slot = referenceSlot(stores.config, biz.terminal_id, body.reference, stores.clock.now());
    const written = await rememberOnShard(stores, gw.processor.contacts.shardOf(c.id), { business_id: biz.business_id, slot, request_hash: 'x', contact_id: c.id }, 'otp_invalid');
    expect(written).toBe(false);
    const again = await pos('/v1/purchases', body);
    expect([again.status, again.text, again.headers.get('idempotent-replayed')]).toEqual([201, approved.text, 'true']);
    const reversed = await pos('/v1/reversals', { reference: ref(), original_reference: body.reference });
    expect(reversed.status, reversed.text).toBe(201);
  });
});
