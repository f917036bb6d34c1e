// tier-seed.ts unitsOf: a contact's units counters from its purchases and reversals as the ledger
// holds them, as the shard scripts keep them (lib.lua addTierUnits, counted.lua undoCounted). Pure.

import { describe, expect, it } from 'vitest';
import { unitsOf, type PurchaseRow } from './tier-seed.ts';

const at = (y: number, m: number, d: number, h = 12) => Date.UTC(y, m - 1, d, h);
let n = 0;
const purchase = (amount: number, at_ms: number, timezone: string | null = null): PurchaseRow => ({ contact_id: 'con_a', id: `txn_${++n}`, kind: 'purchase', amount, original_id: null, at_ms, timezone });
const reversal = (of: PurchaseRow): PurchaseRow => ({ contact_id: 'con_a', id: `txn_${++n}`, kind: 'reversal', amount: of.amount, original_id: of.id, at_ms: of.at_ms + 1, timezone: of.timezone });

describe('unitsOf', () => {
  it("adds a period's purchases and keeps the one before as previous", () => {
    const history = [purchase(1_000, at(2026, 11, 5)), purchase(500, at(2026, 11, 20)), purchase(300, at(2026, 12, 2))];
    expect(unitsOf(history, ['m', 'q', 'y'])).toEqual([
      { field: 'um', value: '2026-12|300|1500' },
      { field: 'uq', value: '2026-4|1800|0' },
      { field: 'uy', value: '2026|1800|0' },
    ]);
  });

  it("counts a purchase dated back into the period before as that period's, and one dated earlier in none", () => {
    const history = [purchase(700, at(2026, 12, 3)), purchase(200, at(2026, 11, 30)), purchase(90, at(2026, 10, 1))];
    expect(unitsOf(history, ['m'])).toEqual([{ field: 'um', value: '2026-12|700|200' }]);
  });

  it("reads a purchase in its venue's calendar: 1 December 01:00 in Auckland is December there, November in UTC", () => {
    expect(unitsOf([purchase(100, Date.UTC(2026, 10, 30, 12), 'Pacific/Auckland')], ['m'])).toEqual([{ field: 'um', value: '2026-12|100|0' }]);
    expect(unitsOf([purchase(100, Date.UTC(2026, 10, 30, 12))], ['m'])).toEqual([{ field: 'um', value: '2026-11|100|0' }]);
  });

  it('takes a reversed purchase back, but not one whose undo is still deferred, nor one older than the history read', () => {
    const a = purchase(1_000, at(2026, 12, 1));
    const b = purchase(400, at(2026, 12, 2));
    const deferred = reversal(b);
    const of_older: PurchaseRow = { ...reversal(a), original_id: 'txn_not_read' };
    const history = [a, b, reversal(a), deferred, of_older];
    expect(unitsOf(history, ['m'])).toEqual([{ field: 'um', value: '2026-12|0|0' }]);
    expect(unitsOf(history, ['m'], new Set([deferred.id]))).toEqual([{ field: 'um', value: '2026-12|400|0' }]);
  });

  it("gives '' for a kind no purchase counted in, so that the script takes a stale field off", () => {
    expect(unitsOf([], ['m', 'y'])).toEqual([{ field: 'um', value: '' }, { field: 'uy', value: '' }]);
  });
});
