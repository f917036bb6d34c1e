// Every row of spec/ISO8583.md's mapping table, end to end over a real socket, against real
// Redis and PostgreSQL: the same transactions and wallet effects as the HTTP API.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage, type IsoMessage } from '../adapters/iso8583/codec.ts';
import { decodeAdditionalAmounts } from '../adapters/iso8583/additional-amounts.ts';
import { formatOriginalData } from '../adapters/iso8583/original-data.ts';
import { isoReference } from '../adapters/iso8583/mapping.ts';
import { randomAcquirerId } from './acquirer.ts';
import { createCardContact, type CardContact } from './card-contact.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let iso: IsoClient;
let stan = 0;
// One acquirer id per run, so this business is the only one linked to it even on a database
// kept from before (several businesses may link one DE32; the earliest link routes first).
const acquirer = randomAcquirerId();

beforeAll(async () => {
  gw = await startTestGateway({}, false, true);
  biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
  const link = await call(gw, 'POST', '/v1/iso8583/links', biz.admin_key, { acquirer_id: acquirer });
  expect(link.status).toBe(201);
  iso = await connectIso(gw.iso8583_port);
});
afterAll(async () => {
  await iso?.close();
  await gw?.close();
});

function nextStan(): string {
  return String(++stan).padStart(6, '0');
}

const transmission = '1124101500';

function request(mti: string, values: Record<number, string>): IsoMessage {
  return createMessage(mti, {
    7: transmission,
    11: nextStan(),
    32: acquirer,
    41: biz.terminal_code,
    42: biz.merchant_code.padEnd(15, ' '),
    49: '978',
    ...values,
  });
}

const amount = (minor: number) => String(minor).padStart(12, '0');

const contact = (seed: number): Promise<CardContact> => createCardContact(gw, biz, 700_000 + seed);

async function wallet(id: string) {
  return (await call(gw, 'GET', `/v1/contacts/${id}/wallet`, biz.admin_key)).body as { open: number; commerce: number };
}

/** Fund a contact's open balance: a purchase awarding 10%, then a redemption of it all. */
async function fund(c: { card: string }, open: number) {
  const p = await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(open * 10) }));
  expect(p.fields[39]).toBe('00');
  const r = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: `fund-${stan}`, cim: { type: 'card', value: c.card } });
  expect(r.status).toBe(201);
}

describe('network management', () => {
  it('0800 sign-on, sign-off and echo answer 0810 00', async () => {
    for (const code of ['001', '002', '301']) {
      const reply = await iso.send(createMessage('0800', { 7: transmission, 11: nextStan(), 41: biz.terminal_code, 70: code }));
      expect(reply.mti).toBe('0810');
      expect(reply.fields[39]).toBe('00');
    }
  });

  it('an 0800 whose DE7 names no date-time (month 13, hour 24, 30 February) is a format error: 30, as a 0200 is; without DE7 it is 00', async () => {
    // It was 00 (a black-box probe): DE7 is checked as the 0200's is, when present.
    for (const de7 of ['1305120000', '0001120000', '1130240000', '0230120000', '1130236000']) {
      const reply = await iso.send(createMessage('0800', { 7: de7, 11: nextStan(), 70: '301' }));
      expect([reply.mti, reply.fields[39]], de7).toEqual(['0810', '30']);
    }
    expect((await iso.send(createMessage('0800', { 11: nextStan(), 70: '301' }))).fields[39]).toBe('00');
    expect((await iso.send(createMessage('0800', { 7: '0229235959', 11: nextStan(), 70: '301' }))).fields[39]).toBe('00');
  });
});

