// A statement's period [from, to) holds a transaction by its instant to the millisecond, though
// its line's `at` shows whole seconds (API.md: `2026-11-24T10:15:00Z`): a back office that reads
// its clock and then makes a purchase finds it in a period from then, as a settlement does
// (processor/ledger/reports.ts ledgerBound).

import { describe, expect, it } from 'vitest';
import { businessGatewayForFile } from './business-gateway.ts';
import { createCardContact } from './card-contact.ts';
import { call, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
businessGatewayForFile((made) => ({ gw, biz } = made), { name: '10% back', goal: 'spend', award: { percent: 10 } });

describe('a statement period bound inside a second', () => {
  it('holds a line exactly when its instant is in the period, to the millisecond', async () => {
    const { id, card } = await createCardContact(gw, biz, 870_000_001);
    const second_ms = Date.UTC(2026, 10, 30, 9, 41, 7);
    const clock = gw.processor.stores.clock;
    const real = clock.now;
    clock.now = () => second_ms + 700;
    try {
      const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: `sb-${process.pid}-${Date.now()}`, cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
      expect(p.status, p.text).toBe(201);
    } finally {
      clock.now = real;
    }
    const shown = new Date(second_ms).toISOString().replace('.000Z', 'Z');
    const lines = async (from: string, to: string) => {
      const s = await call(gw, 'GET', `/v1/contacts/${id}/statement?from=${from}&to=${to}`, biz.admin_key);
      expect(s.status, s.text).toBe(200);
      return (s.body.lines as { at: string }[]).map((l) => l.at);
    };
    const at = (ms: number, fraction = '') => new Date(second_ms + ms).toISOString().replace('Z', `${fraction}Z`);
    const later = '2099-01-01T00:00:00Z';
    // Its clock read before the purchase, inside the same second: the purchase is in the period.
    expect(await lines(at(500), later)).toEqual([shown]);
    expect(await lines(at(700), later)).toEqual([shown]);
    expect(await lines(at(701), later)).toEqual([]);
    expect(await lines(at(700, '1'), later)).toEqual([]);
    expect(await lines(shown, at(700))).toEqual([]);
    expect(await lines(shown, at(700, '1'))).toEqual([shown]);
    expect(await lines(shown, at(701))).toEqual([shown]);
  });
});
