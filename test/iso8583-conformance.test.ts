// spec/ISO8583.md, black box: an acquirer's view over TCP. Messages are packed and unpacked here
// by a small spec87ascii packer of this file's own (2-byte length, hex bitmaps, ASCII fields), not
// by the gateway's codec or client, so what is checked is the wire, as an independent client sees it.

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquiredBusiness, randomAcquirerId } from './acquirer.ts';
import { createCardContact, type CardContact } from './card-contact.ts';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';

// ---------------------------------------------------------------- a minimal acquirer

type Fields = Record<number, string>;
interface Message {
  mti: string;
  fields: Fields;
}

/** The fields these tests send or read: [LL/LLL prefix digits (0 = fixed), length]. */
const layout: Record<number, [number, number]> = {
  2: [2, 19], 3: [0, 6], 4: [0, 12], 7: [0, 10], 11: [0, 6], 12: [0, 6], 13: [0, 4], 32: [2, 11], 37: [0, 12],
  38: [0, 6], 39: [0, 2], 41: [0, 8], 42: [0, 15], 48: [3, 999], 49: [0, 3], 54: [3, 120], 70: [0, 3], 90: [0, 42],
};

function pack(m: Message): Buffer {
  const numbers = Object.keys(m.fields).map(Number).sort((a, b) => a - b);
  const bits = new Array<number>(129).fill(0);
  for (const f of numbers) bits[f] = 1;
  if (numbers.some((f) => f > 64)) bits[1] = 1;
  let bitmap = '';
  for (let i = 1; i <= (bits[1] ? 128 : 64); i += 4) bitmap += ((bits[i]! << 3) | (bits[i + 1]! << 2) | (bits[i + 2]! << 1) | bits[i + 3]!).toString(16).toUpperCase();
  let body = m.mti + bitmap;
  for (const f of numbers) {
    const [prefix, length] = layout[f]!;
    const v = m.fields[f]!;
    if (prefix === 0 && v.length !== length) throw new Error(`DE${f} must be ${length} characters`);
    body += (prefix === 0 ? '' : String(v.length).padStart(prefix, '0')) + v;
  }
  const bytes = Buffer.from(body, 'latin1');
  const framed = Buffer.alloc(bytes.length + 2);
  framed.writeUInt16BE(bytes.length, 0);
  bytes.copy(framed, 2);
  return framed;
}

function unpack(b: Buffer): Message {
  const s = b.toString('latin1');
  const mti = s.slice(0, 4);
  let at = 4;
  const bits: number[] = [0];
  const readMap = () => {
    for (const c of s.slice(at, at + 16)) {
      const v = parseInt(c, 16);
      bits.push((v >> 3) & 1, (v >> 2) & 1, (v >> 1) & 1, v & 1);
    }
    at += 16;
  };
  readMap();
  if (bits[1]) readMap();
  const fields: Fields = {};
  for (let f = 2; f < bits.length; f++) {
    if (!bits[f]) continue;
    const spec = layout[f];
    if (spec === undefined) throw new Error(`reply carries DE${f}, which this client does not know`);
    let n = spec[1];
    if (spec[0] > 0) {
      n = Number(s.slice(at, at + spec[0]));
      at += spec[0];
    }
    fields[f] = s.slice(at, at + n);
    at += n;
  }
  if (at !== s.length) throw new Error(`${s.length - at} bytes after the last field`);
  return { mti, fields };
}

interface Acquirer {
  send(m: Message): Promise<Message>;
  close(): void;
}

function connect(port: number): Promise<Acquirer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const waiting = new Map<string, (m: Message) => void>();
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const n = buffered.readUInt16BE(0);
        const reply = unpack(buffered.subarray(2, 2 + n));
        buffered = buffered.subarray(2 + n);
        const key = `${reply.fields[11]}|${reply.fields[41]}`;
        waiting.get(key)?.(reply);
        waiting.delete(key);
      }
    });
    socket.once('error', reject);
    socket.once('connect', () =>
      resolve({
        send(m) {
          return new Promise((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`no reply to ${m.mti} DE11 ${m.fields[11]}`)), 10_000);
            waiting.set(`${m.fields[11]}|${m.fields[41]}`, (reply) => {
              clearTimeout(timer);
              done(reply);
            });
            socket.write(pack(m));
          });
        },
        close: () => socket.destroy(),
      }),
    );
  });
}

