// spec/ISO8583.md as an acceptance suite would drive it, from the page alone: an acquirer of its
// own over TCP that frames, bitmaps and encodes every message itself. The field dictionary is the
// `iso_8583` package's ISO 8583:1987 table (type, LL/LLL or fixed, length), not the gateway's
// codec, so that a codec defect shows on the wire.

import { createRequire } from 'node:module';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkAcquirer, randomAcquirerId } from './acquirer.ts';
import { walletOf } from './contract-util.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

// ---------------------------------------------------------------- an independent acquirer

interface FieldFormat {
  readonly LenType: 'fixed' | 'llvar' | 'lllvar';
  readonly MaxLen: number;
}
const dictionary = createRequire(import.meta.url)('iso_8583/lib/formats.js') as Record<string, FieldFormat>;

type Fields = Record<number, string>;
interface Message {
  mti: string;
  fields: Fields;
}

const prefixOf = (f: number) => ({ fixed: 0, llvar: 2, lllvar: 3 })[dictionary[f]!.LenType];

/** spec87ascii: MTI, 16 hex characters per bitmap, ASCII fields and lengths. `binary` bitmaps: 8 raw bytes each. */
function encode(m: Message, bitmap: 'hex' | 'binary' = 'hex'): Buffer {
  const numbers = Object.keys(m.fields).map(Number).sort((a, b) => a - b);
  const secondary = numbers.some((f) => f > 64);
  const map = Buffer.alloc(secondary ? 16 : 8);
  if (secondary) map[0]! |= 0x80;
  for (const f of numbers) map[(f - 1) >> 3]! |= 0x80 >> ((f - 1) & 7);
  let body = '';
  for (const f of numbers) {
    const v = m.fields[f]!;
    const prefix = prefixOf(f);
    if (prefix === 0 && v.length !== dictionary[f]!.MaxLen) throw new Error(`DE${f} is ${dictionary[f]!.MaxLen} characters, not ${v.length}`);
    body += (prefix === 0 ? '' : String(v.length).padStart(prefix, '0')) + v;
  }
  const bitmaps = bitmap === 'hex' ? Buffer.from(map.toString('hex').toUpperCase(), 'latin1') : map;
  return Buffer.concat([Buffer.from(m.mti, 'latin1'), bitmaps, Buffer.from(body, 'latin1')]);
}

function decode(b: Buffer, bitmap: 'hex' | 'binary' = 'hex'): Message {
  const mti = b.subarray(0, 4).toString('latin1');
  let at = 4;
  const readMap = (): Buffer => {
    if (bitmap === 'binary') return b.subarray(at, (at += 8));
    return Buffer.from(b.subarray(at, (at += 16)).toString('latin1'), 'hex');
  };
  let map = readMap();
  if (map[0]! & 0x80) map = Buffer.concat([map, readMap()]);
  const fields: Fields = {};
  for (let f = 2; f <= map.length * 8; f++) {
    if (!(map[(f - 1) >> 3]! & (0x80 >> ((f - 1) & 7)))) continue;
    const prefix = prefixOf(f);
    let n = dictionary[f]!.MaxLen;
    if (prefix > 0) n = Number(b.subarray(at, (at += prefix)).toString('latin1'));
    fields[f] = b.subarray(at, (at += n)).toString('latin1');
  }
  if (at !== b.length) throw new Error(`${b.length - at} bytes after the last field`);
  return { mti, fields };
}

function frame(body: Buffer, framing: 'binary2' | 'ascii4' = 'binary2'): Buffer {
  if (framing === 'ascii4') return Buffer.concat([Buffer.from(String(body.length).padStart(4, '0'), 'latin1'), body]);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(body.length, 0);
  return Buffer.concat([head, body]);
}

interface Acquirer {
  readonly socket: net.Socket;
  /** Sends `m` and waits for the reply with its DE11 + DE41 (as jPOS QMUX matches). */
  send(m: Message): Promise<Message>;
  /** Writes raw bytes; the next reply, whichever it is. */
  raw(bytes: Buffer): Promise<Message>;
  /** Resolves when the gateway closes the connection (within `ms`), else rejects. */
  closed(ms?: number): Promise<void>;
  close(): void;
}

