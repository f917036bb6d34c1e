// occurred_at decides the offers' periods. Unbounded, a terminal got a once-a-day award once for
// each day it named (1970, 2020, 2099, …) within one real day. From a terminal it may now be at
// most 24 hours before the processor's clock and 5 minutes after; otherwise 400
// validation_failed naming occurred_at, and nothing changes.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectValidation } from './contract-util.ts';
import { call, createBusiness, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
let seq = 0;
const hour_ms = 3_600_000;
/** Noon UTC today: the processor's clock in these tests, so that no boundary crosses a midnight. */
const noon = Date.parse(`${new Date().toISOString().slice(0, 10)}T12:00:00Z`);
let real: () => number;

beforeAll(async () => {
  gw = await startTestGateway();
  biz = await createBusiness(gw);
  const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'once a day', goal: 'spend', award: { fixed: 100 }, limits: { per_contact: { count: 1, period: 'day' } } });
  expect(o.status).toBe(201);
  real = gw.processor.stores.clock.now;
  gw.processor.stores.clock.now = () => noon;
});
afterAll(async () => {
  gw.processor.stores.clock.now = real;
  await gw.close();
});

async function contact(): Promise<{ id: string; card: string }> {
  const card = testCard(99_100_000 + ++seq);
  const c = await call(gw, 'POST', '/v1/contacts', biz.admin_key, { cims: [{ type: 'card', value: card }] });
  expect(c.status).toBe(201);
  return { id: c.body.id, card };
}

const at = (ms: number) => new Date(ms).toISOString();
const body = (c: { card: string }, reference: string, occurred_at?: string) => ({
  reference, cim: { type: 'card', value: c.card }, amount: 1000, currency: 'EUR', ...(occurred_at === undefined ? {} : { occurred_at }),
});
const buy = (b: object) => call(gw, 'POST', '/v1/purchases', biz.terminal_key, b);
const commerce = async (c: { id: string }) => (await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key)).body.commerce as number;

describe('occurred_at from a terminal (HTTP)', () => {
  it('far in the past or future: 400 naming occurred_at, nothing changed, the reference left free', async () => {
    const c = await contact();
    const reference = `oa-${++seq}`;
    for (const occurred_at of ['1970-01-01T00:00:00Z', '2020-06-15T12:00:00Z', '2099-12-31T23:59:59Z', at(noon - 24 * hour_ms - 1), at(noon + 5 * 60_000 + 1)]) {
      const r = await buy(body(c, reference, occurred_at));
      expectValidation(r, 'occurred_at');
    }
    expect(await commerce(c)).toBe(0);
    const [row] = await gw.processor.stores.sql<{ n: number }[]>`select count(*)::int as n from ledger_transactions where contact_id = ${c.id}`;
    expect(row!.n).toBe(0);
    // The reference was not taken by the refusals: a good request with it is a new purchase.
    const ok = await buy(body(c, reference));
    expect(ok.status, ok.text).toBe(201);
    expect(ok.headers.get('idempotent-replayed')).toBeNull();
    expect(await commerce(c)).toBe(100);
  });

  it('the boundaries are accepted: a once-a-day award at most once per day they name', async () => {
    const c = await contact();
    const back = await buy(body(c, `oa-${++seq}`, at(noon - 24 * hour_ms)));
    expect(back.status, back.text).toBe(201);
    expect(back.body.awards).toHaveLength(1); // yesterday's
    const ahead = await buy(body(c, `oa-${++seq}`, at(noon + 5 * 60_000)));
    expect(ahead.status, ahead.text).toBe(201);
    expect(ahead.body.awards).toHaveLength(1); // today's
    const again = await buy(body(c, `oa-${++seq}`, at(noon - hour_ms)));
    expect(again.status, again.text).toBe(201);
    expect(again.body.awards).toEqual([]); // today's is taken
    expect(await commerce(c)).toBe(200);
  });

  it('a retry of an approved purchase after its occurred_at left the window gets its reply', async () => {
    const c = await contact();
    const first = body(c, `oa-${++seq}`, at(noon - 23 * hour_ms));
    const approved = await buy(first);
    expect(approved.status, approved.text).toBe(201);
    gw.processor.stores.clock.now = () => noon + 2 * hour_ms;
    try {
      const retry = await buy(first);
      expect(retry.status, retry.text).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.text).toBe(approved.text);
      // The same time under a new reference is a new purchase: refused.
      expectValidation(await buy({ ...first, reference: `oa-${++seq}` }), 'occurred_at');
    } finally {
      gw.processor.stores.clock.now = () => noon;
    }
    expect(await commerce(c)).toBe(100);
  });
});
