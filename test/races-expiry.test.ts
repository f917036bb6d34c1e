// The expiry sweeper racing redemptions, refunds, spends and reversals of a contact whose lots
// expire right then (the gateways' clocks held at the lots' expiry), on two gateways sharing one
// Redis and PostgreSQL; then exact invariants: wallets = ledger, open never below zero, no money
// past its expiry left in a wallet, no 5xx, every refusal a code the pages list.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCardContact, type CardContact } from './card-contact.ts';
import { call, closeAll, createBusiness, startTestGateway, type ApiResponse, type BusinessFixture, type TestGateway } from './helpers.ts';
import { expectContractualAnswer, expectReconciledWith } from './ledger-checks.ts';

let gw: TestGateway;
let other: TestGateway;
let seed = 93_500_000;
let seq = 0;

beforeAll(async () => {
  // The sweepers run only when a test says.
  gw = await startTestGateway({ expiry_sweep_ms: 3_600_000 });
  other = await startTestGateway({ expiry_sweep_ms: 3_600_000 });
});
afterAll(async () => {
  await closeAll(other, gw);
});



/** Both gateways' clocks at `ms` (plus the time passed since) until released. */
function holdClocks(ms: number): () => void {
  const real = Date.now;
  const start = real();
  for (const g of [gw, other]) g.processor.stores.clock.now = () => ms + (real() - start);
  return () => {
    for (const g of [gw, other]) g.processor.stores.clock.now = real;
  };
}

const expectContractual = (r: ApiResponse, via: string): void => expectContractualAnswer(r.status, r.body, `${via} ${r.status} ${r.text.slice(0, 300)}`);
const expectReconciled = (biz: BusinessFixture): Promise<void> => expectReconciledWith(gw, biz);

describe('the expiry sweeper racing a contact’s own transactions as its lots expire', () => {
  it('sweeps on both gateways, redemptions, a refund, reversals and spends at once, 20 contacts at the lots’ expiry ± 2 ms: wallets = ledger, nothing expired left', async () => {
    const biz = await createBusiness(gw);
    const o = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: 'a day', goal: 'spend', kind: 'cashback', award: { percent: 10 }, validity_days: 1 });
    expect(o.status, o.text).toBe(201);
    const pos = (g: TestGateway, path: string, body: object) => call(g, 'POST', path, biz.terminal_key, { reference: `x-${++seq}`, ...body });
    const cs: CardContact[] = [];
    const setups: { c: CardContact; p1: ApiResponse; p2: ApiResponse; r0: ApiResponse }[] = [];
    for (let i = 0; i < 20; i++) {
      const c = await createCardContact(gw, biz, ++seed);
      cs.push(c);
      const cim = { type: 'card', value: c.card };
      const p1 = await pos(gw, '/v1/purchases', { cim, amount: 10_000, currency: 'EUR' });
      const r0 = await pos(gw, '/v1/redemptions', { cim, amount: 500 });
      const p2 = await pos(gw, '/v1/purchases', { cim, amount: 10_000, currency: 'EUR' });
      for (const r of [p1, r0, p2]) expect(r.status, r.text).toBe(201);
      setups.push({ c, p1, p2, r0 });
    }
    const wrong: string[] = [];
    for (const [i, { c, p1, p2, r0 }] of setups.entries()) {
      const expires = Date.parse(p2.body.awards[0].expires_at);
      const release = holdClocks(expires + (i % 5) - 2);
      try {
        const cim = { type: 'card', value: c.card };
        const rs = await Promise.all([
          gw.processor.expiry.sweep().then(() => undefined),
          other.processor.expiry.sweep().then(() => undefined),
          pos(gw, '/v1/redemptions', { cim }),
          pos(other, '/v1/redemptions', { cim, amount: 300 }),
          pos(other, '/v1/refunds', { original_reference: p1.body.reference, amount: 4000 }),
          pos(gw, '/v1/reversals', { original_reference: p2.body.reference }),
          i % 2 === 0 ? pos(other, '/v1/reversals', { original_reference: r0.body.reference }) : pos(other, '/v1/spends', { amount: 200, currency: 'EUR', wallet_code: c.wallet_code }),
          pos(gw, '/v1/spends', { amount: 100, currency: 'EUR', wallet_code: c.wallet_code }),
        ]);
        for (const r of rs) if (r !== undefined) expectContractual(r, 'pos');
        await gw.processor.expiry.sweep();
        const w = await call(gw, 'GET', `/v1/contacts/${c.id}/wallet`, biz.admin_key);
        expect(w.status, w.text).toBe(200);
        if (w.body.open < 0) wrong.push(`contact ${i}: open ${w.body.open}`);
        if (w.body.commerce > 0 || w.body.expiring.length > 0) wrong.push(`contact ${i}: expired money left ${w.text}`);
      } finally {
        release();
      }
    }
    expect(wrong).toEqual([]);
    await expectReconciled(biz);
  });
});