function connect(port: number, options: { framing?: 'binary2' | 'ascii4'; bitmap?: 'hex' | 'binary' } = {}): Promise<Acquirer> {
  const framing = options.framing ?? 'binary2';
  const head = framing === 'ascii4' ? 4 : 2;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const waiting = new Map<string, (m: Message) => void>();
    const any: ((m: Message) => void)[] = [];
    let ended = false;
    const onEnd: (() => void)[] = [];
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (buffered.length < head) return;
        const n = framing === 'ascii4' ? Number(buffered.subarray(0, 4).toString('latin1')) : buffered.readUInt16BE(0);
        if (buffered.length < head + n) return;
        const reply = decode(buffered.subarray(head, head + n), options.bitmap);
        buffered = buffered.subarray(head + n);
        const key = `${reply.fields[11]}|${reply.fields[41]}`;
        const waiter = waiting.get(key) ?? any.shift();
        waiting.delete(key);
        waiter?.(reply);
      }
    });
    socket.on('close', () => {
      ended = true;
      for (const f of onEnd) f();
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
    socket.once('connect', () =>
      resolve({
        socket,
        send(m) {
          return new Promise((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`no reply to ${m.mti} DE11 ${m.fields[11]}`)), 10_000);
            waiting.set(`${m.fields[11]}|${m.fields[41]}`, (reply) => {
              clearTimeout(timer);
              done(reply);
            });
            socket.write(frame(encode(m, options.bitmap), framing));
          });
        },
        raw(bytes) {
          return new Promise((done, fail) => {
            const timer = setTimeout(() => fail(new Error('no reply')), 10_000);
            any.push((reply) => {
              clearTimeout(timer);
              done(reply);
            });
            socket.write(bytes);
          });
        },
        closed(ms = 5_000) {
          return new Promise((done, fail) => {
            if (ended) return done();
            const timer = setTimeout(() => fail(new Error(`still open after ${ms} ms`)), ms);
            onEnd.push(() => {
              clearTimeout(timer);
              done();
            });
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
let seed = 0;
const acquirer = randomAcquirerId();
const de7 = '1124101500';
const offers = [
  { name: '10% back', goal: 'spend', award: { percent: 10 } },
  { name: '2% instant', goal: 'spend', award: { percent: 2 }, instant_redeem: true },
  { name: '1.00 off', kind: 'instant_discount', goal: 'spend', award: { fixed: 100 } },
];

beforeAll(async () => {
  gw = await startTestGateway({}, false, true);
  biz = await createBusiness(gw);
  for (const o of offers) expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, o)).status).toBe(201);
  await linkAcquirer(gw, biz, acquirer);
  acq = await connect(gw.iso8583_port);
});
afterAll(async () => {
  acq?.close();
  await gw?.close();
});

const nextStan = () => String(++stan).padStart(6, '0');
const n12 = (minor: number) => String(minor).padStart(12, '0');

/** A request as an acquirer sends it: DE7, a fresh DE11, DE32, DE41, DE42, DE49 978 (EUR). */
function request(mti: string, fields: Fields): Message {
  return { mti, fields: { 7: de7, 11: nextStan(), 32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' '), 49: '978', ...fields } };
}

/** DE90: original MTI, STAN, DE7, DE32 zero-padded to 11, DE33 zeros. */
const originalOf = (m: Message) => `${m.mti}${m.fields[11]}${m.fields[7]}${m.fields[32]!.padStart(11, '0')}${'0'.repeat(11)}`;

function amounts(de54: string | undefined): Record<string, { account: string; currency: string; sign: string; amount: number }> {
  const out: Record<string, { account: string; currency: string; sign: string; amount: number }> = {};
  expect((de54 ?? '').length % 20).toBe(0);
  for (let at = 0; de54 !== undefined && at < de54.length; at += 20) {
    out[de54.slice(at + 2, at + 4)] = { account: de54.slice(at, at + 2), currency: de54.slice(at + 4, at + 7), sign: de54.slice(at + 7, at + 8), amount: Number(de54.slice(at + 8, at + 20)) };
  }
  return out;
}

async function contact(): Promise<{ id: string; card: string; wallet_code: string }> {
  const card = testCard(4_700_000 + ++seed);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status, c.text).toBe(201);
  return { id: c.body.id, card, wallet_code: c.body.wallet_code };
}

function expectReplyTo(req: Message, reply: Message, mti: string, de39: string): void {
  expect(reply.mti, JSON.stringify(reply)).toBe(mti);
  expect(reply.fields[39], JSON.stringify(reply)).toBe(de39);
  expect(reply.fields[11]).toBe(req.fields[11]);
  if (req.fields[41] !== undefined) expect(reply.fields[41]).toBe(req.fields[41]);
}

/** A contact with `open` minor units in the open balance, funded by a purchase over ISO (2% instant). */
async function funded(purchase: number): Promise<{ id: string; card: string; wallet_code: string }> {
  const c = await contact();
  const req = request('0200', { 2: c.card, 3: '000000', 4: n12(purchase) });
  expectReplyTo(req, await acq.send(req), '0210', '00');
  return c;
}

// ---------------------------------------------------------------- the Messages table, row by row

describe('0800 network management', () => {
  for (const code of ['001', '002', '301']) {
    it(`DE70 ${code}: 0810 DE39 00`, async () => {
      const req = request('0800', { 70: code });
      expectReplyTo(req, await acq.send(req), '0810', '00');
    });
  }
  it('as a switch sends it, with DE7, DE11, DE70 only (no DE32, DE41): 0810 DE39 00', async () => {
    const req: Message = { mti: '0800', fields: { 7: de7, 11: nextStan(), 70: '301' } };
    const reply = await acq.raw(frame(encode(req)));
    expect(reply.mti).toBe('0810');
    expect(reply.fields[39]).toBe('00');
    expect(reply.fields[11]).toBe(req.fields[11]);
  });
});

describe('0100 balance inquiry', () => {
  it('0110 00, DE54 carries open (01) and commerce (02) as the HTTP wallet reads them', async () => {
    const c = await funded(10_000);
    const req = request('0100', { 2: c.card, 3: '310000' });
    const reply = await acq.send(req);
    expectReplyTo(req, reply, '0110', '00');
    const w = await walletOf(gw, biz.admin_key, c.id);
    const got = amounts(reply.fields[54]);
    expect(got['01']).toMatchObject({ currency: '978', sign: 'C', amount: w.open });
    expect(got['02']).toMatchObject({ currency: '978', sign: 'C', amount: w.commerce });
    expect(w.open).toBeGreaterThan(0);
    expect(w.commerce).toBeGreaterThan(0);
  });
});

