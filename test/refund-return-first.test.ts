// API.md: a refund claws awards back in proportion (commerce first, then open; the balance may go
// negative only here) and returns a wallet payment in proportion; a reversal voids a transaction
// as if it never happened. The claw-back ran before the return: a wallet short of the award
// booked commerce debt, and the return then put open money beside it, spendable while the debt
// stood (a black-box audit, 2026-12-03). The payment comes back first, and the claw-back finds it.

import { describe, expect, it } from 'vitest';
import { businessGatewayForFile } from './business-gateway.ts';
import { createCardContact } from './card-contact.ts';
import { call, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let biz: BusinessFixture;
businessGatewayForFile((made) => ({ gw, biz } = made), { name: '10% back', goal: 'spend', award: { percent: 10 } });

let n = 0;
const ref = () => `rrf-${process.pid}-${Date.now()}-${++n}`;
const pos = (path: string, body: object) => call(gw, 'POST', path, biz.terminal_key, body);

/** A contact whose 5,000 purchase paid 100 from the wallet and awarded 500, all of it redeemed and spent since: a wallet of 0 and 0. */
async function spentAfterPaidPurchase(seed: number) {
  const c = await createCardContact(gw, biz, seed);
  const cim = { type: 'card', value: c.card };
  expect((await pos('/v1/purchases', { reference: ref(), cim, amount: 1_000, currency: 'EUR' })).status).toBe(201);
  expect((await pos('/v1/redemptions', { reference: ref(), cim })).status).toBe(201);
  const purchase = { reference: ref(), cim, amount: 5_000, currency: 'EUR', pay: { amount: 100, wallet_code: c.wallet_code } };
  const paid = await pos('/v1/purchases', purchase);
  expect([paid.status, paid.body.paid_from_wallet], paid.text).toEqual([201, 100]);
  expect((await pos('/v1/redemptions', { reference: ref(), cim })).status).toBe(201);
  const spent = await pos('/v1/spends', { reference: ref(), amount: 500, currency: 'EUR', wallet_code: c.wallet_code });
  expect([spent.status, spent.body.wallet?.open], spent.text).toEqual([201, 0]);
  return { c, purchase, spend: spent.body.reference as string };
}

async function wallet(contact_id: string) {
  const w = await call(gw, 'GET', `/v1/contacts/${contact_id}/wallet`, biz.admin_key);
  return { open: w.body.open, commerce: w.body.commerce };
}

describe('a refund or reversal of a purchase paid partly from the wallet', () => {
  for (const kind of ['refund', 'reversal'] as const) {
    it(`${kind}: returns the payment before it claws the award back, so no open money stands beside the debt`, async () => {
      const { c, purchase } = await spentAfterPaidPurchase(kind === 'refund' ? 870_000_001 : 870_000_002);
      const path = kind === 'refund' ? '/v1/refunds' : '/v1/reversals';
      const undone = await pos(path, { reference: ref(), original_reference: purchase.reference });
      expect(undone.status, undone.text).toBe(201);
      expect([undone.body.clawed_back, undone.body.returned_to_wallet]).toEqual([500, 100]);
      // The 100 returned to open, then taken by the claw-back of 500 with nothing in commerce: 400 of debt.
      expect(await wallet(c.id)).toEqual({ open: 0, commerce: -400 });
      const spend = await pos('/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code });
      expect([spend.status, spend.body.code], spend.text).toEqual([422, 'insufficient_funds']);
    });
  }

  it('a spend reversed while that debt stands settles the debt first: no open money beside it (a black-box probe, 2026-12-06)', async () => {
    const { c, purchase, spend } = await spentAfterPaidPurchase(870_000_003);
    expect((await pos('/v1/refunds', { reference: ref(), original_reference: purchase.reference })).status).toBe(201);
    expect(await wallet(c.id)).toEqual({ open: 0, commerce: -400 });
    // Had the spend of 500 never happened, the claw-back would have found it in open: 400 of it settles the debt.
    const undone = await pos('/v1/reversals', { reference: ref(), original_reference: spend });
    expect([undone.status, undone.body.returned_to_wallet, undone.body.wallet], undone.text).toEqual([201, 500, { open: 100, commerce: 0 }]);
    expect(await wallet(c.id)).toEqual({ open: 100, commerce: 0 });
    const again = await pos('/v1/spends', { reference: ref(), amount: 101, currency: 'EUR', wallet_code: c.wallet_code });
    expect([again.status, again.body.code], again.text).toEqual([422, 'insufficient_funds']);
  });

  for (const kind of ['refund', 'reversal'] as const) {
    it(`${kind} of a paid purchase while another sale's claw-back left debt: the payment settles the debt first (a black-box probe, 2026-12-06)`, async () => {
      const c = await createCardContact(gw, biz, kind === 'refund' ? 870_000_004 : 870_000_005);
      const cim = { type: 'card', value: c.card };
      const first = { reference: ref(), cim, amount: 2_000, currency: 'EUR' };
      expect((await pos('/v1/purchases', first)).status).toBe(201);
      expect((await pos('/v1/redemptions', { reference: ref(), cim })).status).toBe(201);
      const paid = { reference: ref(), cim, amount: 1_000, currency: 'EUR', pay: { amount: 200, wallet_code: c.wallet_code } };
      expect((await pos('/v1/purchases', paid)).status).toBe(201);
      expect((await pos('/v1/redemptions', { reference: ref(), cim })).status).toBe(201);
      expect((await pos('/v1/spends', { reference: ref(), amount: 100, currency: 'EUR', wallet_code: c.wallet_code })).status).toBe(201);
      const path = kind === 'refund' ? '/v1/refunds' : '/v1/reversals';
      expect((await pos(path, { reference: ref(), original_reference: first.reference })).status).toBe(201);
      expect(await wallet(c.id)).toEqual({ open: 0, commerce: -200 });
      // Had the 200 never been paid, the first sale's claw-back would have found it in open.
      const undone = await pos(path, { reference: ref(), original_reference: paid.reference });
      expect([undone.status, undone.body.returned_to_wallet, undone.body.clawed_back, undone.body.wallet], undone.text).toEqual([201, 200, 100, { open: 0, commerce: -100 }]);
      expect(await wallet(c.id)).toEqual({ open: 0, commerce: -100 });
      const spend = await pos('/v1/spends', { reference: ref(), amount: 1, currency: 'EUR', wallet_code: c.wallet_code });
      expect([spend.status, spend.body.code], spend.text).toEqual([422, 'insufficient_funds']);
    });
  }
});
