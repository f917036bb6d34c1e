// The dashboard's traffic counts every POS transaction, whichever channel it came through: HTTP
// (console-api.test.ts), the WebSocket terminal channel and ISO 8583. Quotes, wallet look-ups,
// balance inquiries and network management messages are not transactions and are not counted.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage } from '../adapters/iso8583/codec.ts';
import { linkAcquirer, randomAcquirerId } from './acquirer.ts';
import { call, closeAll, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { unique } from './contract-util.ts';
import { TerminalClient } from './ws-client.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let iso: IsoClient;
let ws: TerminalClient;
let card: string;
const acquirer = randomAcquirerId();

beforeAll(async () => {
  gw = await startTestGateway({}, true, true);
  biz = await createBusiness(gw);
  card = testCard(915_001);
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
  await linkAcquirer(gw, biz, acquirer);
  iso = await connectIso(gw.iso8583_port);
  ws = await TerminalClient.open(gw.port, biz.terminal_key);
});
afterAll(() => closeAll(ws, iso, gw));

let stan = 0;
const iso0200 = (pan: string, processing = '000000') =>
  createMessage('0200', { 2: pan, 3: processing, 4: '000000001000', 7: '1124101500', 11: String(++stan).padStart(6, '0'), 32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' '), 49: '978' });

it('counts WebSocket and ISO 8583 transactions, approved and declined, and nothing else they carry', async () => {
  const purchase = { reference: unique('w-'), cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' };
  expect((await ws.request('1', 'purchase', purchase)).status).toBe(201);
  expect((await ws.request('2', 'spend', { reference: unique('w-'), amount: 1, currency: 'EUR', otp: '000000' })).status).toBe(422);
  expect((await ws.request('3', 'purchase.quote', { ...purchase, reference: undefined })).status).toBe(200);
  expect((await ws.request('4', 'wallet', { cim: purchase.cim })).status).toBe(200);
  expect((await iso.send(iso0200(card))).fields[39]).toBe('00');
  expect((await iso.send(iso0200(testCard(915_999)))).fields[39]).toBe('14');
  expect((await iso.send(createMessage('0100', { 2: card, 3: '310000', 7: '1124101500', 11: String(++stan).padStart(6, '0'), 32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15, ' ') }))).fields[39]).toBe('00');
  expect((await iso.send(createMessage('0800', { 7: '1124101500', 11: String(++stan).padStart(6, '0'), 41: biz.terminal_code, 70: '301' }))).fields[39]).toBe('00');

  const totals = async () => {
    const s = await call(gw, 'GET', `/v1/stats?since=${new Date(Date.now() - 3_600_000).toISOString()}`, biz.admin_key);
    const sum = (k: 'approved' | 'declined') => s.body.per_second.reduce((n: number, p: Record<string, number>) => n + p[k]!, 0);
    return { approved: sum('approved'), declined: sum('declined') };
  };
  const counted = await eventually('the counts in Redis', async () => {
    const t = await totals();
    return t.approved + t.declined >= 4 ? t : undefined;
  }, 20_000);
  // Flushed once a second: a count still to come would show within two.
  await new Promise((r) => setTimeout(r, 2_000));
  expect(await totals()).toEqual(counted);
  expect(counted).toEqual({ approved: 2, declined: 2 });
});
