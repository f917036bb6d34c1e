// API.md: "`birthday`: on the contact's birthday, first purchase of that day only", and a reversal
// "voids an earlier purchase ... entirely, as if it never happened". A contact's latest purchase
// time alone cannot answer that:
// - a reversed purchase would stay the latest, so the purchase after a reversed birthday purchase
//   would not be taken for the day's first;
// - a purchase of a later day is "at or after the start of the birthday", so a sale of the
//   birthday that a terminal forwards after midnight (occurred_at, up to a day back; a processor's
//   up to 35 days) would not be taken for the day's first either, though it was.
// The guard reads the contact's birthday purchases by time (hot/keys.ts purchaseTimesKey: a
// sorted set kept 37 days, a reversal taking its purchase out) for the purchase's local day.
// A birth date set or changed to that day after its first purchase finds that purchase too
// (hot/birth-date.lua: before 2026-12-04 the day's second purchase was awarded as its first).

import { describe, expect, it } from 'vitest';
import { heldClockGatewayForFile, holdClock } from './held-clock.ts';
import { call, createBusiness, testCard, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let seq = 0;
heldClockGatewayForFile((started) => (gw = started));

const at = (iso: string) => holdClock(gw, iso);

async function setUp(birth_date: string | null = '1990-06-15') {
  const biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'birthday', goal: 'birthday', award: { fixed: 500 } });
  expect(o.status).toBe(201);
  const card = testCard(9_400_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }], ...(birth_date === null ? {} : { birth_date }) });
  expect(c.status).toBe(201);
  const buy = (reference: string, occurred_at?: string) =>
    call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR', ...(occurred_at ? { occurred_at } : {}) });
  const born = async (birth_date: string | null) => {
    const r = await call(gw, 'PATCH', `/v1/contacts/${c.body.id}`, biz.admin_key, { birth_date });
    expect(r.status, r.text).toBe(200);
  };
  return { biz, offer_id: o.body.id as string, buy, born };
}

const offers = (r: { body: { awards: { offer_id: string }[] } }) => r.body.awards.map((a) => a.offer_id);

describe('birthday: the first purchase of that day', () => {
  it('is the next one when the first is reversed', async () => {
    at('2026-06-15T10:00:00Z');
    const { biz, offer_id, buy } = await setUp();
    expect(offers(await buy('b-0', '2026-06-14T12:00:00Z'))).toEqual([]); // the day before
    expect(offers(await buy('b-1'))).toEqual([offer_id]);
    expect((await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'v-1', original_reference: 'b-1' })).status).toBe(201);
    at('2026-06-15T11:00:00Z');
    expect(offers(await buy('b-2'))).toEqual([offer_id]);
    expect(offers(await buy('b-3'))).toEqual([]);
  });

  it('is the birthday’s own first sale, even when it arrives after a purchase of the next day', async () => {
    at('2026-06-16T00:30:00Z');
    const { offer_id, buy } = await setUp();
    expect(offers(await buy('n-1'))).toEqual([]); // June 16th: not the birthday
    expect(offers(await buy('n-2', '2026-06-15T23:00:00Z'))).toEqual([offer_id]);
    expect(offers(await buy('n-3', '2026-06-15T23:10:00Z'))).toEqual([]);
  });

  it('is not the next one when the birth date is set to that day after its first purchase', async () => {
    at('2026-06-15T10:00:00Z');
    const { offer_id, buy, born } = await setUp(null);
    expect(offers(await buy('s-1'))).toEqual([]); // no birth date yet
    await born('1990-06-15');
    expect(offers(await buy('s-2'))).toEqual([]);
    // Set again to another day and back: still the day's second and third.
    await born('1990-01-01');
    await born('1990-06-15');
    expect(offers(await buy('s-3'))).toEqual([]);
    // The next birthday's first purchase is its first.
    at('2027-06-15T10:00:00Z');
    expect(offers(await buy('s-4'))).toEqual([offer_id]);
  });

  it('is changed from another birthday to that day: a purchase made before the change counts, a reversed one does not', async () => {
    at('2026-06-15T10:00:00Z');
    const { biz, offer_id, buy, born } = await setUp('1990-03-01');
    expect(offers(await buy('c-1'))).toEqual([]);
    expect(offers(await buy('c-2'))).toEqual([]);
    expect((await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'cv-1', original_reference: 'c-1' })).status).toBe(201);
    await born('1990-06-15');
    expect(offers(await buy('c-3'))).toEqual([]); // c-2 stands
    expect((await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'cv-2', original_reference: 'c-2' })).status).toBe(201);
    expect((await call(gw, 'POST', '/v1/reversals', biz.terminal_key, { reference: 'cv-3', original_reference: 'c-3' })).status).toBe(201);
    expect(offers(await buy('c-4'))).toEqual([offer_id]); // every earlier sale of the day reversed
  });

  it('is the first purchase after the birth date is set when there was none that day', async () => {
    at('2026-06-15T10:00:00Z');
    const { offer_id, buy, born } = await setUp(null);
    expect(offers(await buy('f-0', '2026-06-14T12:00:00Z'))).toEqual([]); // the day before
    await born('1990-06-15');
    expect(offers(await buy('f-1'))).toEqual([offer_id]);
    expect(offers(await buy('f-2'))).toEqual([]);
  });
});