describe('0200 purchase: the same transaction the HTTP API would create', () => {
  it('0210 00 with DE38; DE54 90 = total awarded, 91 = total instant discount, as POST /v1/purchases', async () => {
    const by_iso = await contact();
    const by_http = await contact();
    const req = request('0200', { 2: by_iso.card, 3: '000000', 4: n12(12_345) });
    const reply = await acq.send(req);
    expectReplyTo(req, reply, '0210', '00');
    expect(reply.fields[38]).toMatch(/^[A-Za-z0-9 ]{6}$/);
    const http = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `lit-${stan}`, cim: { type: 'card', value: by_http.card }, amount: 12_345, currency: 'EUR' });
    expect(http.status, http.text).toBe(201);
    const awarded = (http.body.awards as { kind: string; amount: number }[]).filter((a) => a.kind !== 'instant_discount').reduce((s, a) => s + a.amount, 0);
    const got = amounts(reply.fields[54]);
    expect(got['90']).toMatchObject({ currency: '978', amount: awarded });
    expect(got['91']).toMatchObject({ currency: '978', amount: http.body.discount });
    const [w_iso, w_http] = [await walletOf(gw, biz.admin_key, by_iso.id), await walletOf(gw, biz.admin_key, by_http.id)];
    expect({ open: w_iso.open, commerce: w_iso.commerce }).toEqual({ open: w_http.open, commerce: w_http.commerce });
  });

  it('appears in GET /v1/transactions as a purchase of the contact, amount and currency as sent, ledger recorded', async () => {
    const c = await contact();
    const req = request('0200', { 2: c.card, 3: '000000', 4: n12(4_321) });
    expectReplyTo(req, await acq.send(req), '0210', '00');
    const found = await eventually('the ISO purchase in GET /v1/transactions', async () => {
      const list = await call(gw, 'GET', '/v1/transactions?limit=100', biz.admin_key);
      expect(list.status, list.text).toBe(200);
      const rows = (Array.isArray(list.body) ? list.body : (list.body.data ?? list.body.transactions ?? list.body.items)) as { id: string; contact_id?: string }[];
      return rows.find((t) => t.contact_id === c.id);
    });
    const t = await call(gw, 'GET', `/v1/transactions/${found.id}`, biz.admin_key);
    expect(t.status, t.text).toBe(200);
    expect(t.body).toMatchObject({ kind: 'purchase', contact_id: c.id, amount: 4_321, currency: 'EUR', status: 'approved', terminal_id: biz.terminal_id });
  });
});

describe('0200 spend of DE4 from the open balance, DE2 = a wallet code', () => {
  it('00 and the open balance debited; 51 if short (nothing debited); 05 if spend-blocked', async () => {
    const c = await funded(10_000);
    const before = await walletOf(gw, biz.admin_key, c.id);
    const spend = request('0200', { 2: c.wallet_code, 3: '000000', 4: n12(50) });
    expectReplyTo(spend, await acq.send(spend), '0210', '00');
    expect((await walletOf(gw, biz.admin_key, c.id)).open).toBe(before.open - 50);
    const short = request('0200', { 2: c.wallet_code, 3: '000000', 4: n12(before.open) });
    expectReplyTo(short, await acq.send(short), '0210', '51');
    expect((await walletOf(gw, biz.admin_key, c.id)).open).toBe(before.open - 50);
    expect((await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: true })).status).toBe(200);
    const blocked = request('0200', { 2: c.wallet_code, 3: '000000', 4: n12(10) });
    expectReplyTo(blocked, await acq.send(blocked), '0210', '05');
    expect((await walletOf(gw, biz.admin_key, c.id)).open).toBe(before.open - 50);
  });
});

describe('0200 with DE48 OTP=: spend with a one-time code', () => {
  async function otpFor(id: string, amount: number): Promise<string> {
    const o = await call(gw, 'POST', `/v1/contacts/${id}/spend-otp`, biz.admin_key, { amount });
    expect(o.status, o.text).toBe(201);
    return o.body.otp;
  }
  it('DE2 = the contact’s card, DE48 OTP=: 00 and debited; the OTP again (used up): 55; a wrong OTP: 55', async () => {
    const c = await funded(10_000);
    const before = await walletOf(gw, biz.admin_key, c.id);
    const otp = await otpFor(c.id, 100);
    const spend = request('0200', { 2: c.card, 3: '000000', 4: n12(80), 48: `OTP=${otp};` });
    expectReplyTo(spend, await acq.send(spend), '0210', '00');
    expect((await walletOf(gw, biz.admin_key, c.id)).open).toBe(before.open - 80);
    const again = request('0200', { 2: c.card, 3: '000000', 4: n12(10), 48: `OTP=${otp};` });
    expectReplyTo(again, await acq.send(again), '0210', '55');
    const wrong = request('0200', { 2: c.card, 3: '000000', 4: n12(10), 48: `OTP=${otp === '000000' ? '111111' : '000000'};` });
    expectReplyTo(wrong, await acq.send(wrong), '0210', '55');
    expect((await walletOf(gw, biz.admin_key, c.id)).open).toBe(before.open - 80);
  });
  it('without DE2 (the OTP names the contact, as POST /v1/spends {otp}): 00', async () => {
    const c = await funded(10_000);
    const before = await walletOf(gw, biz.admin_key, c.id);
    const otp = await otpFor(c.id, 100);
    const spend = request('0200', { 3: '000000', 4: n12(60), 48: `OTP=${otp};` });
    expectReplyTo(spend, await acq.send(spend), '0210', '00');
    expect((await walletOf(gw, biz.admin_key, c.id)).open).toBe(before.open - 60);
  });
  it('short of funds with a valid OTP: 51', async () => {
    const c = await funded(10_000);
    const before = await walletOf(gw, biz.admin_key, c.id);
    const otp = await otpFor(c.id, before.open + 500);
    const spend = request('0200', { 2: c.card, 3: '000000', 4: n12(before.open + 1), 48: `OTP=${otp};` });
    expectReplyTo(spend, await acq.send(spend), '0210', '51');
  });
});

