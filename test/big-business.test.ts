// One business whose network is large: thousands of merchants, venues and terminals (the review
// "bigbiz" drove 2,000 merchants, 5,000 venues, 20,000 terminals and 1,000 offers through the
// public API). The rows are written straight into PostgreSQL, as lists-conformance does, so the
// file stays fast; what is read back goes through the API or the code rebuild and a gateway's
// start run. Sizes are the smallest that still show each defect. On stores of its own: its 22,000
// rows would otherwise be copied by every gateway that other files start on a Redis of their own.
// What each defect cost is checked by the work done (queries made, the plan), not by a clock.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../core/ids.ts';
import { hashKey } from '../processor/network.ts';
import { loadNetworkIntoRedis } from '../processor/network-load.ts';
import type { Sql } from '../processor/stores.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;
const merchants_n = 2_000;
const terminals_n = 20_000;
let merchant_ids: string[] = [];

beforeAll(async () => {
  stores = await startOwnStores('big_business');
  gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  biz = await createBusiness(gw);
  const { sql } = gw.processor.stores;
  merchant_ids = Array.from({ length: merchants_n }, () => newId('mer'));
  const venue_ids = merchant_ids.map(() => newId('ven'));
  const terminal_ids = Array.from({ length: terminals_n }, () => newId('ter'));
  const rows = <T>(all: T[], size = 2_000): T[][] => Array.from({ length: Math.ceil(all.length / size) }, (_, i) => all.slice(i * size, (i + 1) * size));
  for (const part of rows(merchant_ids.map((id, i) => ({ id, business_id: biz.business_id, name: `m${i}`, code: `BIG${i}`, contribution_fee_bp: 100, settle_on: 'award' })))) await sql`insert into merchants ${sql(part)}`;
  for (const part of rows(venue_ids.map((id, i) => ({ id, business_id: biz.business_id, merchant_id: merchant_ids[i]!, name: `v${i}`, timezone: 'UTC' })))) await sql`insert into venues ${sql(part)}`;
  const terminals = terminal_ids.map((id, i) => ({ id, business_id: biz.business_id, venue_id: venue_ids[i % merchants_n]!, merchant_id: merchant_ids[i % merchants_n]!, code: `B${String(i).padStart(7, '0')}` }));
  for (const part of rows(terminals)) await sql`insert into terminals ${sql(part)}`;
  for (const part of rows(terminal_ids.map((terminal_id) => ({ hash: hashKey(`tk_${randomBytes(16).toString('hex')}`), business_id: biz.business_id, kind: 'terminal', terminal_id })))) await sql`insert into api_keys ${sql(part)}`;
  await sql`analyze terminals`;
  await sql`analyze api_keys`;
}, 120_000);
afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

/** The text and parameters of every query `sql` sends while `run` runs (postgres.js's debug hook, read at each query). */
async function queriesOf<T>(sql: Sql, run: () => Promise<T>): Promise<{ result: T; queries: { text: string; parameters: unknown[] }[] }> {
  const queries: { text: string; parameters: unknown[] }[] = [];
  const options = sql.options as { debug: unknown };
  options.debug = (_connection: number, text: string, parameters: unknown[]) => queries.push({ text, parameters });
  try {
    return { result: await run(), queries };
  } finally {
    options.debug = false;
  }
}

describe('settlements per merchant, at 2,000 merchants and 20,000 terminals', () => {
  it('GET /v1/settlements for every merchant reads the ledger once, each merchant once, the right sums', async () => {
    // A purchase at the fixture's merchant, so one row has figures.
    const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: testCard(91_000_001) }] });
    expect(c.status, c.text).toBe(201);
    await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5%', kind: 'cashback', goal: 'spend', award: { percent: 5 } });
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'big-1', cim: { type: 'card', value: testCard(91_000_001) }, amount: 10_000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    // A ledger of a thousand transactions (a quiet morning's): each merchant's query read all of them.
    for (let round = 0; round < 25; round++) {
      const made = await Promise.all(Array.from({ length: 40 }, (_, i) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `fill-${round}-${i}`, cim: { type: 'card', value: testCard(91_000_001) }, amount: 100, currency: 'EUR' })));
      expect(made.map((r) => r.status)).toEqual(Array(40).fill(201));
    }
    await gw.processor.stores.sql`analyze ledger_transactions`;
    const one = await call(gw, 'GET', `/v1/settlements?merchant_id=${biz.merchant_id}`, biz.admin_key);
    expect(one.status, one.text).toBe(200);
    expect(one.body.merchants).toHaveLength(1);
    expect(one.body.merchants[0]).toMatchObject({ merchant_id: biz.merchant_id, awards_funded: 500 + 1_000 * 5 });

    const { result: all, queries } = await queriesOf(gw.processor.stores.sql, () => call(gw, 'GET', '/v1/settlements', biz.admin_key));
    expect(all.status, all.text).toBe(200);
    const ids = all.body.merchants.map((m: { merchant_id: string }) => m.merchant_id);
    expect(ids.length).toBe(merchants_n + 1);
    expect(new Set(ids)).toEqual(new Set([...merchant_ids, biz.merchant_id]));
    expect(all.body.merchants.find((m: { merchant_id: string }) => m.merchant_id === biz.merchant_id)).toEqual(one.body.merchants[0]);
    expect(all.body.merchants.filter((m: { awards_funded: number }) => m.awards_funded !== 0)).toHaveLength(1);
    // A back office's report of one period: one query per merchant took 1.9 s in the review's business
    // (2,000 merchants, 40,000 terminals, 240 transactions) and grows with merchants × ledger.
    expect(queries.filter((q) => q.text.includes('ledger_transactions'))).toHaveLength(1);
  }, 60_000);
});

