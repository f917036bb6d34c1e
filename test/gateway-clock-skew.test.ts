// Two gateways on the same stores whose clocks differ: here a second one whose clock lags the
// first's by 3 s. Transaction ids, and what a script takes as now, are each gateway's own.
//
// A redemption committed after a claw-back's note under an id stamped before that note (the same
// happens on one gateway to a request that waits while a claw-back commits). The note was made for
// an earlier redemption's reversal; settled from the later redemption's id time (until
// 2026-12-07), that redemption's reversal kept its money in open, where it had taken it from the
// contact's lot ("as if it never happened" was not so), and used the note up. Now redeem.lua
// raises its `since` past the notes held, and its reversal settles from there, live and after a
// rebuild (its state and `lr` rebuilt from its entry).
//
// A claw-back on the lagging gateway of a sale whose lot the first gateway's sweep had just
// expired: by its own clock the lot had not expired, so it wrote nothing off and took the share
// again as debt (until 2026-12-07: a probe of two gateways 2 s apart ended 8 runs in 100 in
// commerce debt once everything was reversed).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createBusiness, eventually, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { rebuiltGateway, startOnOwnStores } from './rebuilt.ts';
import { owedLotsKey } from '../processor/hot/keys.ts';
import { shardOf } from '../core/ids.ts';

const lag_ms = 3_000;
let own: OwnStores;
let gw: TestGateway;
let lagging: GatewayProcess;
let biz: BusinessFixture;
let seq = 0;

beforeAll(async () => {
  own = await startOwnStores('since');
  gw = await startOnOwnStores(own, { expiry_sweep_ms: 100 });
  // Its Date.now 3 s behind: the ids it stamps (core/ids.ts newId) are 3 s early.
  const lag = `data:text/javascript,const%20now=Date.now.bind(Date);Date.now=()=>now()-${lag_ms}`;
  lagging = await startGatewayProcess({ REDIS_URL: own.redis.url, DATABASE_URL: own.database_url, LEDGER_WRITER: 'off', POCKETGATE_SEED_DEMO: '0', NODE_OPTIONS: `--import ${lag}` }, 120_000);
  biz = await createBusiness(gw);
  // An award into a lot that never expires: every sale's award is the same lot field.
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'kept', goal: 'spend', award: { fixed: 300 } })).status).toBe(201);
}, 60_000);
afterAll(async () => {
  lagging?.kill();
  await gw?.close();
  await own?.stop();
});

/** A POS call through the lagging gateway (its own process): status, text and body. */
async function lagged(key: string, path: string, body: unknown): Promise<{ status: number; text: string; body: any }> {
  const res = await fetch(`http://127.0.0.1:${lagging.port}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) };
}

async function pos(path: string, body: Record<string, unknown>, through_lagging = false) {
  const b = { reference: `since-${++seq}`, ...body };
  const r = through_lagging ? await lagged(biz.terminal_key, path, b) : await call(gw, 'POST', path, biz.terminal_key, b);
  expect(r.status, `${path} ${r.text}`).toBe(201);
  return r.body;
}

/** A sale's 300 redeemed and the sale reversed (300 from open, noted owed); a second sale's 300 redeemed through the lagging gateway. */
async function history(name: string) {
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'loyalty_id', value: name }] });
  expect(c.status, c.text).toBe(201);
  const cim = { type: 'loyalty_id', value: name };
  const first = await pos('/v1/purchases', { cim, amount: 2000, currency: 'EUR' });
  const early = await pos('/v1/redemptions', { cim });
  expect((await pos('/v1/reversals', { original_reference: first.reference })).wallet).toEqual({ open: 0, commerce: 0 });
  const second = await pos('/v1/purchases', { cim, amount: 2000, currency: 'EUR' });
  const late = await pos('/v1/redemptions', { cim }, true);
  expect(late.wallet).toEqual({ open: 300, commerce: 0 });
  const shard = shardOf(c.body.id, gw.processor.stores.config.shard_count);
  const notes = await own.redis.client.hKeys(owedLotsKey(shard, c.body.id));
  // The lagging gateway's redemption carries a time before the note's: the case at hand.
  expect(notes).toHaveLength(1);
  expect(late.id.slice(4, 14) < notes[0]!.slice(0, 10)).toBe(true);
  return { early, late, second };
}

/** Each reversed, the latest first: as if none of it had happened. */
async function reverseAll(h: Awaited<ReturnType<typeof history>>): Promise<unknown[]> {
  const wallets = [];
  for (const t of [h.late, h.early, h.second]) wallets.push((await pos('/v1/reversals', { original_reference: t.reference })).wallet);
  return wallets;
}

const expected = [{ open: 0, commerce: 300 }, { open: 0, commerce: 300 }, { open: 0, commerce: 0 }];

describe('a claw-back on a gateway whose clock lags the sweep\'s', () => {
  it('writes off what the sweep expired of the sale\'s lot, leaving no debt', async () => {
    const shop = await createBusiness(gw);
    expect((await call(gw, 'POST', '/v1/offers', shop.admin_key, { name: 'a day', goal: 'spend', award: { fixed: 200 }, validity_days: 1 })).status).toBe(201);
    const cim = { type: 'loyalty_id', value: 'swept' };
    expect((await call(gw, 'POST', '/v1/contacts', shop.admin_key, { cims: [cim] })).status).toBe(201);
    // Its lot expires at the second 2 s from now (occurred_at a day before it).
    const expiry_ms = Math.floor((Date.now() + 2_000) / 1_000) * 1_000;
    const occurred_at = new Date(expiry_ms - 86_400_000).toISOString().replace('.000Z', 'Z');
    const sale = await call(gw, 'POST', '/v1/purchases', shop.terminal_key, { reference: `since-${++seq}`, cim, amount: 2000, currency: 'EUR', occurred_at });
    expect(sale.status, sale.text).toBe(201);
    expect(sale.body.wallet).toEqual({ open: 0, commerce: 200 });
    await eventually('the lot expired by the first gateway\'s sweep', async () => {
      const w = await call(gw, 'GET', `/v1/wallets?cim_type=loyalty_id&cim_value=swept`, shop.admin_key);
      return w.status === 200 && w.body.commerce === 0;
    });
    // Within 3 s of the expiry: by the lagging gateway's clock, the lot has not expired yet.
    expect(Date.now()).toBeLessThan(expiry_ms + lag_ms);
    const b = { reference: `since-${++seq}`, original_reference: sale.body.reference };
    const r = await lagged(shop.terminal_key, '/v1/reversals', b);
    expect(r.status, r.text).toBe(201);
    expect(r.body).toMatchObject({ clawed_back: 0, award_expired: 200, wallet: { open: 0, commerce: 0 } });
  });
});

describe('a redemption stamped before a note made before it', () => {
  it('its reversal gives its money back to the lot, leaving the note to the redemption it was made for', async () => {
    expect(await reverseAll(await history('live'))).toEqual(expected);
  });

  it('answers the same after a rebuild: its `since` rebuilt from its entry', async () => {
    const h = await history('rebuilt');
    lagging.kill();
    gw = await rebuiltGateway(gw, own);
    expect(await reverseAll(h)).toEqual(expected);
  });
});
