// `npm run rebuild` on a business of realistic size (README "Reconcile and rebuild"): what each
// phase costs must grow with the window, not with the window times the ledger. Shown on a few
// rows through the plans PostgreSQL chooses, with sequential scans off so that a plan reads like
// the one it takes at 1,000,000 transactions.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PendingQuery, Row, TransactionSql } from 'postgres';
import { birthdayPurchasesQuery } from '../processor/ledger/birthday-purchases.ts';
import { feeCarriesQuery } from '../processor/ledger/rebuild-fee-carries.ts';
import { statesQuery } from '../processor/ledger/rebuild-references.ts';
import { recordedRows } from '../processor/transactions.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';

let stores: OwnStores;
let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;
const ref = () => `rs-${++seq}`;
const pos = (path: string, body: unknown) => call(gw, 'POST', path, biz.terminal_key, body);

beforeAll(async () => {
  stores = await startOwnStores('rebuild_scale');
  gw = await startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url });
  biz = await createBusiness(gw);
  expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '5%', goal: 'spend', award: { percent: 5 } })).status).toBe(201);
  const card = testCard(41_000_000);
  expect((await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] })).status).toBe(201);
  const purchases: string[] = [];
  for (let i = 0; i < 3; i++) {
    const p = await pos('/v1/purchases', { reference: ref(), cim: { type: 'card', value: card }, amount: 10_000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    purchases.push(p.body.reference);
  }
  expect((await pos('/v1/refunds', { reference: ref(), original_reference: purchases[0], amount: 1_000 })).status).toBe(201);
  expect((await pos('/v1/reversals', { reference: ref(), original_reference: purchases[1] })).status).toBe(201);
  expect((await pos('/v1/redemptions', { reference: ref(), cim: { type: 'card', value: card } })).status).toBe(201);
  await eventually('the ledger holds all 6', async () => {
    const [row] = await stores.sql<{ n: number }[]>`select count(*)::int4 as n from ledger_transactions where business_id = ${biz.business_id}`;
    return row?.n === 6;
  });
});

afterAll(async () => {
  await gw?.close();
  await stores?.stop();
});

/** `query`'s plan with sequential scans off (each table's scan as it is at scale). */
async function planOf<T extends readonly Row[]>(query: (tx: TransactionSql) => PendingQuery<T>): Promise<string> {
  return stores.sql.begin(async (tx) => {
    await tx`set local enable_seqscan = off`;
    const rows = await tx<{ 'QUERY PLAN': string }[]>`explain ${query(tx)}`;
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

describe('npm run rebuild at scale', () => {
  it("finds each original's refunds and reversals through the original_id index, not a scan of it per original", async () => {
    const plan = await planOf((tx) => statesQuery(tx, 0));
    // Both lateral reads (refunds and reversals; refunds' postings) look original_id up in its index.
    expect(plan.match(/Index Cond: \(original_id = /g)?.length ?? 0, plan).toBeGreaterThanOrEqual(2);
    expect(plan, plan).not.toMatch(/Filter: .*original_id = /);
  });

  it("finds each sale's refunds and reversals for the fee carries through the original_id index (a probe: a scan of the ledger per sale, 940 s on 79,000 transactions)", async () => {
    const plan = await planOf((tx) => feeCarriesQuery(tx));
    expect(plan, plan).toMatch(/Index Cond: \(original_id = /);
    expect(plan, plan).not.toMatch(/Filter: .*original_id = /);
  });

  it("finds a contact's reversed purchases, when its birth date changes, through the original_id index", async () => {
    const plan = await planOf((tx) => birthdayPurchasesQuery(tx, 'con_x', 0));
    expect(plan, plan).toMatch(/Index Cond: \(original_id = /);
    expect(plan, plan).not.toMatch(/Filter: .*original_id = /);
  });
});

describe('reads of the ledger at scale', () => {
  it("GET /v1/transactions finds the terminal code of a transaction a callback made through callback_events_made, not a scan of the callbacks per row", async () => {
    const plan = await planOf((tx) => recordedRows(tx, ['txn_a', 'txn_b']));
    expect(plan, plan).toMatch(/Index Cond: \(made_transaction_id = /);
    expect(plan, plan).not.toMatch(/Filter: .*made_transaction_id = /);
  });
});