describe('0200 purchase and 0100 balance inquiry', () => {
  it('awards the same offers as the HTTP API; DE54 90 is the award, 0110 shows both balances', async () => {
    const c = await contact(1);
    const reply = await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(2500) }));
    expect(reply.mti).toBe('0210');
    expect(reply.fields[39]).toBe('00');
    expect(reply.fields[38]).toMatch(/^[0-9A-Z]{6}$/);
    expect(reply.fields[2]).toBeUndefined(); // the PAN is never echoed
    const amounts = decodeAdditionalAmounts(reply.fields[54]!);
    expect(amounts.find((a) => a.amountType === '90')?.amount).toBe(250);
    expect(amounts.find((a) => a.amountType === '91')?.amount).toBe(0);
    expect(await wallet(c.id)).toMatchObject({ open: 0, commerce: 250 });

    const balance = await iso.send(request('0100', { 2: c.card, 3: '310000' }));
    expect(balance.mti).toBe('0110');
    expect(balance.fields[39]).toBe('00');
    const b = decodeAdditionalAmounts(balance.fields[54]!);
    expect(b.find((a) => a.amountType === '01')).toMatchObject({ amount: 0, currency: '978' });
    expect(b.find((a) => a.amountType === '02')).toMatchObject({ amount: 250, sign: 'C' });
    // An approval: DE38 is set (ISO8583.md), as on every approved reply.
    expect(balance.fields[38]).toMatch(/^[0-9A-Z]{6}$/);
  });

  it('a 0201 repeat of a 0200 is answered 0210 with the original reply, and changes nothing more', async () => {
    const c = await contact(21);
    const first = request('0200', { 2: c.card, 3: '000000', 4: amount(1000) });
    const a = await iso.send(first);
    expect(a.fields[39]).toBe('00');
    const repeat = createMessage('0201', Object.fromEntries(first.fields.map((v, i) => [i, v]).filter(([, v]) => v !== undefined)));
    const again = await iso.send(repeat);
    expect(again.mti).toBe('0210');
    expect(again.fields[39]).toBe('00');
    expect(again.fields[38]).toBe(a.fields[38]);
    expect(await wallet(c.id)).toMatchObject({ commerce: 100 });
  });

  it('a DE7 that names no date-time (month 13, hour 24, minute 60) is a format error: 30, and nothing changes', async () => {
    const c = await contact(22);
    for (const de7 of ['1301120000', '0001120000', '1132120000', '1130240000', '1130236000']) {
      const reply = await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(1000), 7: de7 }));
      expect(reply.fields[39], de7).toBe('30');
    }
    expect(await wallet(c.id)).toMatchObject({ open: 0, commerce: 0 });
  });

  it('an identical retransmission gets the original reply; different content under the same key gets 94', async () => {
    const c = await contact(2);
    const first = request('0200', { 2: c.card, 3: '000000', 4: amount(1000) });
    const a = await iso.send(first);
    const again = await iso.send(first);
    expect(again.fields[39]).toBe('00');
    expect(again.fields[38]).toBe(a.fields[38]);
    expect(await wallet(c.id)).toMatchObject({ commerce: 100 });
    const changed = createMessage('0200', { ...Object.fromEntries(first.fields.map((v, i) => [i, v]).filter(([, v]) => v !== undefined)), 4: amount(9999) });
    const conflict = await iso.send(changed);
    expect(conflict.fields[39]).toBe('94');
    // Any field, not only those a purchase reads (DE37, the retrieval reference here): 94 too.
    const other_rrn = createMessage('0200', { ...Object.fromEntries(first.fields.map((v, i) => [i, v]).filter(([, v]) => v !== undefined)), 37: 'RRN000000002' });
    expect((await iso.send(other_rrn)).fields[39]).toBe('94');
    // The very same content again: still the original reply.
    const same = await iso.send(first);
    expect(same.fields[39]).toBe('00');
    expect(same.fields[38]).toBe(a.fields[38]);
    expect(await wallet(c.id)).toMatchObject({ commerce: 100 });
  });

  it('a 0100 retransmitted gets its original reply, after a purchase too; another card under its key 94; a 0200 under its key is no retransmission of it (an ISO probe: each 0100 was answered afresh)', async () => {
    const [c, d] = [await contact(25), await contact(26)];
    const fieldsOf = (m: IsoMessage) => Object.fromEntries(m.fields.map((v, i) => [i, v]).filter(([, v]) => v !== undefined));
    const inquiry = request('0100', { 2: c.card, 3: '310000' });
    const first = await iso.send(inquiry);
    expect([first.mti, first.fields[39]]).toEqual(['0110', '00']);
    expect(decodeAdditionalAmounts(first.fields[54]!).find((a) => a.amountType === '02')?.amount).toBe(0);
    // The balance moves; the retransmission still answers what the inquiry answered.
    expect((await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(1000) }))).fields[39]).toBe('00');
    const again = await iso.send(inquiry);
    expect([again.fields[39], again.fields[38], again.fields[54]]).toEqual(['00', first.fields[38], first.fields[54]]);
    expect((await iso.send(createMessage('0100', { ...fieldsOf(inquiry), 2: d.card }))).fields[39]).toBe('94');
    // A 0200 under the inquiry's key is a purchase of its own, as a reversal's key is its own.
    expect((await iso.send(createMessage('0200', { ...fieldsOf(inquiry), 3: '000000', 4: amount(1000) }))).fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ commerce: 200 });
    // A new key: the balance as it stands.
    const now = await iso.send(request('0100', { 2: c.card, 3: '310000' }));
    expect(decodeAdditionalAmounts(now.fields[54]!).find((a) => a.amountType === '02')?.amount).toBe(200);
  });

  it('a DE48 that does not parse: 30 (a format error), not 96', async () => {
    const c = await contact(19);
    const reply = await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(100), 48: 'garbage' }));
    expect(reply.fields[39]).toBe('30');
  });

  it('unknown link, merchant or terminal: 03; unknown card: 14; bad amount: 13; unsupported: 12', async () => {
    const c = await contact(3);
    expect((await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(100), 32: '999' }))).fields[39]).toBe('03');
    expect((await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(100), 42: 'NOSUCHMERCHANT ' }))).fields[39]).toBe('03');
    expect((await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(100), 41: 'NOSUCH01' }))).fields[39]).toBe('03');
    expect((await iso.send(request('0200', { 2: testCard(123_456_789), 3: '000000', 4: amount(100) }))).fields[39]).toBe('14');
    expect((await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(0) }))).fields[39]).toBe('13');
    expect((await iso.send(request('0200', { 2: c.card, 3: '400000', 4: amount(100) }))).fields[39]).toBe('12');
    expect((await iso.send(request('0300', { 2: c.card, 3: '000000', 4: amount(100) }))).fields[39]).toBe('12');
  });
});