describe('0200 DE3 = 20xxxx: refund of the purchase named in DE90', () => {
  it('00 and the awards clawed back in proportion; an unknown original: 25', async () => {
    const c = await contact();
    const purchase = request('0200', { 2: c.card, 3: '000000', 4: n12(10_000) });
    expectReplyTo(purchase, await acq.send(purchase), '0210', '00');
    const after_purchase = await walletOf(gw, biz.admin_key, c.id);
    const refund = request('0200', { 2: c.card, 3: '200000', 4: n12(5_000), 90: originalOf(purchase) });
    expectReplyTo(refund, await acq.send(refund), '0210', '00');
    const after_refund = await walletOf(gw, biz.admin_key, c.id);
    // The same purchase and refund over HTTP, for another contact: the same wallet after each.
    const h = await contact();
    const reference = `lit-refund-${stan}`;
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: h.card }, amount: 10_000, currency: 'EUR' })).status).toBe(201);
    expect(await walletOf(gw, biz.admin_key, h.id)).toEqual(after_purchase);
    const r = await call(gw, 'POST', '/v1/refunds', biz.terminal_key, { reference: `${reference}-r`, original_reference: reference, amount: 5_000 });
    expect(r.status, r.text).toBe(201);
    expect(await walletOf(gw, biz.admin_key, h.id)).toEqual(after_refund);
    expect(after_refund.commerce).toBeLessThan(after_purchase.commerce);
    const unknown = request('0200', { 2: c.card, 3: '200000', 4: n12(100), 90: originalOf({ mti: '0200', fields: { 11: '999999', 7: '0101000000', 32: acquirer } }) });
    expectReplyTo(unknown, await acq.send(unknown), '0210', '25');
    const too_much = request('0200', { 2: c.card, 3: '200000', 4: n12(5_001), 90: originalOf(purchase) });
    const reply = await acq.send(too_much);
    expect(reply.mti).toBe('0210');
    expect(reply.fields[39]).not.toBe('00');
    expect(await walletOf(gw, biz.admin_key, c.id)).toEqual(after_refund);
  });
});

describe('0400 / 0420 reversal of an earlier 0200', () => {
  for (const [mti, answer, repeat] of [['0400', '0410', '0401'], ['0420', '0430', '0421']] as const) {
    it(`${mti}: ${answer} 00 and the purchase void; a repeat ${repeat} is answered again, unchanged`, async () => {
      const c = await contact();
      const empty = await walletOf(gw, biz.admin_key, c.id);
      const purchase = request('0200', { 2: c.card, 3: '000000', 4: n12(7_000) });
      expectReplyTo(purchase, await acq.send(purchase), '0210', '00');
      const reversal = request(mti, { 2: c.card, 3: '000000', 4: n12(7_000), 90: originalOf(purchase) });
      const first = await acq.send(reversal);
      expectReplyTo(reversal, first, answer, '00');
      expect(await walletOf(gw, biz.admin_key, c.id)).toEqual(empty);
      const again = await acq.send({ mti: repeat, fields: reversal.fields });
      expect(again.fields).toEqual(first.fields);
      expect(await walletOf(gw, biz.admin_key, c.id)).toEqual(empty);
    });
  }
  it('0400 of a wallet-code spend gives the open balance back', async () => {
    const c = await funded(10_000);
    const before = await walletOf(gw, biz.admin_key, c.id);
    const spend = request('0200', { 2: c.wallet_code, 3: '000000', 4: n12(70) });
    expectReplyTo(spend, await acq.send(spend), '0210', '00');
    const reversal = request('0400', { 2: c.wallet_code, 3: '000000', 4: n12(70), 90: originalOf(spend) });
    expectReplyTo(reversal, await acq.send(reversal), '0410', '00');
    expect(await walletOf(gw, biz.admin_key, c.id)).toEqual(before);
  });
  it('0400 naming no earlier 0200: 0410 25', async () => {
    const reversal = request('0400', { 3: '000000', 4: n12(70), 90: originalOf({ mti: '0200', fields: { 11: '999998', 7: '0101000000', 32: acquirer } }) });
    expectReplyTo(reversal, await acq.send(reversal), '0410', '25');
  });
});

// ---------------------------------------------------------------- idempotency

describe('Idempotency key DE32 + DE41 + DE11 + DE7', () => {
  it('a retransmission with identical content gets the original reply, and nothing more happens', async () => {
    const c = await contact();
    const req = request('0200', { 2: c.card, 3: '000000', 4: n12(3_000) });
    const first = await acq.send(req);
    expectReplyTo(req, first, '0210', '00');
    const w = await walletOf(gw, biz.admin_key, c.id);
    const second = await acq.send(req);
    expect(second).toEqual(first);
    expect(await walletOf(gw, biz.admin_key, c.id)).toEqual(w);
  });
  it('different content under the same key gets 94, and nothing changes', async () => {
    const c = await contact();
    const req = request('0200', { 2: c.card, 3: '000000', 4: n12(3_000) });
    expectReplyTo(req, await acq.send(req), '0210', '00');
    const w = await walletOf(gw, biz.admin_key, c.id);
    const other = { mti: '0200', fields: { ...req.fields, 4: n12(3_001) } };
    expectReplyTo(other, await acq.send(other), '0210', '94');
    expect(await walletOf(gw, biz.admin_key, c.id)).toEqual(w);
  });
  it('the same DE11 with another DE7 is another transaction', async () => {
    const c = await contact();
    const req = request('0200', { 2: c.card, 3: '000000', 4: n12(1_000) });
    expectReplyTo(req, await acq.send(req), '0210', '00');
    const next = { mti: '0200', fields: { ...req.fields, 7: '1124101501', 4: n12(2_000) } };
    expectReplyTo(next, await acq.send(next), '0210', '00');
  });
});

// ---------------------------------------------------------------- response codes

