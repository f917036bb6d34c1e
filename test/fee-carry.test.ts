// Contribution fees carried per merchant and shard (lib.lua chargeFee, returnFee), as a merchant's
// back office sees them in its settlement. A merchant at 10% whose customers earn 1% cashback on
// sales of 900 (awards of 9, a fee of 0.9 each): floored alone, each paid 0. Carried, with the
// carry left alone by refunds and reversals (2026-12-04, briefly), a reversed sale's 0.9 stayed
// and the next sale paid for it, and a terminal reversing every sale charged a unit and ringing it
// again paid nothing at all (the money audit of that day). Here, one contact (one shard): the
// fees of what stands are the floor of 10% of its awards, whatever was reversed or refunded.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../loadtest/prng.ts';
import { feeCarriesKey } from '../processor/hot/keys.ts';
import { accountId } from '../processor/journal.ts';
import { ledgerFeeCarries } from '../processor/ledger/rebuild-fee-carries.ts';
import { createCardContact, type CardContact } from './card-contact.ts';
import { call, createBusiness, startTestGateway, type BusinessFixture, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let seed = 61_000_000;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

interface Shop {
  readonly biz: BusinessFixture;
  readonly contact: CardContact;
  seq: number;
}

async function shop(): Promise<Shop> {
  const biz = await createBusiness(gw); // its merchant charges 10% of awards
  const offer = await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '1% back', kind: 'cashback', goal: 'spend', award: { percent: 1 } });
  expect(offer.status, offer.text).toBe(201);
  return { biz, contact: await createCardContact(gw, biz, ++seed), seq: 0 };
}

async function buy(s: Shop, amount = 900): Promise<{ reference: string; awarded: number }> {
  const reference = `fc-${++s.seq}`;
  const r = await call(gw, 'POST', '/v1/purchases', s.biz.terminal_key, { reference, cim: { type: 'card', value: s.contact.card }, amount, currency: 'EUR' });
  expect(r.status, r.text).toBe(201);
  return { reference, awarded: r.body.awards.reduce((sum: number, a: { amount: number }) => sum + a.amount, 0) };
}

async function undo(s: Shop, original_reference: string, how: 'reversal' | 'refund', amount?: number): Promise<void> {
  const r = await call(gw, 'POST', how === 'reversal' ? '/v1/reversals' : '/v1/refunds', s.biz.terminal_key, { reference: `fc-${++s.seq}`, original_reference, ...(amount === undefined ? {} : { amount }) });
  expect(r.status, r.text).toBe(201);
}

async function settled(s: Shop): Promise<{ awards_funded: number; contribution_fees: number }> {
  const r = await call(gw, 'GET', `/v1/settlements?merchant_id=${s.biz.merchant_id}`, s.biz.admin_key);
  expect(r.status, r.text).toBe(200);
  return { awards_funded: r.body.merchants[0].awards_funded, contribution_fees: r.body.merchants[0].contribution_fees };
}

/**
 * The merchant's carry on the contact's shard, live in Redis and as rebuild would make it from the
 * ledger (settled() waited for the ledger): the same. Rebuild left out a sale whose fee had no
 * remainder, though a partial refund of it moves the carry (a review of 2026-12-04).
 */
async function expectCarryRebuilt(s: Shop): Promise<void> {
  const shard = gw.processor.contacts.shardOf(s.contact.id);
  const account = accountId(s.biz.merchant_id, 'fees', 'EUR');
  const live = Number((await gw.processor.stores.redis.hGet(feeCarriesKey(shard), account)) ?? 0);
  const rebuilt = (await ledgerFeeCarries(gw.processor.stores.sql)).find((c) => c.shard === shard && c.account === account)?.carry ?? 0;
  expect(rebuilt, 'the carry rebuild makes from the ledger').toBe(live);
}