describe('the network copied into Redis (npm run rebuild, a gateway on a new Redis), at 20,000 terminals', () => {
  it('reads each terminal key by index, not by scanning every key', async () => {
    const { sql, redis } = gw.processor.stores;
    const { result: counts, queries } = await queriesOf(sql, () => loadNetworkIntoRedis({ sql, redis }));
    expect(counts.terminals).toBe(terminals_n + 1);
    // 40,021 terminals took 125 s in npm run rebuild: each page of 500 scanned api_keys once per terminal.
    const reading_keys = queries.filter((q) => q.text.includes('api_keys') && q.text.includes('terminal'));
    expect(reading_keys.length).toBeGreaterThan(0);
    for (const q of reading_keys) {
      const plan = (await sql.unsafe(`explain ${q.text}`, q.parameters as never[])).map((r) => String(r['QUERY PLAN'])).join('\n');
      expect(plan).not.toMatch(/Seq Scan on api_keys/);
      expect(plan).toMatch(/Index (Only )?Scan (Backward )?using \S+ on api_keys/);
    }
    // What it copied serves: the fixture's terminal still quotes.
    const q = await call(gw, 'POST', '/v1/purchases/quote', biz.terminal_key, { cim: { type: 'card', value: testCard(91_000_001) }, amount: 1_000, currency: 'EUR' });
    expect(q.status, q.text).toBe(200);
  }, 120_000);
});

describe('the latest transactions (GET /v1/transactions), at 2,000 terminals with a history', () => {
  it('lists what reading every terminal’s transactions would, whatever their age and ties, each terminal read only within a window', async () => {
    const b = await createBusiness(gw);
    const { sql } = gw.processor.stores;
    const terminal_ids = Array.from({ length: 2_000 }, () => newId('ter'));
    await sql`insert into terminals ${sql(terminal_ids.map((id, i) => ({ id, business_id: b.business_id, venue_id: b.venue_id, merchant_id: b.merchant_id, code: `H${String(i).padStart(7, '0')}` })))}`;
    const now_ms = Date.now();
    let n = 0;
    const rows = (at_ms: (i: number) => number, count: number, terminals = terminal_ids) => Array.from({ length: count }, (_, i) => ({
      id: newId('txn'), business_id: b.business_id, kind: 'purchase', currency: 'EUR', amount: 100 + (n++ % 900), shard: 0, journal_id: `${now_ms}-${n}`,
      terminal_id: terminals[i % terminals.length]!, reference: `h-${n}`, contact_id: null, created_at: new Date(at_ms(i)),
      reply: sql.json({ awards: [{ amount: 7 }] }),
    }));
    const insert = async (all: ReturnType<typeof rows>) => {
      for (let i = 0; i < all.length; i += 5_000) await sql`insert into ledger_transactions ${sql(all.slice(i, i + 5_000))}`;
    };
    const expected = async (limit: number) => (await sql<{ id: string }[]>`
      select t.id from ledger_transactions t join terminals term on term.id = t.terminal_id
      where term.business_id = ${b.business_id} order by t.created_at desc, t.id desc limit ${limit}`).map((r) => r.id);
    const listed = async (limit: number) => {
      const r = await call(gw, 'GET', `/v1/transactions?limit=${limit}`, b.admin_key);
      expect(r.status, r.text).toBe(200);
      return r.body.data as { id: string; awarded: number; amount: number }[];
    };
    const same = async (limit: number) => {
      const data = await listed(limit);
      expect(data.map((t) => t.id)).toEqual(await expected(limit));
      return data;
    };

    const ledgerReads = async (limit: number) => (await queriesOf(sql, () => listed(limit))).queries.filter((q) => q.text.includes('ledger_transactions')).length;
    // No transaction yet: the minute's window, then the newest (none), and no more.
    expect(await listed(100)).toEqual([]);
    expect(await ledgerReads(100)).toBe(2);
    // Two years of history, 20 a terminal, none of it in any window but the last (no bound).
    await insert(rows((i) => now_ms - 2 * 366 * 86_400_000 - i * 60_000, 40_000));
    await sql`analyze ledger_transactions`;
    expect((await same(100))[0]).toMatchObject({ awarded: 7 });
    // The minute's window, the newest transaction (two years old), then the read without a bound:
    // not the four windows between, which hold none.
    expect(await ledgerReads(100)).toBe(3);
    await same(1);
    // Thirty in the last hour: the hour's window holds them but not 100; the day's then, and so on.
    await insert(rows((i) => now_ms - 120_000 - i * 60_000, 30));
    await same(100);
    await same(20);
    // Ties at a window's edge and across terminals: the same instant, ordered by id as the list is.
    const tie_ms = now_ms - 30_000;
    await insert(rows(() => tie_ms, 150));
    await same(100);
    await same(37);
  }, 120_000);
});