describe('Response codes', () => {
  it('03: unknown link (DE32), merchant (DE42) or terminal (DE41)', async () => {
    const c = await contact();
    for (const over of [{ 32: '99' + acquirer }, { 42: 'NO-SUCH-MERCH  ' }, { 41: 'NOPE0001' }] as Fields[]) {
      const req = request('0200', { 2: c.card, 3: '000000', 4: n12(1_000), ...over });
      expectReplyTo(req, await acq.send(req), '0210', '03');
      const inquiry = request('0100', { 2: c.card, 3: '310000', ...over });
      expectReplyTo(inquiry, await acq.send(inquiry), '0110', '03');
      const reversal = request('0400', { 3: '000000', 4: n12(1_000), 90: originalOf(req), ...over });
      expectReplyTo(reversal, await acq.send(reversal), '0410', '03');
      const refund = request('0200', { 3: '200000', 4: n12(1_000), 90: originalOf(req), ...over });
      expectReplyTo(refund, await acq.send(refund), '0210', '03');
    }
    expect((await walletOf(gw, biz.admin_key, c.id)).commerce).toBe(0);
  });
  it('03: DE41 of a terminal of another merchant of the same business than DE42 names', async () => {
    const m = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Second', code: `S${stan}${Date.now() % 1000}`.slice(0, 15) });
    expect(m.status, m.text).toBe(201);
    const v = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'V2', merchant_id: m.body.id });
    expect((await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: v.body.id, code: 'T0000002' })).status).toBe(201);
    const c = await contact();
    const req = request('0200', { 2: c.card, 3: '000000', 4: n12(1_000), 41: 'T0000002' });
    expectReplyTo(req, await acq.send(req), '0210', '03');
    const ok = request('0200', { 2: c.card, 3: '000000', 4: n12(1_000), 41: 'T0000002', 42: m.body.code.padEnd(15, ' ') });
    expectReplyTo(ok, await acq.send(ok), '0210', '00');
  });
  it('12: an unsupported processing code', async () => {
    const c = await contact();
    for (const [mti, answer, de3] of [['0200', '0210', '400000'], ['0200', '0210', '010000'], ['0100', '0110', '000000']] as const) {
      const req = request(mti, { 2: c.card, 3: de3, 4: n12(1_000) });
      expectReplyTo(req, await acq.send(req), answer, '12');
    }
  });
  it('12: an unsupported MTI (0600: 0610 12)', async () => {
    const req = request('0600', { 3: '000000' });
    expectReplyTo(req, await acq.send(req), '0610', '12');
  });
  it('13: an invalid amount (zero)', async () => {
    const c = await contact();
    const req = request('0200', { 2: c.card, 3: '000000', 4: n12(0) });
    expectReplyTo(req, await acq.send(req), '0210', '13');
  });
  it('14: a card of no contact', async () => {
    const req = request('0200', { 2: testCard(4_799_999), 3: '000000', 4: n12(1_000) });
    expectReplyTo(req, await acq.send(req), '0210', '14');
    const inquiry = request('0100', { 2: testCard(4_799_999), 3: '310000' });
    expectReplyTo(inquiry, await acq.send(inquiry), '0110', '14');
  });
});

// ---------------------------------------------------------------- bad input

describe('Bad input', () => {
  it('MTI, DE11 and DE41 readable, a field not: a reply with DE39 30, and nothing changes', async () => {
    const c = await contact();
    const good = encode(request('0200', { 2: c.card, 3: '000000', 4: n12(1_000) })).toString('latin1');
    const s11 = String(stan).padStart(6, '0');
    const bad = Buffer.from(good.replace(n12(1_000), '00000000AB00'), 'latin1');
    const reply = await acq.raw(frame(bad));
    expect(reply.mti).toBe('0210');
    expect(reply.fields[39]).toBe('30');
    expect(reply.fields[11]).toBe(s11);
    expect(reply.fields[41]).toBe(biz.terminal_code);
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 0, commerce: 0 });
  });
  for (const [what, bytes] of [
    ['bytes that are no message', frame(Buffer.from('hello, gateway', 'latin1'))],
    ['a zero-length frame', Buffer.from([0, 0])],
    ['a frame longer than 8 KiB', Buffer.concat([Buffer.from([0x20, 0x01]), Buffer.alloc(8193, 0x30)])],
  ] as const) {
    it(`${what}: the connection is closed, others go on`, async () => {
      const victim = await connect(gw.iso8583_port);
      victim.socket.write(bytes);
      await victim.closed();
      const req = request('0800', { 70: '301' });
      expectReplyTo(req, await acq.send(req), '0810', '00');
    });
  }
  it('the vector network_management_message.dat (0800 with DE12, DE13, DE15) is answered 0810 00', async () => {
    const { readFileSync } = await import('node:fs');
    const raw = readFileSync('/work/shared/iso8583-vectors/moov-io-iso8583/test/testdata/network_management_message.dat');
    const reply = await acq.raw(frame(raw));
    expect(reply.mti).toBe('0810');
    expect(reply.fields[39]).toBe('00');
    expect(reply.fields[11]).toBe('900001');
  });
});

// ---------------------------------------------------------------- options and connections

describe('Many requests in flight on one connection', () => {
  it('50 purchases at once on one connection each get their own reply', async () => {
    const cs = await Promise.all(Array.from({ length: 5 }, () => contact()));
    const reqs = Array.from({ length: 50 }, (_, i) => request('0200', { 2: cs[i % 5]!.card, 3: '000000', 4: n12(100 + i) }));
    const replies = await Promise.all(reqs.map((r) => acq.send(r)));
    replies.forEach((r, i) => expectReplyTo(reqs[i]!, r, '0210', '00'));
  });
});

