// API.md: "Timestamps are RFC 3339 strings in UTC (`2026-11-24T10:15:00Z`)": a statement line's
// `at` is in whole seconds, so a transaction shown at 10:15:00Z is before 10:15:00.5Z whatever
// its millisecond in the ledger. A period bound inside a second counts from the next whole
// second, for statements as for settlements (processor/ledger/reports.ts wholeSecondBound).

import { describe, expect, it } from 'vitest';
import { businessGatewayForFile } from './business-gateway.ts';
import { createCardContact } from './card-contact.ts';
import { call, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
businessGatewayForFile((made) => ({ gw, biz } = made), { name: '10% back', goal: 'spend', award: { percent: 10 } });

describe('a statement period bound inside a second', () => {
  it('holds a line exactly when its given time is in the period', async () => {
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
      return s.body.lines as { at: string }[];
    };
    const half = new Date(second_ms + 500).toISOString();
    expect((await lines(shown, half)).map((l) => l.at)).toEqual([shown]);
    expect(await lines(half, '2099-01-01T00:00:00Z')).toEqual([]);
  });
});
