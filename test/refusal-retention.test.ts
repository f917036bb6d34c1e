// Refusals in the ledger (processor/refusals.ts) are kept for `npm run rebuild`, which reads at
// most one and a half hot windows back: the ledger-writing process forgets those older than two.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { pruneRefusals } from '../processor/refusals.ts';
import type { Sql } from '../processor/stores.ts';
import { connectTestSql } from './ledger-helpers.ts';
import { startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let sql: Sql;

beforeAll(async () => {
  gw = await startTestGateway(); // migrates
  sql = connectTestSql();
});
afterAll(async () => {
  await sql?.end();
  await gw?.close();
});

it('forgets refusals older than two hot windows, in bounded statements, and keeps the rest', async () => {
  const window_s = 3_600;
  const row = (id: string, age_s: number) => ({
    id, business_id: 'bus_retention', terminal_id: 'ter_retention', reference: id, request_hash: 'h', contact_id: '', code: 'insufficient_funds',
    created_at: new Date(Date.now() - age_s * 1000),
  });
  const rows = [row('rfs_ret_old1', 2 * window_s + 60), row('rfs_ret_old2', 3 * window_s), row('rfs_ret_old3', 10 * window_s), row('rfs_ret_new', 2 * window_s - 60)];
  await sql`insert into ledger_refusals ${sql(rows)}`;
  const ids = () => sql<{ id: string }[]>`select id from ledger_refusals where business_id = 'bus_retention' order by id`.then((r) => r.map((x) => x.id));
  expect(await pruneRefusals(sql, window_s, 2)).toBe(2);
  expect((await ids()).length).toBe(2);
  expect(await pruneRefusals(sql, window_s, 2)).toBe(1);
  expect(await ids()).toEqual(['rfs_ret_new']);
  expect(await pruneRefusals(sql, window_s, 2)).toBe(0);
});