describe('Options: ascii4 framing, binary bitmaps, idle timeout', () => {
  it('ISO8583_FRAMING=ascii4 and ISO8583_BITMAP=binary: 0800 answered 0810 00', async () => {
    const other = await startTestGateway({ iso8583: { framing: 'ascii4', bitmap: 'binary', idle_seconds: 300 } }, false, true);
    try {
      const a = await connect(other.iso8583_port, { framing: 'ascii4', bitmap: 'binary' });
      const req = request('0800', { 70: '001' });
      expectReplyTo(req, await a.send(req), '0810', '00');
      a.close();
    } finally {
      await other.close();
    }
  });
  it('ISO8583_IDLE_SECONDS=1: a silent connection is closed after it, not before', async () => {
    const other = await startTestGateway({ iso8583: { framing: 'binary2', bitmap: 'hex', idle_seconds: 1 } }, false, true);
    try {
      const a = await connect(other.iso8583_port);
      await expect(a.closed(800)).rejects.toThrow();
      await a.closed(3_000);
    } finally {
      await other.close();
    }
  });
});

describe('More of the table, literally', () => {
  it('DE3 00xxxx / 20xxxx / 31xxxx with other account types (001000, 002000, 200030, 312000) are the same rows', async () => {
    const c = await contact();
    const p = request('0200', { 2: c.card, 3: '002000', 4: n12(1_000) });
    expectReplyTo(p, await acq.send(p), '0210', '00');
    const p2 = request('0200', { 2: c.card, 3: '001000', 4: n12(1_000) });
    expectReplyTo(p2, await acq.send(p2), '0210', '00');
    const r = request('0200', { 2: c.card, 3: '200030', 4: n12(500), 90: originalOf(p) });
    expectReplyTo(r, await acq.send(r), '0210', '00');
    const b = request('0100', { 2: c.card, 3: '312000' });
    expectReplyTo(b, await acq.send(b), '0110', '00');
  });
  it('a refund without DE2 (DE90 names the purchase): 00', async () => {
    const c = await contact();
    const p = request('0200', { 2: c.card, 3: '000000', 4: n12(1_000) });
    expectReplyTo(p, await acq.send(p), '0210', '00');
    const r = request('0200', { 3: '200000', 4: n12(1_000), 90: originalOf(p) });
    expectReplyTo(r, await acq.send(r), '0210', '00');
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 0, commerce: 0 });
  });
  it('an OTP spend of a spend-blocked contact: 05', async () => {
    const c = await funded(10_000);
    const o = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 50 });
    expect(o.status).toBe(201);
    expect((await call(gw, 'PATCH', `/v1/contacts/${c.id}`, biz.admin_key, { spend_blocked: true })).status).toBe(200);
    const spend = request('0200', { 2: c.card, 3: '000000', 4: n12(50), 48: `OTP=${o.body.otp};` });
    expectReplyTo(spend, await acq.send(spend), '0210', '05');
  });
  it('a second 0400 (new DE11) of a reversed purchase changes nothing', async () => {
    const c = await contact();
    const p = request('0200', { 2: c.card, 3: '000000', 4: n12(2_000) });
    expectReplyTo(p, await acq.send(p), '0210', '00');
    const r = request('0400', { 3: '000000', 4: n12(2_000), 90: originalOf(p) });
    expectReplyTo(r, await acq.send(r), '0410', '00');
    const r2 = request('0400', { 3: '000000', 4: n12(2_000), 90: originalOf(p) });
    const reply = await acq.send(r2);
    expect(reply.mti).toBe('0410');
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 0, commerce: 0 });
    const repeat = await acq.send({ mti: '0401', fields: r.fields });
    expect(repeat.mti).toBe('0410');
    expect(repeat.fields[39]).toBe('00');
  });
  it('a retransmitted 0200 after its reversal gets its original reply and is not booked again', async () => {
    const c = await contact();
    const p = request('0200', { 2: c.card, 3: '000000', 4: n12(2_000) });
    const first = await acq.send(p);
    expectReplyTo(p, first, '0210', '00');
    const r = request('0400', { 3: '000000', 4: n12(2_000), 90: originalOf(p) });
    expectReplyTo(r, await acq.send(r), '0410', '00');
    expect(await acq.send(p)).toEqual(first);
    expect(await walletOf(gw, biz.admin_key, c.id)).toMatchObject({ open: 0, commerce: 0 });
  });
  it('twenty identical copies at once on twenty connections: one transaction, one reply for all', async () => {
    const c = await contact();
    const p = request('0200', { 2: c.card, 3: '000000', 4: n12(1_000) });
    const links = await Promise.all(Array.from({ length: 20 }, () => connect(gw.iso8583_port)));
    const replies = await Promise.all(links.map((a) => a.send(p)));
    for (const a of links) a.close();
    for (const r of replies) expect(r).toEqual(replies[0]);
    expect(replies[0]!.fields[39]).toBe('00');
    const h = await contact();
    expect((await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `lit-once-${stan}`, cim: { type: 'card', value: h.card }, amount: 1_000, currency: 'EUR' })).status).toBe(201);
    const [w, once] = [await walletOf(gw, biz.admin_key, c.id), await walletOf(gw, biz.admin_key, h.id)];
    expect({ open: w.open, commerce: w.commerce }).toEqual({ open: once.open, commerce: once.commerce });
  });
});