describe('0200 purchase: DE12 + DE13, the local transaction time', () => {
  it('dates the purchase within 24 hours before the gateway’s clock and 5 minutes after; outside, when it arrives (approved); a date that does not exist is 30', async () => {
    // The fixture venue's timezone is UTC. DE13 has no year: the nearest one is taken.
    const clock = gw.processor.stores.clock;
    const real = clock.now;
    const noon = Date.parse('2026-11-30T12:00:00Z');
    clock.now = () => noon;
    // Once a day per contact, by the purchase's date: what a terminal naming any date it liked
    // could collect once for each day it named.
    const daily = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'once a day', goal: 'spend', award: { fixed: 500 }, limits: { per_contact: { count: 1, period: 'day' } } });
    expect(daily.status).toBe(201);
    try {
      const c = await contact(10);
      const buy = async (de13: string, de12: string) => (await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(1000), 12: de12, 13: de13 }))).fields[39];
      // A date and a time that do not exist: malformed, nothing changes.
      for (const [de13, de12] of [['1131', '120000'], ['1130', '250000']]) expect(await buy(de13!, de12!), `${de13} ${de12}`).toBe('30');
      expect(await wallet(c.id)).toMatchObject({ open: 0, commerce: 0 });
      // Six days back, a second past each bound: approved, dated when they arrive (the same day),
      // so the daily award is made once: 3 × 100 + 500.
      for (const [de13, de12] of [['1124', '120000'], ['1129', '115959'], ['1130', '120501']]) expect(await buy(de13!, de12!), `${de13} ${de12}`).toBe('00');
      expect(await wallet(c.id)).toMatchObject({ open: 0, commerce: 800 });
      // Both bounds are the purchase's date: the day before is a day of its own (100 + 500), the
      // day itself is not (100); without DE12 and DE13, dated when it arrives (100).
      expect(await buy('1129', '120000')).toBe('00');
      expect(await buy('1130', '120500')).toBe('00');
      expect((await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(1000) }))).fields[39]).toBe('00');
      expect(await wallet(c.id)).toMatchObject({ open: 0, commerce: 1600 });
    } finally {
      clock.now = real;
      expect((await call(gw, 'PATCH', `/v1/offers/${daily.body.id}`, biz.admin_key, { active: false })).status).toBe(200);
    }
  });
});