// ---------------------------------------------------------------- the gateway and a business

let gw: TestGateway;
let biz: BusinessFixture;
let acq: Acquirer;
let stan = 0;
const acquirer = randomAcquirerId();
const transmission = '1124101500';

beforeAll(async () => {
  gw = await startTestGateway({}, false, true);
  biz = await acquiredBusiness(gw, acquirer);
  acq = await connect(gw.iso8583_port);
});
afterAll(async () => {
  acq?.close();
  await gw?.close();
});

function request(mti: string, fields: Fields): Message {
  return {
    mti,
    fields: { 7: transmission, 11: String(++stan).padStart(6, '0'), 32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' '), 49: '978', ...fields },
  };
}

const amount = (minor: number) => String(minor).padStart(12, '0');

const contact = (seed: number): Promise<CardContact> => createCardContact(gw, biz, 930_000 + seed);

/** DE54's 20-character blocks: account type n2, amount type n2, currency n3, sign C/D, amount n12. */
function amounts(de54: string | undefined): Record<string, { currency: string; sign: string; amount: number }> {
  const out: Record<string, { currency: string; sign: string; amount: number }> = {};
  for (let at = 0; de54 !== undefined && at < de54.length; at += 20) {
    out[de54.slice(at + 2, at + 4)] = { currency: de54.slice(at + 4, at + 7), sign: de54.slice(at + 7, at + 8), amount: Number(de54.slice(at + 8, at + 20)) };
  }
  return out;
}

// ---------------------------------------------------------------- the page, row by row

describe('DE2 and the card it names', () => {
  // ISO8583.md: "DE2 PAN (LLVAR n..19)"; "14 unknown card / CIM"; "30 format error".
  // A DE2 of 1 to 19 digits is well formed; one that is no card number (not Luhn-valid, or too
  // short for a card) is the card of no contact: 14. It was answered 30, as if the message were
  // malformed.
  it('a well-formed DE2 that is no one’s card (not Luhn-valid, or short) is 14 on 0200 and 0100, not 30', async () => {
    for (const pan of ['1234567890123456', '12345', '4000000000000001']) {
      const purchase = await acq.send(request('0200', { 2: pan, 3: '000000', 4: amount(1000) }));
      expect(purchase.mti).toBe('0210');
      expect(purchase.fields[39], `0200 DE2 ${pan}`).toBe('14');
      const balance = await acq.send(request('0100', { 2: pan, 3: '310000' }));
      expect(balance.mti).toBe('0110');
      expect(balance.fields[39], `0100 DE2 ${pan}`).toBe('14');
    }
  });
});

describe('0100 balance inquiry', () => {
  // ISO8583.md: "0100 | DE3 = 31xxxx | balance inquiry for the CIM in DE2 | 0110; DE54 carries open
  // (amount type 01) and commerce (amount type 02) balances"; API.md: "wallet_code is 16 digits,
  // Luhn-valid, unique, and also works as a CIM of type wallet_code", and DE2 = a wallet code is
  // one of the page's own rows (0200 spend). A wallet code in DE2 of an 0100 was answered 14.
  it('for a wallet code in DE2: 0110 00, DE54 with the open and commerce balances', async () => {
    const c = await contact(1);
    expect((await acq.send(request('0200', { 2: c.card, 3: '000000', 4: amount(2500) }))).fields[39]).toBe('00');
    const by_card = await acq.send(request('0100', { 2: c.card, 3: '310000' }));
    expect(by_card.fields[39]).toBe('00');
    const reply = await acq.send(request('0100', { 2: c.wallet_code, 3: '310000' }));
    expect(reply.mti).toBe('0110');
    expect(reply.fields[39]).toBe('00');
    expect(amounts(reply.fields[54])).toEqual({ '01': { currency: '978', sign: 'C', amount: 0 }, '02': { currency: '978', sign: 'C', amount: 250 } });
    expect(reply.fields[54]).toBe(by_card.fields[54]);
  });
});