describe('Another business, linked to another DE32, is never reached', () => {
  let other: BusinessFixture;
  const other_acquirer = randomAcquirerId();
  beforeAll(async () => {
    other = await createBusiness(gw);
    expect((await call(gw, 'POST', '/v1/offers', other.admin_key, offers[0])).status).toBe(201);
    await linkAcquirer(gw, other, other_acquirer);
  });
  it('its contact’s card is 14 here (0200 and 0100), and its purchase cannot be refunded or reversed from here (25)', async () => {
    const card = testCard(4_790_001);
    const oc = await call(gw, 'POST', '/v1/contacts', other.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(oc.status).toBe(201);
    const theirs: Message = { mti: '0200', fields: { 7: de7, 11: nextStan(), 32: other_acquirer, 41: other.terminal_code, 42: other.merchant_code.padEnd(15, ' '), 49: '978', 2: card, 3: '000000', 4: n12(5_000) } };
    expectReplyTo(theirs, await acq.send(theirs), '0210', '00');
    const w = await walletOf(gw, other.admin_key, oc.body.id);
    expect(w.commerce).toBe(500);
    const p = request('0200', { 2: card, 3: '000000', 4: n12(1_000) });
    expectReplyTo(p, await acq.send(p), '0210', '14');
    const b = request('0100', { 2: card, 3: '310000' });
    const balance = await acq.send(b);
    expectReplyTo(b, balance, '0110', '14');
    expect(balance.fields[54]).toBeUndefined();
    const r = request('0200', { 3: '200000', 4: n12(5_000), 90: originalOf(theirs) });
    expectReplyTo(r, await acq.send(r), '0210', '25');
    const v = request('0400', { 3: '000000', 4: n12(5_000), 90: originalOf(theirs) });
    expectReplyTo(v, await acq.send(v), '0410', '25');
    expect(await walletOf(gw, other.admin_key, oc.body.id)).toEqual(w);
  });
});

describe('0100 in a currency other than EUR', () => {
  it('a JPY business: DE54 in 392, the wallet in yen', async () => {
    const jp = await createBusiness(gw, { currency: 'JPY' });
    expect((await call(gw, 'POST', '/v1/offers', jp.admin_key, offers[0])).status).toBe(201);
    const jp_acquirer = randomAcquirerId();
    await linkAcquirer(gw, jp, jp_acquirer);
    const card = testCard(4_790_002);
    const oc = await call(gw, 'POST', '/v1/contacts', jp.admin_key, { cims: [{ type: 'card', value: card }] });
    const base = { 7: de7, 32: jp_acquirer, 41: jp.terminal_code, 42: jp.merchant_code.padEnd(15, ' '), 49: '392', 2: card };
    const p: Message = { mti: '0200', fields: { ...base, 11: nextStan(), 3: '000000', 4: n12(1_000) } };
    const pr = await acq.send(p);
    expectReplyTo(p, pr, '0210', '00');
    expect(amounts(pr.fields[54])['90']).toMatchObject({ currency: '392', amount: 100 });
    const b: Message = { mti: '0100', fields: { ...base, 11: nextStan(), 3: '310000' } };
    const reply = await acq.send(b);
    expectReplyTo(b, reply, '0110', '00');
    expect(amounts(reply.fields[54])['02']).toMatchObject({ currency: '392', amount: (await walletOf(gw, jp.admin_key, oc.body.id)).commerce });
  });
});

describe('No full PAN in the log', () => {
  it('no card sent in this file appears whole in what the gateway logged', () => {
    const log = gw.logs.join('');
    for (let s = 4_700_001; s <= 4_700_000 + seed; s++) expect(log.includes(testCard(s))).toBe(false);
    expect(log.includes(testCard(4_790_001))).toBe(false);
  });
});

describe('The wire, at its edges', () => {
  /** An 0800 of exactly `size` bytes, filled out with DE55..DE63 (LLLVAR, up to 999 each). */
  function sized0800(size: number): Buffer {
    const m: Message = { mti: '0800', fields: { 7: de7, 11: nextStan(), 70: '301' } };
    let left = size - encode(m).length;
    for (const f of [55, 56, 57, 59, 60, 61, 62, 63, 46, 47]) {
      if (left <= 3) break;
      const n = Math.min(f === 59 ? 255 : 999, left - 3);
      m.fields[f] = 'x'.repeat(n);
      left -= n + 3;
      if (left === 0) break;
    }
    const b = encode(m);
    expect(b.length).toBe(size);
    return b;
  }
  it('a frame of exactly 8 KiB (8192 bytes) is no framing error: 0810 00', async () => {
    const a = await connect(gw.iso8583_port);
    const reply = await Promise.race([a.raw(frame(sized0800(8192))), a.closed(5_000).then(() => 'closed' as const)]);
    a.close();
    expect(reply).not.toBe('closed');
    expect((reply as Message).fields[39]).toBe('00');
  });
  it('a frame of 8193 bytes closes the connection', async () => {
    const a = await connect(gw.iso8583_port);
    a.socket.write(frame(sized0800(8193)));
    await a.closed();
  });
  it('a message cut short after DE41 (MTI, DE11, DE41 readable): DE39 30, and its key stays free', async () => {
    const c = await contact();
    const req = request('0200', { 2: c.card, 3: '000000', 4: n12(1_000) });
    const whole = encode(req);
    const reply = await acq.raw(frame(whole.subarray(0, whole.length - 10)));
    expect(reply.mti).toBe('0210');
    expect(reply.fields[39]).toBe('30');
    expect(reply.fields[11]).toBe(req.fields[11]);
    expect(reply.fields[41]).toBe(req.fields[41]);
    // "Nothing a peer sends may ... change state": the same key, now well formed, is a purchase.
    expectReplyTo(req, await acq.send(req), '0210', '00');
    expect((await walletOf(gw, biz.admin_key, c.id)).commerce).toBeGreaterThan(0);
  });
  it('a secondary bitmap present but empty, and lowercase hex bitmaps, are read', async () => {
    const c = await contact();
    const req = request('0200', { 2: c.card, 3: '000000', 4: n12(1_000) });
    const text = encode(req).toString('latin1');
    const primary = text.slice(4, 20);
    const withSecondary = `0200${(parseInt(primary[0]!, 16) | 8).toString(16).toUpperCase()}${primary.slice(1)}${'0'.repeat(16)}${text.slice(20)}`;
    expectReplyTo(req, await acq.raw(frame(Buffer.from(withSecondary, 'latin1'))), '0210', '00');
    const req2 = request('0200', { 2: c.card, 3: '000000', 4: n12(1_000) });
    const lower = encode(req2).toString('latin1');
    expectReplyTo(req2, await acq.raw(frame(Buffer.from(lower.slice(0, 4) + lower.slice(4, 20).toLowerCase() + lower.slice(20), 'latin1'))), '0210', '00');
  });
  it('DE52 and DE64 as spec87ascii carries them (8 bytes as 16 hex characters) are read', async () => {
    const c = await contact();
    const req = request('0200', { 2: c.card, 3: '000000', 4: n12(1_000) });
    const body = encode({ mti: req.mti, fields: { ...req.fields, 52: '0123456789ABCDEF', 64: 'y'.repeat(8) } }).toString('latin1').replace('y'.repeat(8), 'FEDCBA9876543210');
    expectReplyTo(req, await acq.raw(frame(Buffer.from(body, 'latin1'))), '0210', '00');
  });
  it('traffic keeps a connection open past ISO8583_IDLE_SECONDS; silence then closes it', async () => {
    const other = await startTestGateway({ iso8583: { framing: 'binary2', bitmap: 'hex', idle_seconds: 1 } }, false, true);
    try {
      const a = await connect(other.iso8583_port);
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 500));
        const echo: Message = { mti: '0800', fields: { 7: de7, 11: nextStan(), 70: '301' } };
        expect((await a.raw(frame(encode(echo)))).fields[39]).toBe('00');
      }
      await a.closed(3_000);
    } finally {
      await other.close();
    }
  });
});