describe('DE12 + DE13 that name no time or date, on every message', () => {
  it('a refund, a reversal, a balance inquiry and an 0800 are 30 as a purchase is, and change nothing (a black-box probe: a reversal with DE13 9099 voided its sale)', async () => {
    const c = await contact(40);
    const purchase = request('0200', { 2: c.card, 3: '000000', 4: amount(3000) });
    expect((await iso.send(purchase)).fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ open: 0, commerce: 300 });
    const de90 = formatOriginalData({ mti: '0200', stan: purchase.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer });
    for (const bad of [{ 13: '9099' }, { 12: '996161' }, { 12: '120000', 13: '0230' }] as Record<number, string>[]) {
      const what = JSON.stringify(bad);
      expect((await iso.send(request('0200', { 2: c.card, 3: '200000', 4: amount(1000), 90: de90, ...bad }))).fields[39], `refund ${what}`).toBe('30');
      for (const mti of ['0400', '0420']) expect((await iso.send(request(mti, { 2: c.card, 3: '000000', 4: amount(3000), 90: de90, ...bad }))).fields[39], `${mti} ${what}`).toBe('30');
      expect((await iso.send(request('0100', { 2: c.card, 3: '310000', ...bad }))).fields[39], `0100 ${what}`).toBe('30');
      expect((await iso.send(createMessage('0800', { 7: transmission, 11: nextStan(), 70: '301', ...bad }))).fields[39], `0800 ${what}`).toBe('30');
    }
    expect(await wallet(c.id)).toMatchObject({ open: 0, commerce: 300 });
    // The same reversal with a date that exists voids the sale.
    expect((await iso.send(request('0400', { 2: c.card, 3: '000000', 4: amount(3000), 90: de90, 12: '120000', 13: '1124' }))).fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ open: 0, commerce: 0 });
  });
});

describe('0200 spends', () => {
  it('by wallet code in DE2: 00, 51 when short, 05 when spend-blocked', async () => {
    const c = await contact(4);
    await fund(c, 500);
    const ok = await iso.send(request('0200', { 2: c.wallet_code, 3: '000000', 4: amount(300) }));
    expect(ok.fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ open: 200 });
    expect((await iso.send(request('0200', { 2: c.wallet_code, 3: '000000', 4: amount(201) }))).fields[39]).toBe('51');
    await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: true });
    expect((await iso.send(request('0200', { 2: c.wallet_code, 3: '000000', 4: amount(10) }))).fields[39]).toBe('05');
    expect(await wallet(c.id)).toMatchObject({ open: 200 });
  });

  it('by OTP in DE48: 00, and 55 for a wrong or used code', async () => {
    const c = await contact(5);
    await fund(c, 500);
    const otp = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 400 });
    expect(otp.status).toBe(201);
    const ok = await iso.send(request('0200', { 3: '000000', 4: amount(400), 48: `OTP=${otp.body.otp};` }));
    expect(ok.fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ open: 100 });
    expect((await iso.send(request('0200', { 3: '000000', 4: amount(10), 48: `OTP=${otp.body.otp};` }))).fields[39]).toBe('55');
  });

  it("an OTP beside a card or wallet code in DE2 spends only that contact's: another's OTP 55, a card no contact has 14, nothing debited (a cross-channel probe: the OTP's owner paid whatever DE2 named)", async () => {
    const [owner, other] = [await contact(31), await contact(32)];
    await fund(owner, 500);
    const otpOf = async () => (await call(gw, 'POST', `/v1/contacts/${owner.id}/spend-otp`, biz.admin_key, { amount: 300 })).body.otp as string;
    const spend = (de2: string, otp: string) => iso.send(request('0200', { 2: de2, 3: '000000', 4: amount(100), 48: `OTP=${otp};` }));
    expect((await spend(other.card, await otpOf())).fields[39]).toBe('55');
    expect((await spend(other.wallet_code, await otpOf())).fields[39]).toBe('55');
    expect((await spend(testCard(799_999), await otpOf())).fields[39]).toBe('14');
    expect([await wallet(owner.id), await wallet(other.id)]).toMatchObject([{ open: 500 }, { open: 0 }]);
    // The owner's own card or wallet code beside its OTP: the spend.
    expect((await spend(owner.card, await otpOf())).fields[39]).toBe('00');
    expect((await spend(owner.wallet_code, await otpOf())).fields[39]).toBe('00');
    expect(await wallet(owner.id)).toMatchObject({ open: 300 });
  });

  it('a wrong OTP or wallet code under the key of an approved spend is 94 (other content under the same key), not 55', async () => {
    const c = await contact(23);
    await fund(c, 500);
    const otp = (await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 100 })).body.otp as string;
    const wrong_otp = String((Number(otp) + 1) % 1_000_000).padStart(6, '0');
    const first = request('0200', { 3: '000000', 4: amount(100), 48: `OTP=${otp};` });
    expect((await iso.send(first)).fields[39]).toBe('00');
    const same_key = (values: Record<number, string>) => createMessage('0200', { ...Object.fromEntries(first.fields.map((v, i) => [i, v]).filter(([, v]) => v !== undefined)), ...values });
    expect((await iso.send(same_key({ 48: `OTP=${wrong_otp};` }))).fields[39]).toBe('94');
    expect((await iso.send(same_key({ 2: '4111111111111111', 48: 'X=1;' }))).fields[39]).toBe('94');
    // Under a key of their own, the refusals they are.
    expect((await iso.send(request('0200', { 3: '000000', 4: amount(100), 48: `OTP=${wrong_otp};` }))).fields[39]).toBe('55');
    expect(await wallet(c.id)).toMatchObject({ open: 400 });
  });
});

