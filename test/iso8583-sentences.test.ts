// ISO8583.md, sentence by sentence: what no other test checked, over a real socket. Each block
// quotes its sentence.

import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage, decode, type IsoMessage } from '../adapters/iso8583/codec.ts';
import { decodeAdditionalAmounts } from '../adapters/iso8583/additional-amounts.ts';
import { formatOriginalData } from '../adapters/iso8583/original-data.ts';
import { vectorRoot } from '../adapters/iso8583/testdata/vectors.ts';
import { acquiredBusiness, randomAcquirerId } from './acquirer.ts';
import { createCardContact, type CardContact } from './card-contact.ts';
import { call, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let iso: IsoClient;
let stan = 0;
let seed = 9_520_000;
// One acquirer id per run: this business is the only one linked to it.
const acquirer = randomAcquirerId();
const transmission = '1124101500';

beforeAll(async () => {
  gw = await startTestGateway({}, false, true);
  biz = await acquiredBusiness(gw, acquirer);
  iso = await connectIso(gw.iso8583_port);
});
afterAll(async () => {
  await iso?.close();
  await gw?.close();
});

const nextStan = (): string => String(++stan).padStart(6, '0');
const amount = (minor: number): string => String(minor).padStart(12, '0');

function request(mti: string, values: Record<number, string>): IsoMessage {
  return createMessage(mti, { 7: transmission, 11: nextStan(), 32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' '), 49: '978', ...values });
}

const original = (msg: IsoMessage): string => formatOriginalData({ mti: msg.mti, stan: msg.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer });

const contact = (): Promise<CardContact> => createCardContact(gw, biz, ++seed);

async function wallet(id: string): Promise<{ open: number; commerce: number }> {
  return (await call(gw, 'GET', `/v1/contacts/${id}/wallet`, biz.admin_key)).body;
}

/** A contact holding `open` in its open balance (a 10% purchase by card, then a redemption of it all). */
async function funded(open: number): Promise<{ id: string; card: string; wallet_code: string; purchase: IsoMessage }> {
  const c = await contact();
  const purchase = request('0200', { 2: c.card, 3: '000000', 4: amount(open * 10) });
  expect((await iso.send(purchase)).fields[39]).toBe('00');
  expect((await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: `fund-${stan}`, cim: { type: 'card', value: c.card } })).status).toBe(201);
  return { ...c, purchase };
}

// "0800 | DE70 = 001 / 002 / 301 | sign-on / sign-off / echo | 0810, DE39 00"
describe('network management', () => {
  it('a peer that names no acquirer or terminal yet signs on, echoes and signs off', async () => {
    for (const code of ['001', '301', '002']) {
      const reply = await iso.send(createMessage('0800', { 7: transmission, 11: nextStan(), 70: code }));
      expect(reply.mti).toBe('0810');
      expect(reply.fields[39]).toBe('00');
      expect(reply.fields[70]).toBe(code);
    }
  });

  // "`../iso8583-vectors/` holds real messages from another project": its 0800, sent as it is.
  it("moov-io's network_management_message.dat, framed: 0810 00 with its DE11", async () => {
    const msg = await sendVector('network_management_message.dat');
    expect(msg.mti).toBe('0810');
    expect(msg.fields[39]).toBe('00');
    expect(msg.fields[11]).toBe('900001');
    expect(msg.fields[70]).toBe('001');
  });

  // "...that the codec must read": its DE35 is EBCDIC, read as such (it was 30, unread: a black-box probe).
  it("moov-io's network_management_message_with_track.dat (DE35 in EBCDIC), framed: 0810 00 with what an 0810 echoes, no DE35", async () => {
    const msg = await sendVector('network_management_message_with_track.dat');
    expect(msg.mti).toBe('0810');
    expect(msg.fields).toMatchObject({ 7: '0420090613', 11: '900001', 12: '090613', 13: '0420', 39: '00', 70: '001' });
    expect(msg.fields[35]).toBeUndefined();
  });
});

/** One of moov-io's vectors sent as it is, 2-byte framed, on a connection of its own: its reply. */
async function sendVector(file: string): Promise<IsoMessage> {
  const body = readFileSync(path.join(vectorRoot, 'test/testdata', file));
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const socket = net.connect(gw.iso8583_port, '127.0.0.1');
    let got = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`${file}: the connection closed with no reply`)));
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        socket.end();
        resolve(got.subarray(2, 2 + got.readUInt16BE(0)));
      }
    });
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(body.length);
    socket.write(Buffer.concat([prefix, body]));
  });
  return decode(reply);
}

// "DE38 approval code (an6, set on approval)"
describe('DE38', () => {
  it('is absent from a decline', async () => {
    const c = await contact();
    const declined = await iso.send(request('0200', { 2: c.wallet_code, 3: '000000', 4: amount(100) }));
    expect(declined.fields[39]).toBe('51');
    expect(declined.fields[38]).toBeUndefined();
    const unknown = await iso.send(request('0200', { 2: testCard(++seed), 3: '000000', 4: amount(100) }));
    expect(unknown.fields[39]).toBe('14');
    expect(unknown.fields[38]).toBeUndefined();
  });
});