describe('a required field absent is a format error', () => {
  // ISO8583.md: "12 invalid transaction (unsupported MTI or processing code) · 30 format error";
  // the Messages table routes 0100 and 0200 by DE3. Without it the message is malformed (as
  // without DE4, DE2 or DE90, already 30), not a transaction of a kind we refuse: it was 12.
  it('0100 or 0200 without DE3: 30, and nothing changes', async () => {
    const c = await contact(2);
    const purchase = await acq.send(request('0200', { 2: c.card, 4: amount(1000) }));
    expect(purchase.mti).toBe('0210');
    expect(purchase.fields[39]).toBe('30');
    const balance = await acq.send(request('0100', { 2: c.card }));
    expect(balance.mti).toBe('0110');
    expect(balance.fields[39]).toBe('30');
    expect((await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body).toMatchObject({ open: 0, commerce: 0 });
  });

  // The same for 0800: the table tells sign-on, sign-off and echo apart by DE70; without it, 12.
  it('0800 without DE70: 30; an unknown DE70 stays 12', async () => {
    const missing = await acq.send({ mti: '0800', fields: { 7: transmission, 11: String(++stan).padStart(6, '0'), 41: biz.terminal_code } });
    expect(missing.mti).toBe('0810');
    expect(missing.fields[39]).toBe('30');
    const unknown = await acq.send({ mti: '0800', fields: { 7: transmission, 11: String(++stan).padStart(6, '0'), 41: biz.terminal_code, 70: '999' } });
    expect(unknown.fields[39]).toBe('12');
  });
});

// ISO8583.md: "12 invalid transaction (unsupported MTI or processing code)". A network-class
// message we do not support, without DE41 as the link sends it, parses: 12 by its DE11, as an 0800
// without DE41 is answered. It was 30 (a black-box probe); with DE41 it was 12 already.
describe('an unsupported network-class MTI', () => {
  it.each([['0820', '0830'], ['0801', '0810'], ['1804', '1814'], ['0900', '0910']])('%s without DE41: %s 12 by its DE11, the connection kept', async (mti, answer) => {
    const de11 = String(++stan).padStart(6, '0');
    const reply = await acq.send({ mti, fields: { 7: '1205120000', 11: de11, 70: '301' } });
    expect(reply.mti).toBe(answer);
    expect(reply.fields[39]).toBe('12');
    expect(reply.fields[11]).toBe(de11);
    expect(reply.fields[41]).toBeUndefined();
    expect((await acq.send(request('0800', { 70: '301' }))).fields[39]).toBe('00');
  });

  it.each(['0820', '1804'])('%s with DE41: 12, as before', async (mti) => {
    expect((await acq.send(request(mti, { 70: '301' }))).fields[39]).toBe('12');
  });
});

// ISO8583.md: "An acquirer link, created with `POST /v1/iso8583/links` `{acquirer_id}`". The page
// gives no type: an id of digits sent as a JSON number was 400; it is taken as its digits.
describe('an acquirer link', () => {
  it('takes acquirer_id as digits or as a whole number; anything else is 400', async () => {
    const other = await createBusiness(gw);
    const id = 1_000_000 + Math.floor(Math.random() * 8_999_999);
    const made = await call(gw, 'POST', '/v1/iso8583/links', other.admin_key, { acquirer_id: id });
    expect(made.status, made.text).toBe(201);
    expect(made.body.acquirer_id).toBe(String(id));
    for (const bad of [-1, 1.5, 123_456_789_012, '12a', '', null]) {
      expect((await call(gw, 'POST', '/v1/iso8583/links', other.admin_key, { acquirer_id: bad })).status, String(bad)).toBe(400);
    }
  });
});
