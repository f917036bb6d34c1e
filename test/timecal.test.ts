// Periods and boundaries read in the venue's time zone (API.md: "Times are in the venue's
// timezone"; per_contact caps per day / week / month; birthday "first purchase of that day
// only"), probed one second either side of local midnight in zones far from UTC, across DST
// changes, month and year ends and leap days, with the gateway's clock held.

import { describe, expect, it } from 'vitest';
import { heldClockGatewayForFile, holdClock } from './held-clock.ts';
import { call, platform_key, testCard, type TestGateway } from './helpers.ts';
import { createProcessor, postCallback, sale } from './callback-helpers.ts';

let gw: TestGateway;
heldClockGatewayForFile((started) => (gw = started));
let seed = 9_700_000;

/** A business with one venue in `timezone`, one offer, a contact; `buy` dates a purchase with occurred_at. */
async function setUp(timezone: string, offer: Record<string, unknown>, contact: Record<string, unknown> = {}) {
  const b = await call(gw, 'POST', '/v1/businesses', platform_key, { name: `Timecal ${++seed}`, currency: 'EUR' });
  expect(b.status, b.text).toBe(201);
  const admin_key = b.body.admin_key as string;
  const v = await call(gw, 'POST', '/v1/venues', admin_key, { name: 'Venue', timezone });
  expect(v.status, v.text).toBe(201);
  const t = await call(gw, 'POST', '/v1/terminals', admin_key, { venue_id: v.body.id, code: 'T0000001' });
  expect(t.status, t.text).toBe(201);
  const terminal_key = t.body.api_key as string;
  const o = await call(gw, 'POST', '/v1/offers', admin_key, { name: 'offer', kind: 'cashback', award: { fixed: 100 }, ...offer });
  expect(o.status, o.text).toBe(201);
  const card = testCard(++seed);
  const c = await call(gw, 'POST', '/v1/contacts', admin_key, { cims: [{ type: 'card', value: card }], ...contact });
  expect(c.status, c.text).toBe(201);
  let n = 0;
  const buy = async (occurred_at?: string) => {
    const r = await call(gw, 'POST', '/v1/purchases', terminal_key, { reference: `tc-${++n}`, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR', ...(occurred_at ? { occurred_at } : {}) });
    expect(r.status, r.text).toBe(201);
    return (r.body.awards as { offer_id: string }[]).filter((a) => a.offer_id === o.body.id).length;
  };
  return { admin_key, terminal_key, buy, contact_id: c.body.id as string, offer_id: o.body.id as string, card };
}

const once_a = (period: string) => ({ goal: 'spend', limits: { per_contact: { count: 1, period } } });

describe('a once-a-day cap, one second either side of local midnight', () => {
  for (const [tz, before, after] of [
    ['Pacific/Kiritimati', '2026-11-30T09:59:59Z', '2026-11-30T10:00:00Z'], // +14: Dec 1 00:00 local
    ['Pacific/Pago_Pago', '2026-12-01T10:59:59Z', '2026-12-01T11:00:00Z'], // −11: Dec 1 00:00 local
    ['Asia/Kathmandu', '2026-11-30T18:14:59Z', '2026-11-30T18:15:00Z'], // +05:45: Dec 1 00:00 local
    ['Europe/Berlin', '2026-03-28T22:59:59Z', '2026-03-28T23:00:00Z'], // Mar 29 00:00 CET, the day of the skipped hour
    ['Europe/Berlin', '2026-10-24T21:59:59Z', '2026-10-24T22:00:00Z'], // Oct 25 00:00 CEST, the day of the repeated hour
  ] as const) {
    it(`${tz}: ${before} and ${after} are two days, each awarded once`, async () => {
      holdClock(gw, after);
      const { buy } = await setUp(tz, once_a('day'));
      expect(await buy(before)).toBe(1);
      expect(await buy(new Date(Date.parse(before) - 3_600_000).toISOString())).toBe(0);
      expect(await buy(after)).toBe(1);
      expect(await buy()).toBe(0);
    });
  }

  it('Europe/Berlin: the 23-hour day (29 March 2026) and the 25-hour day (25 October 2026) are one day each', async () => {
    holdClock(gw, '2026-03-29T21:59:59Z'); // 23:59:59 CEST, the day's last second
    let s = await setUp('Europe/Berlin', once_a('day'));
    expect(await s.buy('2026-03-28T23:00:00Z')).toBe(1); // 00:00 CET
    expect(await s.buy('2026-03-29T00:59:59Z')).toBe(0); // 01:59:59 CET
    expect(await s.buy('2026-03-29T01:00:00Z')).toBe(0); // 03:00 CEST
    expect(await s.buy()).toBe(0);
    holdClock(gw, '2026-03-29T22:00:00Z'); // 00:00 CEST, March 30
    expect(await s.buy()).toBe(1);

    holdClock(gw, '2026-10-25T22:59:59Z'); // 23:59:59 CET, the day's last second
    s = await setUp('Europe/Berlin', once_a('day'));
    expect(await s.buy('2026-10-25T00:30:00Z')).toBe(1); // 02:30 CEST
    expect(await s.buy('2026-10-25T01:30:00Z')).toBe(0); // 02:30 CET, the hour again
    expect(await s.buy()).toBe(0);
    holdClock(gw, '2026-10-25T23:00:00Z'); // 00:00 CET, October 26
    expect(await s.buy()).toBe(1);
  });
});

describe('a once-a-week cap resets on Monday 00:00 at the venue (ISO week)', () => {
  for (const [tz, sunday_last, monday_first] of [
    ['Pacific/Kiritimati', '2026-11-29T09:59:59Z', '2026-11-29T10:00:00Z'], // Mon Nov 30 00:00 local
    ['Pacific/Pago_Pago', '2026-11-30T10:59:59Z', '2026-11-30T11:00:00Z'], // Mon Nov 30 00:00 local
    ['Asia/Kathmandu', '2026-11-29T18:14:59Z', '2026-11-29T18:15:00Z'],
    ['Pacific/Kiritimati', '2026-12-27T09:59:59Z', '2026-12-27T10:00:00Z'], // Mon Dec 28 (week 53 of 2026)
  ] as const) {
    it(`${tz}: ${sunday_last} | ${monday_first}`, async () => {
      holdClock(gw, monday_first);
      const { buy } = await setUp(tz, once_a('week'));
      expect(await buy(sunday_last)).toBe(1);
      expect(await buy(new Date(Date.parse(sunday_last) - 6 * 3_600_000).toISOString())).toBe(0);
      expect(await buy(monday_first)).toBe(1);
      expect(await buy()).toBe(0);
    });
  }

  it('week 53 of 2026 runs into January 2027 (Kiritimati): one award from Dec 28 to Jan 3', async () => {
    holdClock(gw, '2026-12-31T10:00:00Z'); // Fri Jan 1 2027 00:00 local
    const { buy } = await setUp('Pacific/Kiritimati', once_a('week'));
    expect(await buy('2026-12-31T09:59:59Z')).toBe(1); // Thu Dec 31 23:59:59 local
    expect(await buy()).toBe(0); // Jan 1: same ISO week 2026-W53
  });
});

describe('a once-a-month cap at month and year ends', () => {
  for (const [tz, last, first] of [
    ['Pacific/Kiritimati', '2026-11-30T09:59:59Z', '2026-11-30T10:00:00Z'],
    ['Pacific/Pago_Pago', '2026-12-01T10:59:59Z', '2026-12-01T11:00:00Z'],
    ['Asia/Kathmandu', '2026-12-31T18:14:59Z', '2026-12-31T18:15:00Z'],
    ['Pacific/Kiritimati', '2026-12-31T09:59:59Z', '2026-12-31T10:00:00Z'],
    ['Europe/Berlin', '2026-03-31T21:59:59Z', '2026-03-31T22:00:00Z'],
  ] as const) {
    it(`${tz}: ${last} | ${first}`, async () => {
      holdClock(gw, first);
      const { buy } = await setUp(tz, once_a('month'));
      expect(await buy(last)).toBe(1);
      expect(await buy(first)).toBe(1);
      expect(await buy()).toBe(0);
    });
  }
});

describe('birthday, in the venue’s day', () => {
  it('born 29 February: 28 February in a common year, not 1 March; once', async () => {
    holdClock(gw, '2027-02-28T10:00:00Z');
    let s = await setUp('UTC', { goal: 'birthday' }, { birth_date: '2000-02-29' });
    expect(await s.buy('2027-02-27T23:59:59Z')).toBe(0);
    expect(await s.buy('2027-02-28T00:00:00Z')).toBe(1);
    expect(await s.buy()).toBe(0);
    holdClock(gw, '2027-03-01T00:00:00Z');
    expect(await s.buy()).toBe(0);
    // In a leap year: 29 February, not 28.
    holdClock(gw, '2028-02-29T00:00:05Z');
    s = await setUp('UTC', { goal: 'birthday' }, { birth_date: '2000-02-29' });
    expect(await s.buy('2028-02-28T23:59:59Z')).toBe(0);
    expect(await s.buy()).toBe(1);
  });

  it('born 28 February: only 28 February in a leap year too', async () => {
    holdClock(gw, '2028-02-29T10:00:00Z');
    const s = await setUp('UTC', { goal: 'birthday' }, { birth_date: '2000-02-28' });
    expect(await s.buy('2028-02-28T23:59:59Z')).toBe(1);
    expect(await s.buy()).toBe(0);
  });

  it('at Pacific/Kiritimati, the local birthday starts 14 hours before UTC’s', async () => {
    holdClock(gw, '2026-12-14T10:00:00Z'); // Dec 15 00:00 local
    const s = await setUp('Pacific/Kiritimati', { goal: 'birthday' }, { birth_date: '1990-12-15' });
    expect(await s.buy('2026-12-14T09:59:59Z')).toBe(0); // Dec 14 23:59:59 local
    expect(await s.buy()).toBe(1);
    holdClock(gw, '2026-12-15T09:59:59Z'); // Dec 15 23:59:59 local
    expect(await s.buy()).toBe(0);
  });

  it('at Pacific/Pago_Pago, the local birthday ends 11 hours after UTC’s', async () => {
    holdClock(gw, '2026-12-16T10:59:59Z'); // Dec 15 23:59:59 local
    const s = await setUp('Pacific/Pago_Pago', { goal: 'birthday' }, { birth_date: '1990-12-15' });
    expect(await s.buy()).toBe(1);
    holdClock(gw, '2026-12-16T11:00:00Z'); // Dec 16 local
    expect(await s.buy()).toBe(0);
  });

  it('on the 23-hour and 25-hour days of Europe/Berlin, once', async () => {
    holdClock(gw, '2026-10-25T22:59:59Z');
    const s = await setUp('Europe/Berlin', { goal: 'birthday' }, { birth_date: '1990-10-25' });
    expect(await s.buy('2026-10-25T01:30:00Z')).toBe(1); // 02:30 CET (second pass)
    expect(await s.buy('2026-10-25T00:30:00Z')).toBe(0); // 02:30 CEST, earlier, forwarded late: the day has a purchase
    expect(await s.buy()).toBe(0);
    holdClock(gw, '2026-10-25T23:00:00Z'); // Oct 26 00:00 CET
    expect(await s.buy()).toBe(0);
    holdClock(gw, '2027-03-28T21:59:59Z');
    const t = await setUp('Europe/Berlin', { goal: 'birthday' }, { birth_date: '1990-03-28' });
    expect(await t.buy('2027-03-27T23:00:00Z')).toBe(1); // 00:00 CET
    expect(await t.buy()).toBe(0);
  });
});

describe('happy hour across the DST change (Europe/Berlin)', () => {
  it('02:00–03:00 local on 25 October holds both passes of the hour; 29 March has no such hour', async () => {
    holdClock(gw, '2026-10-25T02:30:00Z');
    const s = await setUp('Europe/Berlin', { goal: 'happy_hour', conditions: { time_from: '02:00', time_to: '03:00' } });
    expect(await s.buy('2026-10-24T23:59:59Z')).toBe(0); // 01:59:59 CEST
    expect(await s.buy('2026-10-25T00:00:00Z')).toBe(1); // 02:00 CEST
    expect(await s.buy('2026-10-25T01:00:00Z')).toBe(1); // 02:00 CET
    expect(await s.buy('2026-10-25T01:59:59Z')).toBe(1); // 02:59:59 CET
    expect(await s.buy('2026-10-25T02:00:00Z')).toBe(0); // 03:00 CET
  });

  it('days_of_week reads the local day: Sunday at Kiritimati is Saturday in UTC', async () => {
    holdClock(gw, '2026-11-28T10:00:00Z'); // Sun Nov 29 00:00 local (Sat in UTC)
    const s = await setUp('Pacific/Kiritimati', { goal: 'happy_hour', conditions: { days_of_week: [7] } });
    expect(await s.buy('2026-11-28T09:59:59Z')).toBe(0);
    expect(await s.buy()).toBe(1);
  });
});

describe('occurred_at bounds (terminal: 24 h back, 5 min ahead, both included)', () => {
  it('accepts the bounds and refuses one millisecond past them', async () => {
    holdClock(gw, '2026-12-01T12:00:00Z');
    const s = await setUp('UTC', { goal: 'spend' });
    const post = (occurred_at: string, reference: string) =>
      call(gw, 'POST', '/v1/purchases', s.terminal_key, { reference, cim: { type: 'card', value: s.card }, amount: 1000, currency: 'EUR', occurred_at });
    expect((await post('2026-11-30T12:00:00Z', 'b1')).status).toBe(201);
    expect((await post('2026-12-01T12:05:00Z', 'b2')).status).toBe(201);
    const past = await post('2026-11-30T11:59:59.999Z', 'b3');
    expect(past.status).toBe(400);
    expect(past.body.code).toBe('validation_failed');
    expect((await post('2026-12-01T12:05:00.001Z', 'b4')).status).toBe(400);
    // An offset names the same instant.
    expect((await post('2026-12-02T02:05:00+14:00', 'b5')).status).toBe(201);
    expect((await post('2026-12-02T02:05:01+14:00', 'b6')).status).toBe(400);
  });
});

describe('valid_from inclusive, valid_to exclusive', () => {
  it('awards at valid_from and not at valid_to', async () => {
    holdClock(gw, '2026-12-01T12:00:00Z');
    const s = await setUp('UTC', { goal: 'spend', valid_from: '2026-12-01T00:00:00Z', valid_to: '2026-12-01T11:00:00Z' });
    expect(await s.buy('2026-11-30T23:59:59Z')).toBe(0);
    expect(await s.buy('2026-12-01T00:00:00Z')).toBe(1);
    expect(await s.buy('2026-12-01T10:59:59Z')).toBe(1);
    expect(await s.buy('2026-12-01T11:00:00Z')).toBe(0);
  });
});

describe('callbacks: occurred_at 35 days back and 5 minutes ahead; caps in the venue’s day', () => {
  async function merchantSetUp(timezone: string, offer: Record<string, unknown>) {
    const b = await call(gw, 'POST', '/v1/businesses', platform_key, { name: `Timecal cb ${++seed}`, currency: 'EUR' });
    const admin_key = b.body.admin_key as string;
    const m = await call(gw, 'POST', '/v1/merchants', admin_key, { name: 'M', code: `MC${seed}` });
    expect(m.status, m.text).toBe(201);
    const v = await call(gw, 'POST', '/v1/venues', admin_key, { name: 'V', merchant_id: m.body.id, timezone });
    expect(v.status, v.text).toBe(201);
    const o = await call(gw, 'POST', '/v1/offers', admin_key, { name: 'offer', kind: 'cashback', award: { fixed: 100 }, ...offer });
    expect(o.status, o.text).toBe(201);
    const card = testCard(++seed);
    expect((await call(gw, 'POST', '/v1/contacts', admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    const p = await createProcessor(gw, { admin_key } as never);
    let n = 0;
    const clear = async (occurred_at?: string) => {
      const r = await postCallback(gw, p, sale('transaction.cleared', { transaction_id: `cb-${seed}-${++n}`, card: { number: card }, amount: 1000, currency: 'EUR', merchant_code: `MC${seed - 1}`, ...(occurred_at ? { occurred_at } : {}) }));
      expect(r.status, r.text).toBe(200);
      return r.body as { status: string; code?: string; transaction_id?: string };
    };
    const awards = async (occurred_at?: string) => {
      const r = await clear(occurred_at);
      expect(r.status, JSON.stringify(r)).toBe('processed');
      const t = await call(gw, 'GET', `/v1/transactions/${r.transaction_id}`, admin_key);
      return (t.body.awards as { offer_id: string }[]).filter((a) => a.offer_id === o.body.id).length;
    };
    return { admin_key, clear, awards, merchant_id: m.body.id as string };
  }

  it('accepts 35 days back and 5 minutes ahead, both included, and refuses past them', async () => {
    holdClock(gw, '2026-12-01T12:00:00Z');
    const s = await merchantSetUp('UTC', { goal: 'spend' });
    expect((await s.clear('2026-10-27T12:00:00Z')).status).toBe('processed');
    expect((await s.clear('2026-12-01T12:05:00Z')).status).toBe('processed');
    expect(await s.clear('2026-10-27T11:59:59.999Z')).toMatchObject({ status: 'rejected', code: 'validation_failed' });
    expect(await s.clear('2026-12-01T12:05:00.001Z')).toMatchObject({ status: 'rejected', code: 'validation_failed' });
  });

  it('a once-a-day cap at Pacific/Kiritimati, for sales cleared weeks later', async () => {
    holdClock(gw, '2026-12-01T12:00:00Z');
    const s = await merchantSetUp('Pacific/Kiritimati', once_a('day'));
    expect(await s.awards('2026-11-10T09:59:59Z')).toBe(1); // Nov 10 23:59:59 local
    expect(await s.awards('2026-11-10T10:00:00Z')).toBe(1); // Nov 11 00:00 local
    expect(await s.awards('2026-11-09T10:00:00Z')).toBe(0); // Nov 10 00:00 local
    expect(await s.awards()).toBe(1);
  });
});

describe('settlements: November and December together count each transaction once', () => {
  it('splits at 1 December 00:00:00Z exactly, whatever the millisecond', async () => {
    const b = await call(gw, 'POST', '/v1/businesses', platform_key, { name: `Timecal st ${++seed}`, currency: 'EUR' });
    const admin_key = b.body.admin_key as string;
    const m = await call(gw, 'POST', '/v1/merchants', admin_key, { name: 'M', code: `MS${seed}`, contribution_fee_percent: 10 });
    const v = await call(gw, 'POST', '/v1/venues', admin_key, { name: 'V', merchant_id: m.body.id, timezone: 'Pacific/Kiritimati' });
    const t = await call(gw, 'POST', '/v1/terminals', admin_key, { venue_id: v.body.id, code: 'T0000001' });
    expect((await call(gw, 'POST', '/v1/offers', admin_key, { name: 'o', kind: 'cashback', goal: 'spend', award: { fixed: 100 } })).status).toBe(201);
    const card = testCard(++seed);
    expect((await call(gw, 'POST', '/v1/contacts', admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
    let n = 0;
    for (const now of ['2026-11-30T23:59:59.000Z', '2026-11-30T23:59:59.999Z', '2026-12-01T00:00:00.000Z', '2026-12-01T00:00:00.001Z', '2026-12-31T23:59:59.999Z', '2027-01-01T00:00:00.000Z']) {
      holdClock(gw, now);
      const r = await call(gw, 'POST', '/v1/purchases', t.body.api_key, { reference: `st-${++n}`, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
      expect(r.status, r.text).toBe(201);
    }
    holdClock(gw, '2027-01-01T00:00:05Z');
    const awarded = async (from: string, to: string) => {
      const r = await call(gw, 'GET', `/v1/settlements?merchant_id=${m.body.id}&from=${from}&to=${to}`, admin_key);
      expect(r.status, r.text).toBe(200);
      return r.body.merchants[0];
    };
    const nov = await awarded('2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z');
    const dec = await awarded('2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z');
    const all = await awarded('2026-11-01T00:00:00Z', '2027-01-01T00:00:00Z');
    // Local months at the venue, written with its offset, split the same way.
    const dec_local = await awarded('2026-12-01T00:00:00%2B14:00', '2027-01-01T00:00:00%2B14:00');
    expect(dec_local.awards_funded).toBe(400); // Nov 30 10:00Z to Dec 31 10:00Z
    expect(nov.awards_funded + dec.awards_funded).toBe(all.awards_funded);
    expect(all.awards_funded).toBe(500);
    expect(nov.awards_funded).toBe(200);
  });
});

describe('a per-contact cap added later to a referral offer, at a venue far from UTC', () => {
  for (const tz of ['UTC', 'Pacific/Kiritimati']) it(`${tz}: counts the referrer’s award made before it, in the same day as the next one`, async () => {
    holdClock(gw, '2026-12-01T12:00:00Z'); // 2 December 02:00 at Kiritimati
    const s = await setUp(tz, { goal: 'referral' });
    const referrer = await call(gw, 'GET', `/v1/contacts/${s.contact_id}`, s.admin_key);
    let n = 0;
    const referredBuys = async () => {
      const card = testCard(++seed);
      const c = await call(gw, 'POST', '/v1/contacts', s.admin_key, { cims: [{ type: 'card', value: card }], referred_by: referrer.body.referral_code });
      expect(c.status, c.text).toBe(201);
      const p = await call(gw, 'POST', '/v1/purchases', s.terminal_key, { reference: `ref-${++n}`, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
    };
    const commerce = async () => (await call(gw, 'GET', `/v1/contacts/${s.contact_id}/wallet`, s.admin_key)).body.commerce as number;
    await referredBuys();
    for (let i = 0; i < 100 && (await commerce()) < 100; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await commerce()).toBe(100);
    const patched = await call(gw, 'PATCH', `/v1/offers/${s.offer_id}`, s.admin_key, { limits: { per_contact: { count: 1, period: 'day' } } });
    expect(patched.status, patched.text).toBe(200);
    await referredBuys();
    await new Promise((r) => setTimeout(r, 300));
    expect(await commerce()).toBe(100); // once a day: the day already had its award
  });
});