describe('DE54 signs and zeros', () => {
  it('a balance below zero (a refund clawing back a spent award) is carried with sign D', async () => {
    const c = await funded(10_000);
    const p = request('0200', { 2: c.card, 3: '000000', 4: n12(10_000) });
    expectReplyTo(p, await acq.send(p), '0210', '00');
    const w = await walletOf(gw, biz.admin_key, c.id);
    const spend = request('0200', { 2: c.wallet_code, 3: '000000', 4: n12(w.open) });
    expectReplyTo(spend, await acq.send(spend), '0210', '00');
    const commerce = (await walletOf(gw, biz.admin_key, c.id)).commerce;
    const redeem = await call(gw, 'POST', '/v1/redemptions', biz.terminal_key, { reference: `lit-redeem-${stan}`, cim: { type: 'card', value: c.card } });
    expect(redeem.status, redeem.text).toBe(201);
    const spend2 = request('0200', { 2: c.wallet_code, 3: '000000', 4: n12(commerce) });
    expectReplyTo(spend2, await acq.send(spend2), '0210', '00');
    const refund = request('0200', { 3: '200000', 4: n12(10_000), 90: originalOf(p) });
    expectReplyTo(refund, await acq.send(refund), '0210', '00');
    const after = await walletOf(gw, biz.admin_key, c.id);
    expect(after.open + after.commerce).toBeLessThan(0);
    const b = request('0100', { 2: c.card, 3: '310000' });
    const reply = await acq.send(b);
    expectReplyTo(b, reply, '0110', '00');
    const got = amounts(reply.fields[54]);
    const signed = (x: { sign: string; amount: number }) => (x.sign === 'D' ? -x.amount : x.amount);
    expect(signed(got['01']!)).toBe(after.open);
    expect(signed(got['02']!)).toBe(after.commerce);
  });
  it('a purchase that matches no offer: 00, DE54 90 and 91 both zero', async () => {
    const bare = await createBusiness(gw);
    const bare_acquirer = randomAcquirerId();
    await linkAcquirer(gw, bare, bare_acquirer);
    const card = testCard(4_790_003);
    expect((await call(gw, 'POST', '/v1/contacts', bare.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    const p: Message = { mti: '0200', fields: { 7: de7, 11: nextStan(), 32: bare_acquirer, 41: bare.terminal_code, 42: bare.merchant_code.padEnd(15, ' '), 49: '978', 2: card, 3: '000000', 4: n12(1_000) } };
    const reply = await acq.send(p);
    expectReplyTo(p, reply, '0210', '00');
    const got = amounts(reply.fields[54]);
    expect(got['90']?.amount).toBe(0);
    expect(got['91']?.amount).toBe(0);
  });
});

describe('More on one connection, and DE48 with other tags', () => {
  it('200 requests in flight on one connection all get their replies', async () => {
    const c = await contact();
    const reqs = Array.from({ length: 200 }, () => request('0100', { 2: c.card, 3: '310000' }));
    const replies = await Promise.all(reqs.map((r) => acq.send(r)));
    replies.forEach((r, i) => expectReplyTo(reqs[i]!, r, '0110', '00'));
  });
  it('DE48 with another tag before OTP=, and OTP= without its trailing semicolon, is an OTP spend', async () => {
    const c = await funded(10_000);
    for (const shape of [(otp: string) => `FOO=1;OTP=${otp};`, (otp: string) => `OTP=${otp}`]) {
      const o = await call(gw, 'POST', `/v1/contacts/${c.id}/spend-otp`, biz.admin_key, { amount: 10 });
      const spend = request('0200', { 2: c.card, 3: '000000', 4: n12(10), 48: shape(o.body.otp) });
      expectReplyTo(spend, await acq.send(spend), '0210', '00');
    }
  });
  it('binary bitmaps on the default 2-byte framing: a purchase approved', async () => {
    const other = await startTestGateway({ iso8583: { framing: 'binary2', bitmap: 'binary', idle_seconds: 300 } }, false, true);
    try {
      const a = await connect(other.iso8583_port, { bitmap: 'binary' });
      const c = await contact();
      const req = request('0200', { 2: c.card, 3: '000000', 4: n12(1_000) });
      const reply = await a.send(req);
      expectReplyTo(req, reply, '0210', '00');
      expect(amounts(reply.fields[54])['90']).toBeDefined();
      a.close();
    } finally {
      await other.close();
    }
  });
});
