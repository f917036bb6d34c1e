// What the races and kill tests check of a business after the fact: every answer contractual,
// every approved transaction in the ledger once, every wallet equal to its ledger (reconcile).

import { expect } from 'vitest';
import { error_codes } from '../core/errors.ts';
import { reconcile, type Mismatch } from '../processor/ledger/reconcile.ts';
import { eventually, type BusinessFixture, type TestGateway } from './helpers.ts';

/** The codes API.md lists: every code but internal_error (a 500 is never an answer the contract has). */
export const contract_codes: ReadonlySet<string> = new Set(error_codes.filter((c) => c !== 'internal_error'));

/** No 5xx, and a refusal's code one API.md lists; `context` says which answer in a failure. */
export function expectContractualAnswer(status: number, body: { code?: unknown } | undefined, context: string): void {
  expect(status, context).toBeLessThan(500);
  if (status >= 400) expect(contract_codes.has(String(body?.code)), context).toBe(true);
}

/** OPERATIONS.md reconcile for this business: every wallet equal to its ledger. */
export async function expectReconciledWith(gw: TestGateway, biz: BusinessFixture): Promise<void> {
  const { redis, sql, config } = gw.processor.stores;
  const mismatches: Mismatch[] = [];
  const result = await reconcile(redis, sql, { shard_count: config.shard_count, business_id: biz.business_id, wait_ms: 20_000, onMismatch: (x) => mismatches.push(x) });
  expect(result.outcome).toBe('compared');
  expect(mismatches).toEqual([]);
}

/** Every approved reply's transaction (`ids`) is in the ledger, once. */
export async function expectRecordedWith(gw: TestGateway, biz: BusinessFixture, ids: readonly string[]): Promise<void> {
  const sql = gw.processor.stores.sql;
  await eventually('ledger caught up', async () => {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where id = any(${ids as string[]}) and business_id = ${biz.business_id}`;
    return row!.n === new Set(ids).size;
  });
}
