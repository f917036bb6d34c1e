// The ledger keeps one refusal a request (terminal, reference, claim hash; migration 023): a
// refund's or reversal's original not found is claimed and journaled in two calls, so its repeat
// journals it again (processor/refund.ts journalNotFound), marked `repeat`; the writer records a
// repeat's only where the request has no row, and a later window's refusal of the same request
// (its reference free again) in place of the old row. Through the writer's own statement.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { recordBatch } from '../processor/ledger/writer.ts';
import type { Refusal } from '../processor/refusals.ts';
import type { Sql } from '../processor/stores.ts';
import { connectTestSql } from './ledger-helpers.ts';
import { startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let sql: Sql;
let seq = 0;

beforeAll(async () => {
  gw = await startTestGateway(); // migrates
  sql = connectTestSql();
});
afterAll(async () => {
  await sql?.end();
  await gw?.close();
});

const terminal_id = `ter_rows_${process.pid}`;

function refusal(reference: string, at_ms: number, repeat = false): Refusal {
  return {
    id: `rfs_rows${process.pid}_${++seq}`, code: 'original_not_found', business_id: 'bus_rows', terminal_id, reference, request_hash: 'hash_of_body',
    contact_id: '', created_at: new Date(at_ms).toISOString(), ...(repeat ? { repeat: true as const } : {}),
  };
}

const record = (...refusals: Refusal[]) => recordBatch(sql, refusals.map((r, i) => ({ shard: 0, stream_id: `${i}-0`, entry: JSON.stringify(r), reply: '', refused: true as const })));
const rows = (reference: string) => sql<{ id: string; created_at: Date }[]>`select id, created_at from ledger_refusals where terminal_id = ${terminal_id} and reference = ${reference}`;

it('records a repeat’s refusal only where its request has none: the first one’s row stays', async () => {
  const now = Date.now();
  const first = refusal('rows-1', now);
  await record(first);
  await record(refusal('rows-1', now + 5_000, true), refusal('rows-1', now + 9_000, true));
  expect((await rows('rows-1')).map((r) => r.id)).toEqual([first.id]);
});

it('records a repeat’s refusal whose first was never journaled, once, even beside another repeat in its batch', async () => {
  const now = Date.now();
  const repeat = refusal('rows-2', now, true);
  await record(repeat, refusal('rows-2', now + 1_000, true));
  expect((await rows('rows-2')).map((r) => r.id)).toEqual([repeat.id]);
});

it('a refusal delivered again, or beside its repeat in one batch, is one row; the first’s', async () => {
  const now = Date.now();
  const first = refusal('rows-3', now);
  await record(first, refusal('rows-3', now + 1_000, true), first);
  await record(first);
  expect((await rows('rows-3')).map((r) => r.id)).toEqual([first.id]);
});

it('a later window’s refusal of the same request (its reference free again) takes the old row’s place', async () => {
  const window_ms = 48 * 3_600_000;
  const old = refusal('rows-4', Date.now() - window_ms - 60_000);
  await record(old);
  const again = refusal('rows-4', Date.now());
  await record(again);
  const kept = await rows('rows-4');
  expect(kept.map((r) => [r.id, r.created_at.toISOString()])).toEqual([[again.id, again.created_at]]);
});
