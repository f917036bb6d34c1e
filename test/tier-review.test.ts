// Tiers (API.md): "a purchase earns value units equal to its amount in major units; a contact
// advances at once when its period units reach a higher tier and is re-evaluated (may downgrade)
// at each period end". Checked at a venue's period boundaries, far from UTC, with the clock held.

import { describe, expect, it } from 'vitest';
import { heldClockGatewayForFile, holdClock } from './held-clock.ts';
import { call, platform_key, testCard, type TestGateway } from './helpers.ts';

let gw: TestGateway;
heldClockGatewayForFile((started) => (gw = started));
let seed = 9_300_000;

/** A business whose only venue is in `timezone` (and a second one in `other`, if named), with `tiers`, a contact and a way to buy. */
async function setUp(timezone: string, tiers: unknown[], currency = 'EUR', other?: string) {
  const b = await call(gw, 'POST', '/v1/businesses', platform_key, { name: `Tiers ${++seed}`, currency });
  expect(b.status, b.text).toBe(201);
  const admin_key = b.body.admin_key as string;
  const terminalAt = async (tz: string, code: string) => {
    const v = await call(gw, 'POST', '/v1/venues', admin_key, { name: `Venue ${code}`, timezone: tz });
    expect(v.status, v.text).toBe(201);
    const t = await call(gw, 'POST', '/v1/terminals', admin_key, { venue_id: v.body.id, code });
    expect(t.status, t.text).toBe(201);
    return t.body.api_key as string;
  };
  const terminal_key = await terminalAt(timezone, 'T0000001');
  const other_key = other === undefined ? undefined : await terminalAt(other, 'T0000002');
  expect((await call(gw, 'PUT', '/v1/tiers', admin_key, tiers)).status).toBe(200);
  const card = testCard(++seed);
  const c = await call(gw, 'POST', '/v1/contacts', admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status).toBe(201);
  let n = 0;
  const buy = (amount: number, occurred_at?: string, key = terminal_key) =>
    call(gw, 'POST', '/v1/purchases', key, { reference: `tr-${++n}`, cim: { type: 'card', value: card }, amount, currency, ...(occurred_at ? { occurred_at } : {}) });
  const tier = async () => {
    const r = await call(gw, 'GET', `/v1/contacts/${c.body.id}`, admin_key);
    expect(r.status, r.text).toBe(200);
    return r.body.tier ?? null;
  };
  return { biz: { admin_key }, buy, tier, terminal_key, other_key };
}

const gold_month = [{ name: 'gold', min_period_units: 100, period: 'month' }];

describe('a venue far east of UTC (Pacific/Kiritimati, UTC+14)', () => {
  it('shows the tier won on the first local day of a month at once', async () => {
    holdClock(gw, '2026-11-30T10:30:00Z'); // 2026-12-01 00:30 at the venue
    const { buy, tier } = await setUp('Pacific/Kiritimati', gold_month);
    expect((await buy(15_000)).status).toBe(201);
    expect(await tier()).toBe('gold');
  });

  it('drops the tier when the venue’s next period ends', async () => {
    holdClock(gw, '2026-11-15T00:00:00Z');
    const { buy, tier } = await setUp('Pacific/Kiritimati', gold_month);
    expect((await buy(15_000)).status).toBe(201); // November: gold, held through December
    holdClock(gw, '2026-12-31T09:30:00Z'); // December 31st 23:30 at the venue
    expect(await tier()).toBe('gold');
    holdClock(gw, '2026-12-31T10:30:00Z'); // January 1st 00:30 at the venue: November is two periods back
    expect(await tier()).toBe(null);
  });
});

describe('venues on both sides of a month end', () => {
  it('a venue still in November keeps the units November earned once a venue east of it is in December', async () => {
    holdClock(gw, '2026-11-20T12:00:00Z');
    const { biz, buy, tier, other_key } = await setUp('UTC', gold_month, 'EUR', 'Pacific/Kiritimati');
    const gold = (await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'gold', goal: 'spend', award: { fixed: 7 }, conditions: { tiers: ['gold'] } })).body.id;
    expect((await buy(15_000)).status).toBe(201); // 150 units in November, at the UTC venue
    holdClock(gw, '2026-11-30T10:30:00Z'); // December 1st 00:30 at Kiritimati, November 30th in UTC
    const east = await buy(100, undefined, other_key);
    expect(east.body.awards.map((a: { offer_id: string }) => a.offer_id)).toEqual([gold]);
    holdClock(gw, '2026-11-30T11:00:00Z');
    const utc = await buy(100);
    expect(utc.body.awards.map((a: { offer_id: string }) => a.offer_id)).toEqual([gold]);
    expect(await tier()).toBe('gold');
  });
});

