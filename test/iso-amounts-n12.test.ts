// ISO 8583's DE54 amounts are n12 (ISO8583.md), yet a purchase's total award and a wallet's
// balances may exceed 999 999 999 999 (two 100% offers on the largest DE4, a currency with three
// decimals): the approved sale and the balance inquiry are still answered 00, with the amounts
// that fit (adapters/iso8583/additional-amounts.ts carried). Found by the money review.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAdditionalAmounts } from '../adapters/iso8583/additional-amounts.ts';
import { connectIso, type IsoClient } from '../adapters/iso8583/client.ts';
import { createMessage } from '../adapters/iso8583/codec.ts';
import { linkAcquirer, randomAcquirerId } from './acquirer.ts';
import { createCardContact } from './card-contact.ts';
import { call, createBusiness, startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let iso: IsoClient;
let stan = 0;

beforeAll(async () => {
  gw = await startTestGateway({}, false, true);
  iso = await connectIso(gw.iso8583_port);
});
afterAll(async () => {
  await iso.close();
  await gw.close();
});

describe('ISO 8583 amounts past n12', () => {
  it('an approved purchase awarding more than DE54 holds is still answered 00, and so is its balance inquiry', async () => {
    const biz = await createBusiness(gw, { currency: 'KWD' });
    const acquirer = randomAcquirerId();
    await linkAcquirer(gw, biz, acquirer);
    for (const name of ['a', 'b']) expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name, goal: 'spend', award: { percent: 100 } })).status).toBe(201);
    const c = await createCardContact(gw, biz, 990_001);
    const send = (mti: string, fields: Record<number, string>) => {
      const de7 = new Date().toISOString().replace(/\D/g, '').slice(4, 14);
      return iso.send(createMessage(mti, { 2: c.card, 7: de7, 11: String(++stan).padStart(6, '0'), 32: acquirer, 41: biz.terminal_code, 42: biz.merchant_code.padEnd(15), 49: '414', ...fields }));
    };
    const sale = await send('0200', { 3: '000000', 4: '999999999999' });
    const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
    expect(w.body.commerce).toBe(1_999_999_999_998); // the purchase was made
    expect(sale.fields[39]).toBe('00'); // was 30: the approved sale's reply could not be written
    // The award total does not fit n12 and is left out; the discount (0) is carried.
    expect(decodeAdditionalAmounts(sale.fields[54]!).map((a) => [a.amountType, a.amount])).toEqual([['91', 0]]);
    const inquiry = await send('0100', { 3: '310000' });
    expect(inquiry.fields[39]).toBe('00'); // was 30
    expect(decodeAdditionalAmounts(inquiry.fields[54]!).map((a) => [a.amountType, a.amount])).toEqual([['01', 0]]);
  });
});