describe('contribution fees carried', () => {
  it('ten awards of 9 at 10% pay 9, not ten times 0', async () => {
    const s = await shop();
    for (let i = 0; i < 10; i++) expect((await buy(s)).awarded).toBe(9);
    expect(await settled(s)).toEqual({ awards_funded: 90, contribution_fees: 9 });
  });

  for (const how of ['reversal', 'refund'] as const) {
    it(`a ${how} of the whole sale leaves the carry as if it never happened`, async () => {
      const s = await shop();
      const first = await buy(s); // 0.9: 0 charged, 0.9 carried
      await undo(s, first.reference, how);
      await buy(s); // 0.9 again: 0 charged, not 1
      expect(await settled(s)).toEqual({ awards_funded: 9, contribution_fees: 0 });
    });
  }

  it('a terminal reversing every sale charged a unit and ringing it again still pays 10% of what stands, floored', async () => {
    const s = await shop();
    let fees = 0;
    for (let sale = 0; sale < 12; sale++) {
      const { reference } = await buy(s);
      const now = (await settled(s)).contribution_fees;
      if (now > fees) {
        await undo(s, reference, 'reversal');
        await buy(s);
      }
      fees = (await settled(s)).contribution_fees;
    }
    const { awards_funded, contribution_fees } = await settled(s);
    expect(awards_funded).toBe(12 * 9);
    expect(contribution_fees).toBe(Math.floor((awards_funded * 10) / 100));
  });

  it('a partial refund gives back its share of the fee, the fraction through the carry: 10% of what stands, floored (API audit)', async () => {
    const s = await shop();
    const sale = await buy(s, 1_000); // an award of 10, a fee of 1
    expect(sale.awarded).toBe(10);
    await undo(s, sale.reference, 'refund', 150); // 1 clawed back: 9 stands, a fee of 0.9
    // Each part of the fee proportioned alone gave back floor(1 × 0.15) = 0, and the merchant paid 1 on 9.
    expect(await settled(s)).toEqual({ awards_funded: 9, contribution_fees: 0 });
    await expectCarryRebuilt(s); // 0.85 of a unit carried: 8,500
    await undo(s, sale.reference, 'reversal');
    expect(await settled(s)).toEqual({ awards_funded: 0, contribution_fees: 0 });
  });

  it('random sales, partial refunds and reversals on one contact: the floor of the exact fees of what stands', async () => {
    const s = await shop();
    const rnd = prng(20261205);
    const sales: { reference: string; amount: number; fee: bigint; refunded: number; gone: boolean }[] = [];
    for (let op = 0; op < 40; op++) {
      const pick = rnd();
      const open = sales.filter((x) => !x.gone && x.refunded < x.amount);
      if (pick < 0.5 || open.length === 0) {
        const amount = 100 + Math.floor(rnd() * 4_900);
        const { reference, awarded } = await buy(s, amount);
        // 10% of the award, in 1/10,000ths of a unit.
        sales.push({ reference, amount, fee: BigInt(awarded) * 1_000n, refunded: 0, gone: false });
        continue;
      }
      const x = open[Math.floor(rnd() * open.length)]!;
      if (pick < 0.7) {
        await undo(s, x.reference, 'reversal');
        x.gone = true;
      } else {
        const part = 1 + Math.floor(rnd() * (x.amount - x.refunded));
        await undo(s, x.reference, 'refund', part);
        x.refunded += part;
      }
    }
    // Each sale's fee less its refunded total's share of it, floored (core/refund.ts feeGivenBack);
    // none of one reversed. One contact, one shard, a new merchant: its fees are the floor of the sum.
    const standing = sales.reduce((sum, x) => (x.gone ? sum : sum + x.fee - (x.fee * BigInt(x.refunded)) / BigInt(x.amount)), 0n);
    expect((await settled(s)).contribution_fees).toBe(Number(standing / 10_000n));
    await expectCarryRebuilt(s);
  });

  it('random sales, whole refunds and reversals on one contact: 10% of what stands, floored', async () => {
    const s = await shop();
    const rnd = prng(20261204);
    const standing: { reference: string; awarded: number }[] = [];
    for (let op = 0; op < 40; op++) {
      const pick = rnd();
      if (pick < 0.6 || standing.length === 0) standing.push(await buy(s, 100 + Math.floor(rnd() * 4_900)));
      else {
        const [gone] = standing.splice(Math.floor(rnd() * standing.length), 1);
        await undo(s, gone!.reference, pick < 0.8 ? 'reversal' : 'refund');
      }
    }
    const awarded = standing.reduce((sum, p) => sum + p.awarded, 0);
    expect(await settled(s)).toEqual({ awards_funded: awarded, contribution_fees: Math.floor((awarded * 10) / 100) });
  });
});

describe('a period’s contribution fee', () => {
  it('is the percent of what its customers were awarded, whichever shards they are on: eight customers awarded 100 at 2.5% pay 20 (a settlements probe: 18)', async () => {
    const biz = await createBusiness(gw);
    const merchant = await call(gw, 'POST', '/v1/merchants', biz.admin_key, { name: 'Quarter', code: `Q${++seed}`.slice(0, 15), contribution_fee_percent: 2.5 });
    expect(merchant.status, merchant.text).toBe(201);
    const venue = await call(gw, 'POST', '/v1/venues', biz.admin_key, { name: 'Q', merchant_id: merchant.body.id });
    const terminal = await call(gw, 'POST', '/v1/terminals', biz.admin_key, { venue_id: venue.body.id, code: 'Q0000001' });
    expect(terminal.status, terminal.text).toBe(201);
    expect((await call(gw, 'POST', '/v1/offers', biz.admin_key, { name: '10%', goal: 'spend', award: { percent: 10 } })).status).toBe(201);
    const shards = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const contact = await createCardContact(gw, biz, ++seed);
      shards.add(gw.processor.contacts.shardOf(contact.id));
      const r = await call(gw, 'POST', '/v1/purchases', terminal.body.api_key, { reference: `q-${i}`, cim: { type: 'card', value: contact.card }, amount: 1_000, currency: 'EUR' });
      expect([r.status, r.body.awards[0]?.amount], r.text).toEqual([201, 100]);
    }
    expect(shards.size, 'customers on several shards').toBeGreaterThan(2);
    const r = await call(gw, 'GET', `/v1/settlements?merchant_id=${merchant.body.id}`, biz.admin_key);
    expect(r.body.merchants[0], r.text).toMatchObject({ awards_funded: 800, contribution_fees: 20, net_owed_to_merchant: -20, owed_by: 'merchant', net_amount: 20 });
  });
});