describe('0200 refund and 0400/0420 reversal', () => {
  it('refund of the purchase named in DE90 claws back in proportion; unknown original: 25', async () => {
    const c = await contact(6);
    const purchase = request('0200', { 2: c.card, 3: '000000', 4: amount(4000) });
    expect((await iso.send(purchase)).fields[39]).toBe('00');
    const de90 = formatOriginalData({ mti: '0200', stan: purchase.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer });
    const refund = await iso.send(request('0200', { 2: c.card, 3: '200000', 4: amount(1000), 90: de90 }));
    expect(refund.fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ commerce: 300 });
    const missing = formatOriginalData({ mti: '0200', stan: '999999', transmissionDateTime: transmission, acquirerId: acquirer });
    expect((await iso.send(request('0200', { 2: c.card, 3: '200000', 4: amount(1000), 90: missing }))).fields[39]).toBe('25');
  });

  it('0400 voids a purchase (0410 00), a repeat 0401 is answered again unchanged, 0420 gets 0430', async () => {
    const c = await contact(7);
    const purchase = request('0200', { 2: c.card, 3: '000000', 4: amount(3000) });
    expect((await iso.send(purchase)).fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ commerce: 300 });
    const de90 = formatOriginalData({ mti: '0200', stan: purchase.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer });
    const reversal = request('0400', { 2: c.card, 3: '000000', 4: amount(3000), 90: de90 });
    const r = await iso.send(reversal);
    expect(r.mti).toBe('0410');
    expect(r.fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ commerce: 0 });
    const repeat = await iso.send(createMessage('0401', Object.fromEntries(reversal.fields.map((v, i) => [i, v]).filter(([, v]) => v !== undefined))));
    expect(repeat.mti).toBe('0410');
    expect(repeat.fields[39]).toBe('00');
    expect(repeat.fields[38]).toBe(r.fields[38]);
    expect(await wallet(c.id)).toMatchObject({ commerce: 0 });

    const second = request('0200', { 2: c.card, 3: '000000', 4: amount(1000) });
    expect((await iso.send(second)).fields[39]).toBe('00');
    const advice = await iso.send(request('0420', { 2: c.card, 3: '000000', 4: amount(1000), 90: formatOriginalData({ mti: '0200', stan: second.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer }) }));
    expect(advice.mti).toBe('0430');
    expect(advice.fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ commerce: 0 });
    // Reversing it again under a new key: already void, approved (00), so with its DE38.
    const again = await iso.send(request('0400', { 2: c.card, 3: '000000', 4: amount(3000), 90: de90 }));
    expect(again.fields[39]).toBe('00');
    expect(again.fields[38]).toMatch(/^[0-9A-Z]{6}$/);
  });

  it('a 0400 that carries its original’s DE11 and DE7 (as many networks send it) voids it; its 0420 and 0401 are the same reversal', async () => {
    const c = await contact(901);
    const purchase = request('0200', { 2: c.card, 3: '000000', 4: amount(2000) });
    expect((await iso.send(purchase)).fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ commerce: 200 });
    const de90 = formatOriginalData({ mti: '0200', stan: purchase.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer });
    // The original's key (DE32 + DE41 + DE11 + DE7): a reversal of it, not a retransmission of it.
    const reversal = request('0400', { 2: c.card, 3: '000000', 4: amount(2000), 11: purchase.fields[11]!, 90: de90 });
    const r = await iso.send(reversal);
    expect([r.mti, r.fields[39]]).toEqual(['0410', '00']);
    expect(await wallet(c.id)).toMatchObject({ commerce: 0 });
    const fields = Object.fromEntries(reversal.fields.map((v, i) => [i, v]).filter(([, v]) => v !== undefined));
    for (const mti of ['0401', '0420', '0421']) {
      const again = await iso.send(createMessage(mti, fields));
      expect([again.fields[39], again.fields[38]], mti).toEqual(['00', r.fields[38]]);
    }
    expect(await wallet(c.id)).toMatchObject({ commerce: 0 });
    // The purchase itself, sent again, is still its own retransmission: its reply, nothing more.
    const repeat = await iso.send(purchase);
    expect(repeat.fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ commerce: 0 });
  });

  it('a reversal repeated under its key with another DE49 is 94 (different content under the same key), as a 0200 is, not 13', async () => {
    const c = await contact(904);
    const purchase = request('0200', { 2: c.card, 3: '000000', 4: amount(2000) });
    expect((await iso.send(purchase)).fields[39]).toBe('00');
    const de90 = formatOriginalData({ mti: '0200', stan: purchase.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer });
    const reversal = request('0400', { 2: c.card, 3: '000000', 4: amount(2000), 90: de90 });
    const r = await iso.send(reversal);
    expect(r.fields[39]).toBe('00');
    const fields = Object.fromEntries(reversal.fields.map((v, i) => [i, v]).filter(([, v]) => v !== undefined));
    for (const mti of ['0400', '0401', '0420', '0421']) {
      for (const de49 of ['840', '999']) {
        const again = await iso.send(createMessage(mti, { ...fields, 49: de49 }));
        expect(again.fields[39], `${mti} DE49 ${de49}`).toBe('94');
      }
    }
    // The same content again: the original reply; another DE49 under a new key: 13, as before.
    const same = await iso.send(reversal);
    expect([same.fields[39], same.fields[38]]).toEqual(['00', r.fields[38]]);
    expect((await iso.send(request('0400', { 2: c.card, 3: '000000', 4: amount(2000), 49: '840', 90: de90 }))).fields[39]).toBe('13');
    expect(await wallet(c.id)).toMatchObject({ commerce: 0 });
  });

  it("a reversal of a refund (which voids only purchases, spends and redemptions) is 25 (original not found, as HTTP's 404), advice or not, and changes nothing", async () => {
    const c = await contact(902);
    const purchase = request('0200', { 2: c.card, 3: '000000', 4: amount(2000) });
    expect((await iso.send(purchase)).fields[39]).toBe('00');
    const refund = request('0200', { 2: c.card, 3: '200000', 4: amount(500), 90: formatOriginalData({ mti: '0200', stan: purchase.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer }) });
    expect((await iso.send(refund)).fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ commerce: 150 });
    const de90 = formatOriginalData({ mti: '0200', stan: refund.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer });
    for (const mti of ['0400', '0420']) {
      // Not 00: an acquirer told its advice was applied would book a void that never happened.
      // Not 12 either (it was: a black-box probe): POST /v1/reversals naming it is 404 original_not_found.
      const r = await iso.send(request(mti, { 2: c.card, 3: '200000', 4: amount(500), 90: de90 }));
      expect([r.mti, r.fields[39]], mti).toEqual([mti === '0400' ? '0410' : '0430', '25']);
    }
    const http = await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: `rv-refund-${stan}`, original_reference: isoReference(acquirer, refund.fields[11]!, transmission) });
    expect([http.status, http.body.code]).toEqual([404, 'original_not_found']);
    expect(await wallet(c.id)).toMatchObject({ commerce: 150 });
  });

  it('a reversal of a declined 0200 (no transaction: 51 here) is the original not found, not 12: an 0420 acknowledged 00, an 0400 25', async () => {
    const c = await contact(903);
    await fund(c, 100);
    const declined = request('0200', { 2: c.wallet_code, 3: '000000', 4: amount(500) });
    expect((await iso.send(declined)).fields[39]).toBe('51');
    const de90 = formatOriginalData({ mti: '0200', stan: declined.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer });
    // An acquirer that timed out on the 0200 sends its advice: nothing was done, so the void holds.
    const advice_message = request('0420', { 2: c.wallet_code, 3: '000000', 4: amount(500), 90: de90 });
    const advice = await iso.send(advice_message);
    expect([advice.mti, advice.fields[39]]).toEqual(['0430', '00']);
    // Its repeat (remembered since, replayed) is acknowledged the same.
    const repeat = await iso.send(createMessage('0421', Object.fromEntries(advice_message.fields.map((v, i) => [i, v]).filter(([, v]) => v !== undefined))));
    expect([repeat.mti, repeat.fields[39], repeat.fields[38]]).toEqual(['0430', '00', advice.fields[38]]);
    const reversal = await iso.send(request('0400', { 2: c.wallet_code, 3: '000000', 4: amount(500), 90: de90 }));
    expect([reversal.mti, reversal.fields[39]]).toEqual(['0410', '25']);
    expect(await wallet(c.id)).toMatchObject({ open: 100 });
  });

  it('a reversal of a 0200 declined 14 (a card no contact has) is answered as one declined 51: an 0420 00, its repeat the same, an 0400 25 (it was 25 for the advice: an ISO probe, 2026-12-06)', async () => {
    const declined = request('0200', { 2: testCard(123_456_903), 3: '000000', 4: amount(500) });
    expect((await iso.send(declined)).fields[39]).toBe('14');
    const de90 = formatOriginalData({ mti: '0200', stan: declined.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer });
    const advice_message = request('0420', { 2: declined.fields[2]!, 3: '000000', 4: amount(500), 90: de90 });
    const advice = await iso.send(advice_message);
    expect([advice.mti, advice.fields[39]]).toEqual(['0430', '00']);
    const repeat = await iso.send(createMessage('0421', Object.fromEntries(advice_message.fields.map((v, i) => [i, v]).filter(([, v]) => v !== undefined))));
    expect([repeat.mti, repeat.fields[39], repeat.fields[38]]).toEqual(['0430', '00', advice.fields[38]]);
    const reversal = await iso.send(request('0400', { 2: declined.fields[2]!, 3: '000000', 4: amount(500), 90: de90 }));
    expect([reversal.mti, reversal.fields[39]]).toEqual(['0410', '25']);
  });

  it('a reversal advice before its original: acknowledged, and the late original is refused', async () => {
    const c = await contact(8);
    const late_stan = '888888';
    const de90 = formatOriginalData({ mti: '0200', stan: late_stan, transmissionDateTime: transmission, acquirerId: acquirer });
    const advice = await iso.send(request('0420', { 2: c.card, 3: '000000', 4: amount(1000), 90: de90 }));
    expect(advice.fields[39]).toBe('00');
    expect(advice.fields[38]).toMatch(/^[0-9A-Z]{6}$/);
    const original = await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(1000), 11: late_stan }));
    expect(original.fields[39]).not.toBe('00');
    expect(await wallet(c.id)).toMatchObject({ commerce: 0, open: 0 });
  });
});

describe('the same ledger as HTTP', () => {
  it('ISO transactions reach the ledger with their postings', async () => {
    const c = await contact(9);
    expect((await iso.send(request('0200', { 2: c.card, 3: '000000', 4: amount(5000) }))).fields[39]).toBe('00');
    const statement = await eventually('the ledger', async () => {
      const s = await call(gw, 'GET', `/v1/contacts/${c.id}/statement`, biz.admin_key);
      return s.body.lines?.length === 1 ? s : undefined;
    });
    expect(statement.body.closing).toEqual({ open: 0, commerce: 500 });
  });

  it('no full PAN in the logs', async () => {
    const cards = [testCard(700_001), testCard(700_002), testCard(123_456_789)];
    const logs = gw.logs.join('\n');
    for (const card of cards) expect(logs.includes(card)).toBe(false);
  });
});