// "DE54 additional amounts (LLLVAR, 20-char blocks: account type n2, amount type n2, currency n3,
// sign C/D, amount n12)"; a refund's claw-back may leave a balance negative (API.md).
describe('DE54 of a balance inquiry', () => {
  it('a commerce balance in debt is signed D', async () => {
    const c = await funded(100);
    expect((await iso.send(request('0200', { 2: c.wallet_code, 3: '000000', 4: amount(100) }))).fields[39]).toBe('00');
    const refund = await iso.send(request('0200', { 3: '200000', 4: amount(1000), 90: original(c.purchase) }));
    expect(refund.fields[39]).toBe('00');
    expect(await wallet(c.id)).toEqual(expect.objectContaining({ open: 0, commerce: -100 }));
    const balance = await iso.send(request('0100', { 2: c.card, 3: '310000' }));
    expect(balance.fields[39]).toBe('00');
    expect(balance.fields[54]).toHaveLength(40);
    const amounts = decodeAdditionalAmounts(balance.fields[54]!);
    expect(amounts.find((a) => a.amountType === '01')).toMatchObject({ currency: '978', sign: 'C', amount: 0 });
    expect(amounts.find((a) => a.amountType === '02')).toMatchObject({ currency: '978', sign: 'D', amount: 100 });
  });
});

// "0200 | DE3 = 20xxxx | refund of the purchase named in DE90 (amount in DE4)"; "13 invalid amount";
// API.md: "The sum of refunds never exceeds the original".
describe('an ISO refund', () => {
  it('past what is left of the original is 13, and changes nothing', async () => {
    const c = await contact();
    const purchase = request('0200', { 2: c.card, 3: '000000', 4: amount(2000) });
    expect((await iso.send(purchase)).fields[39]).toBe('00');
    expect((await iso.send(request('0200', { 3: '200000', 4: amount(1500), 90: original(purchase) }))).fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ commerce: 50 });
    const over = await iso.send(request('0200', { 3: '200000', 4: amount(501), 90: original(purchase) }));
    expect(over.mti).toBe('0210');
    expect(over.fields[39]).toBe('13');
    expect(await wallet(c.id)).toMatchObject({ commerce: 50 });
  });
});

// "A retransmission with identical content gets the original reply"
describe('retransmissions', () => {
  it('of wallet-code spends, approved and refused, once the code has been rotated: the original 0210s, not 94 (a rebuild probe)', async () => {
    const c = await funded(300);
    const spend = request('0200', { 2: c.wallet_code, 3: '000000', 4: amount(100) });
    const short = request('0200', { 2: c.wallet_code, 3: '000000', 4: amount(99_999) });
    const first = [await iso.send(spend), await iso.send(short)];
    expect(first.map((r) => r.fields[39])).toEqual(['00', '51']);
    const rotated = await call(gw, 'POST', `/v1/contacts/${c.id}/wallet-code`, biz.admin_key);
    expect(rotated.status, rotated.text).toBe(201);
    const again = [await iso.send(spend), await iso.send(short)];
    expect(again.map((r) => r.fields[39])).toEqual(['00', '51']);
    expect(again.map((r) => r.fields[38])).toEqual(first.map((r) => r.fields[38]));
    expect(await wallet(c.id)).toMatchObject({ open: 200 });
    // A new message with the old code is no spend: no contact's card, nor a wallet's code now.
    expect((await iso.send(request('0200', { 2: c.wallet_code, 3: '000000', 4: amount(100) }))).fields[39]).toBe('14');
  });
});

// "0400 / 0420 | DE90 names an earlier 0200 | reversal (full void)"; "25 original not found"
describe('ISO reversals', () => {
  it('of a wallet-code spend: 0410 00, the open balance back', async () => {
    const c = await funded(300);
    const spend = request('0200', { 2: c.wallet_code, 3: '000000', 4: amount(200) });
    expect((await iso.send(spend)).fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ open: 100 });
    const r = await iso.send(request('0400', { 4: amount(200), 90: original(spend) }));
    expect(r.mti).toBe('0410');
    expect(r.fields[39]).toBe('00');
    expect(await wallet(c.id)).toMatchObject({ open: 300 });
  });

  it('a 0400 naming no earlier 0200: 0410 25, nothing changes', async () => {
    const c = await funded(100);
    const missing = formatOriginalData({ mti: '0200', stan: '777777', transmissionDateTime: transmission, acquirerId: acquirer });
    const r = await iso.send(request('0400', { 4: amount(100), 90: missing }));
    expect(r.mti).toBe('0410');
    expect(r.fields[39]).toBe('25');
    expect(await wallet(c.id)).toMatchObject({ open: 100, commerce: 0 });
  });

  it('DE90 naming another MTI than 0200 names no purchase, whatever its STAN and DE7: 25 on a reversal, an advice and a refund, nothing changes (a probe)', async () => {
    const c = await contact();
    const purchase = request('0200', { 2: c.card, 3: '000000', 4: amount(1000) });
    expect((await iso.send(purchase)).fields[39]).toBe('00');
    const before = await wallet(c.id);
    for (const mti of ['0100', '0800', '9999']) {
      const named = formatOriginalData({ mti, stan: purchase.fields[11]!, transmissionDateTime: transmission, acquirerId: acquirer });
      for (const [request_mti, values] of [['0400', { 4: amount(1000) }], ['0420', { 4: amount(1000) }], ['0200', { 3: '200000', 4: amount(500) }]] as const) {
        const r = await iso.send(request(request_mti, { ...values, 90: named }));
        expect([r.fields[39], mti, request_mti]).toEqual(['25', mti, request_mti]);
      }
    }
    expect(await wallet(c.id)).toEqual(before);
    // Named as the 0200 it was, it is reversed.
    expect((await iso.send(request('0400', { 4: amount(1000), 90: original(purchase) }))).fields[39]).toBe('00');
  });
});
