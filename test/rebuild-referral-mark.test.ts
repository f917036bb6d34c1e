// A referral undone before its award was made (none made: its budget was spent, say)
// marks the award's reference reversed (reversal.lua: '!' in the record hashes of the undo's
// period and the one before, so an award made a moment before the period turned still sees it),
// and the award is refused if it comes. `npm run rebuild` wrote the undo's refusal back but not
// the mark: the rebuild model (test/rebuild-model.test.ts, seeds 11, 22 and 33 at 400 steps) found
// the two '!' fields missing from a rebuilt Redis. Rebuilt from the undo's refusal in the ledger,
// as the script wrote them: the hash of the period before keeps its own expiry where it held
// records already (PEXPIRE NX), one the mark made expires with the undo's period's.
//
// A window of 20 s (periods of 10 s) and one reference bucket, so that the referrer's award of the
// period before (for another referral) and the mark share a hash. On stores of its own: rebuild
// reads every contact.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromEnv } from '../gateway/config.ts';
import { journalMarks, waitForLedger } from '../processor/ledger/caught-up.ts';
import { rebuild } from '../processor/ledger/rebuild.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { comparableRedis } from './redis-state.ts';

const window_s = 20;
const period_ms = (window_s * 1000) / 2;

let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;

const start = () =>
  startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url, processor: { ...configFromEnv().processor, reply_ttl_seconds: window_s, reference_buckets: 1 } });

beforeAll(async () => {
  stores = await startOwnStores('referral_mark');
  gw = await start();
  biz = await createBusiness(gw);
  // A budget of one award: the second referral gets none.
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'ref', kind: 'cashback', goal: 'referral', award: { fixed: 100 }, limits: { budget: 100 } });
  expect(o.status, o.text).toBe(201);
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

async function contact(referred_by?: string): Promise<{ card: string; referral_code: string }> {
  const card = testCard(62_000_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }], ...(referred_by === undefined ? {} : { referred_by }) });
  expect(c.status, c.text).toBe(201);
  return { card, referral_code: c.body.referral_code };
}

async function pos(path: string, body: Record<string, unknown>): Promise<void> {
  const r = await call(gw, 'POST', path, biz.terminal_key, body);
  expect(r.status, `${path} ${r.text}`).toBe(201);
}

const buy = (card: string, reference: string) => pos('/v1/purchases', { reference, cim: { type: 'card', value: card }, amount: 1_000, currency: 'EUR' });

/** Until a period has just begun, so that the steps after take place within it. */
async function nextPeriod(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, period_ms - (Date.now() % period_ms) + 50));
}

/** The records' hashes (t:), as test/rebuild-model.test.ts compares them. */
async function records(): Promise<Record<string, { pairs: string[]; expires: number }>> {
  const all = await comparableRedis(stores.redis.client, [], 'left out');
  return Object.fromEntries(Object.entries(all).filter(([key]) => key.startsWith('t:'))) as Record<string, { pairs: string[]; expires: number }>;
}

describe('a referral undone before its award, through a rebuild', () => {
  it('has the award reference marked in both periods again, each hash expiring as before', async () => {
    const referrer = await contact();
    const spender = await contact(referrer.referral_code);
    const referred = await contact(referrer.referral_code);
    await nextPeriod();
    // The referrer's award for the first referral (the budget spent), a record of the period
    // before in the referrer's shard's hash (one bucket).
    await buy(spender.card, 'rm-spender');
    await buy(referred.card, 'rm-first');
    await nextPeriod();
    // No award was made for the second referral; its reversal leaves the contact no purchase, and
    // the undo finds no award to reverse, so it marks the award's reference.
    await pos('/v1/reversals', { reference: 'rm-first-v', original_reference: 'rm-first' });
    const before = await records();
    expect(Object.values(before).flatMap((h) => h.pairs).filter((p) => p.endsWith('=!'))).toHaveLength(2);

    const { config } = gw.processor.stores;
    expect(await waitForLedger(stores.redis.client, await journalMarks(stores.redis.client, config.shard_count), 30_000)).toBe(true);
    await gw.close();
    await stores.redis.client.flushAll();
    const r = await rebuild(stores.redis.client, stores.sql, config, { force: false, wait_ms: 30_000, now_ms: Date.now() });
    expect(r).toMatchObject({ outcome: 'rebuilt', warnings: [] });
    gw = await start();
    const after = await records();
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const [key, b] of Object.entries(before)) {
      const a = after[key]!;
      expect(a.pairs, key).toEqual(b.pairs);
      // To the second: a script's PEXPIRE counts from when Redis ran it, a little after its now_ms.
      expect(Math.abs(a.expires - b.expires), `${key} expires ${a.expires}, was ${b.expires}`).toBeLessThanOrEqual(1);
    }
  }, 60_000);
});
