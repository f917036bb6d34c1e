// A claw-back that another sale's claw-back had robbed of its lot. A black-box probe
// (2026-12-07; one request at a time, one gateway): sale Q's lot redeemed (R); a minute later
// sales W and P, P's lot about to expire; Q reversed: its lot redeemed, its claw-back took P's lot
// instead and noted so for R (Y → X). P reversed: the contact held one lot (W's) covering the
// claw-back, nothing redeemed since P, no expired lots: taken as needless (claw-back.lua ownLots),
// it took W's lot and noted nothing. R reversed after P's lot expired: following Q's note it gave
// the money back to P's lot, which expired at once; W's reversal then found its lot empty and
// booked commerce debt: 0 / −100 where 0 / 0 was due. Now the one-lot shortcut also wants no
// notes held: P's claw-back reads its lots, finds its lot taken, takes W's and notes X → Z, and
// R's reversal follows Y → X → Z back into W's lot.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerBalances, redisBalances } from '../processor/ledger/balances.ts';
import { journalMarks, waitForLedger } from '../processor/ledger/caught-up.ts';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;
const ref = () => `cbic-${process.pid}-${Date.now()}-${++seq}`;
const hour_ms = 3_600_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** RFC 3339 to the second, as a POS sends it. */
const at = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10% back, a day', goal: 'spend', award: { percent: 10 }, validity_days: 1 });
  expect(o.status, o.text).toBe(201);
});
afterAll(async () => {
  await gw?.close();
});

describe('a sale reversed after another sale’s claw-back took its lot', () => {
  it('takes the one lot left and notes it, so the redemption’s reversal gives that lot back: 0 / 0, not 0 / −100', async () => {
    const cim = { type: 'loyalty_id', value: `cbic-${process.pid}-${Date.now()}` };
    const contact = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [cim] });
    expect(contact.status, contact.text).toBe(201);
    const pos = async (path: string, body: Record<string, unknown>) => {
      const r = await call(gw, 'POST', path, biz.terminal_key, { reference: ref(), ...body });
      expect(r.status, `${path} ${r.text}`).toBe(201);
      return r.body;
    };
    const sale = (occurred_ms: number) => pos('/v1/purchases', { cim, amount: 1_000, currency: 'EUR', occurred_at: at(occurred_ms) });

    const q = await sale(Date.now() - 2 * hour_ms);
    const r = await pos('/v1/redemptions', { cim, amount: 100 });
    expect(r.wallet).toEqual({ open: 100, commerce: 0 });
    // Past REDEEMED_SINCE_SLACK_MS (claw-back.lua): R counts as before the sales that follow.
    await sleep(61_000);
    const w = await sale(Date.now() - hour_ms);
    const p_expiry_ms = Math.floor((Date.now() + 4_000) / 1000) * 1000;
    const p = await sale(p_expiry_ms - 24 * hour_ms);
    expect(p.wallet).toEqual({ open: 100, commerce: 200 });
    expect((await pos('/v1/reversals', { original_reference: q.reference })).wallet).toEqual({ open: 100, commerce: 100 });
    expect((await pos('/v1/reversals', { original_reference: p.reference })).wallet).toEqual({ open: 100, commerce: 0 });

    await sleep(Math.max(0, p_expiry_ms + 1_500 - Date.now()));
    // R's 100 goes back where it would be had R never happened: W's lot (Y → X → Z), not P's expired lot.
    expect((await pos('/v1/reversals', { original_reference: r.reference })).wallet).toEqual({ open: 0, commerce: 100 });
    const undone = await pos('/v1/reversals', { original_reference: w.reference });
    expect([undone.wallet, undone.clawed_back]).toEqual([{ open: 0, commerce: 0 }, 100]);

    // The ledger agrees, and nothing expired that no claw-back wrote off.
    const { redis, sql, config } = gw.processor.stores;
    expect(await waitForLedger(redis, await journalMarks(redis, config.shard_count), 30_000)).toBe(true);
    const hot = await redisBalances(redis, config.shard_count, contact.body.id);
    const kept = (await ledgerBalances(sql, [{ id: contact.body.id, currency: 'EUR' }])).get(contact.body.id)!;
    expect([hot.open, hot.commerce, Number(kept.open), Number(kept.commerce)]).toEqual([0, 0, 0, 0]);
    const expiries = await sql<{ n: string }[]>`select count(*)::text as n from ledger_transactions where business_id = ${biz.business_id} and kind = 'expiry'`;
    expect(expiries[0]!.n).toBe('0');
  }, 120_000);
});