describe('a venue far west of UTC (Pacific/Pago_Pago, UTC-11)', () => {
  it('keeps the tier until the venue’s period ends, not UTC’s', async () => {
    holdClock(gw, '2026-11-15T00:00:00Z');
    const { buy, tier } = await setUp('Pacific/Pago_Pago', gold_month);
    expect((await buy(15_000)).status).toBe(201);
    holdClock(gw, '2027-01-01T05:00:00Z'); // December 31st 18:00 at the venue
    expect(await tier()).toBe('gold');
    holdClock(gw, '2027-01-01T11:30:00Z'); // January 1st 00:30 at the venue
    expect(await tier()).toBe(null);
  });
});

describe('advancing and period ends', () => {
  it('advances at once: the next purchase gets gold offers', async () => {
    holdClock(gw, '2026-12-10T12:00:00Z');
    const { biz, buy, tier } = await setUp('UTC', [{ name: 'silver', min_period_units: 10, period: 'month' }, ...gold_month]);
    const gold = (await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'gold', goal: 'spend', award: { fixed: 7 }, conditions: { tiers: ['gold'] } })).body.id;
    const first = await buy(9_999);
    expect(first.body.awards).toEqual([]);
    expect(await tier()).toBe('silver');
    const crossing = await buy(1);
    expect(await tier()).toBe('gold');
    const next = await buy(100);
    expect(next.body.awards.map((a: { offer_id: string }) => a.offer_id)).toEqual([gold]);
    console.log('crossing purchase awards', JSON.stringify(crossing.body.awards));
  });

  for (const [period, won, held, lost] of [
    ['quarter', '2026-11-15T00:00:00Z', '2027-03-31T23:59:00Z', '2027-04-01T00:00:00Z'],
    ['year', '2026-06-15T00:00:00Z', '2027-12-31T23:59:00Z', '2028-01-01T00:00:00Z'],
  ] as const) {
    it(`re-evaluates a ${period} tier at the period end`, async () => {
      holdClock(gw, won);
      const { buy, tier } = await setUp('UTC', [{ name: 'gold', min_period_units: 100, period }]);
      expect((await buy(10_000)).status).toBe(201);
      expect(await tier()).toBe('gold');
      holdClock(gw, held);
      expect(await tier()).toBe('gold');
      holdClock(gw, lost);
      expect(await tier()).toBe(null);
    });
  }

  it('a reversal takes the units back', async () => {
    holdClock(gw, '2026-12-10T12:00:00Z');
    const { buy, tier, terminal_key } = await setUp('UTC', gold_month);
    expect((await buy(10_000)).status).toBe(201);
    expect(await tier()).toBe('gold');
    const r = await call(gw, 'POST', '/v1/reversals', terminal_key, { reference: 'rv-1', original_reference: 'tr-1' });
    expect(r.status, r.text).toBe(201);
    expect(await tier()).toBe(null);
  });

  it('a refund (reported only)', async () => {
    holdClock(gw, '2026-12-10T12:00:00Z');
    const { buy, tier, terminal_key } = await setUp('UTC', gold_month);
    expect((await buy(10_000)).status).toBe(201);
    const r = await call(gw, 'POST', '/v1/refunds', terminal_key, { reference: 'rf-1', original_reference: 'tr-1' });
    expect(r.status, r.text).toBe(201);
    console.log('tier after a full refund', await tier());
  });

  it('a tier table changed mid-period applies at once', async () => {
    holdClock(gw, '2026-12-10T12:00:00Z');
    const { biz, buy, tier } = await setUp('UTC', gold_month);
    expect((await buy(6_000)).status).toBe(201);
    expect(await tier()).toBe(null);
    expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 50, period: 'month' }])).status).toBe(200);
    expect(await tier()).toBe('gold');
    expect((await call(gw, 'PUT', '/v1/tiers', biz.admin_key, [{ name: 'gold', min_period_units: 50, period: 'year' }])).status).toBe(200);
    console.log('after month → year', await tier());
  });
});

describe('currencies', () => {
  for (const [currency, amount] of [['JPY', 100], ['KWD', 100_000], ['BHD', 100_000]] as const) {
    it(`${currency}: 100 major units reach a 100-unit tier, one minor unit less does not`, async () => {
      holdClock(gw, '2026-12-10T12:00:00Z');
      const { buy, tier } = await setUp('UTC', gold_month, currency);
      const r = await buy(amount - 1);
      expect(r.status, r.text).toBe(201);
      expect(await tier()).toBe(null);
      expect((await buy(1)).status).toBe(201);
      expect(await tier()).toBe('gold');
    });
  }
});
