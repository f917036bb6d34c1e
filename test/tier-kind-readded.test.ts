// A tier period kind removed (PUT /v1/tiers without it) and added back: Redis kept the contact's
// old `u<kind>` counter and counted on top of it, while `npm run rebuild` counted from the kind's
// new tiers.units_since, so the tier a contact held changed with a rebuild. Decided then: a kind
// counts from when it was last (re)introduced. Since 2026-12-06 every purchase counts in its
// period whenever the kind came (API.md: "a purchase earns value units equal to its amount"): a
// kind added, or added back, is counted from the ledger at its PUT (processor/tier-seed.ts), as
// rebuild counts it; on both paths alike still.
//
// On stores of the test's own (test/rebuilt.ts): rebuild needs an empty Redis, so the gateway is
// closed, Redis flushed and rebuilt, and a gateway started again on it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { contactKey } from '../processor/hot/keys.ts';
import { rebuiltGateway, startOnOwnStores } from './rebuilt.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;
const card = testCard(882_000_001);
const monthly = [{ name: 'gold', min_period_units: 100, period: 'month' }];

beforeAll(async () => {
  stores = await startOwnStores('tier_kind_readded');
  gw = await startOnOwnStores(stores);
  biz = await createBusiness(gw);
});
afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

async function purchase(amount: number): Promise<void> {
  const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `tkr-${process.pid}-${++seq}`, cim: { type: 'card', value: card }, amount, currency: 'EUR' });
  expect(p.status, p.text).toBe(201);
}

async function putTiers(tiers: readonly object[]): Promise<void> {
  const r = await call(gw, 'PUT', '/v1/tiers', biz.admin_key, tiers);
  expect(r.status, r.text).toBe(200);
}

/** The contact's tier (GET) and its monthly units field as Redis holds it. */
async function tierAndUnits(contact_id: string): Promise<{ tier: unknown; um: string | null | undefined }> {
  const c = await call(gw, 'GET', `/v1/contacts/${contact_id}`, biz.admin_key);
  expect(c.status, c.text).toBe(200);
  const um = await gw.processor.stores.redis.hGet(contactKey(gw.processor.contacts.shardOf(contact_id), contact_id), 'um');
  return { tier: c.body.tier, um };
}

/** A new contact of the business with its card, and its purchases (201 each). */
async function buyingContact(card_number: string): Promise<{ contact_id: string; buy: (amount: number) => Promise<void> }> {
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card_number }] });
  expect(c.status, c.text).toBe(201);
  const buy = async (amount: number) => {
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `tkr-${process.pid}-${++seq}`, cim: { type: 'card', value: card_number }, amount, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
  };
  return { contact_id: c.body.id as string, buy };
}

describe('a tier period kind removed, then added back', () => {
  it('counts every purchase of its periods once added back, those made while it was away too, before and after a rebuild alike', async () => {
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
    expect(c.status, c.text).toBe(201);
    const contact_id = c.body.id as string;
    await putTiers(monthly);
    await purchase(8_000); // 80 units this month
    expect((await tierAndUnits(contact_id)).tier).toBeNull();
    await putTiers([{ name: 'vip', min_period_units: 100_000, period: 'year' }]); // no monthly tier
    await purchase(3_000); // counts no monthly units while the kind is away
    await putTiers([{ name: 'vip', min_period_units: 100_000, period: 'year' }, ...monthly]); // counted from the ledger: 110 units
    await purchase(3_000);
    const before = await tierAndUnits(contact_id);
    expect(before.tier).toBe('gold');
    expect(before.um).toMatch(/^\d{4}-\d{2}\|14000\|0$/);

    gw = await rebuiltGateway(gw, stores);
    expect(await tierAndUnits(contact_id)).toEqual(before);
  }, 60_000);

  it('a purchase while the units of a kind added back are cleared counts in neither path (Redis, rebuild)', async () => {
    const { contact_id, buy } = await buyingContact(testCard(882_000_002));
    await putTiers(monthly);
    await buy(8_000);
    await putTiers([{ name: 'vip', min_period_units: 100_000, period: 'year' }]);
    // The clear of the contacts' units takes a while for a business of many contacts: a purchase
    // is made while it runs (its first command).
    const redis = gw.processor.stores.redis;
    const hDel = redis.hDel.bind(redis);
    let hooked = false;
    (redis as { hDel: unknown }).hDel = async (...args: Parameters<typeof hDel>) => {
      if (!hooked) {
        hooked = true;
        await buy(3_000);
      }
      return hDel(...args);
    };
    try {
      await putTiers([{ name: 'vip', min_period_units: 100_000, period: 'year' }, ...monthly]);
    } finally {
      delete (redis as { hDel?: unknown }).hDel;
    }
    expect(hooked).toBe(true);
    await buy(3_000);
    const before = await tierAndUnits(contact_id);

    gw = await rebuiltGateway(gw, stores);
    expect(await tierAndUnits(contact_id)).toEqual(before);
  }, 60_000);
  it('a kind added back by one PUT while another PUT that removed it still clears its units: one PUT at a time, counted alike in Redis and rebuild', async () => {
    const { contact_id, buy } = await buyingContact(testCard(882_000_003));
    await putTiers(monthly);
    await buy(8_000);
    // PUT A removes the monthly kind; while it clears the contacts' units of it (its first HDEL),
    // PUT B adds it back and a purchase is made.
    const redis = gw.processor.stores.redis;
    const hDel = redis.hDel.bind(redis);
    let hooked = false;
    let b: Promise<unknown> | undefined;
    let gate: Promise<void> | undefined;
    let gating = false;
    (redis as { hDel: unknown }).hDel = async (...args: Parameters<typeof hDel>) => {
      if (gate === undefined) {
        hooked = true;
        // A's HDELs of this round of contacts are all sent in this tick: each waits; B's, later, do not.
        gating = true;
        setImmediate(() => (gating = false));
        gate = (async () => {
          b = call(gw, 'PUT', '/v1/tiers', biz.admin_key, monthly);
          // B may wait for A (then the purchase is made under A's tiers), or not.
          await Promise.race([b, new Promise((r) => setTimeout(r, 1_000))]);
          await buy(3_000);
        })();
      }
      if (gating) await gate;
      return hDel(...args);
    };
    try {
      await putTiers([]);
    } finally {
      delete (redis as { hDel?: unknown }).hDel;
    }
    expect(hooked).toBe(true);
    expect(((await b) as { status: number }).status).toBe(200);
    await buy(3_000);
    const before = await tierAndUnits(contact_id);

    gw = await rebuiltGateway(gw, stores);
    expect(await tierAndUnits(contact_id)).toEqual(before);
  }, 60_000);
});
