// spec/EVENTS.md, sentence by sentence where the implementation once read it otherwise: each test
// quotes the words it holds the gateway to, and drives it only through the contract (signed
// callbacks over HTTP, webhooks to a real receiver on loopback).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { shop as shopOf, walletOf, type Shop } from './contract-util.ts';
import { createProcessor, postCallback, refunded, sale, transactionId } from './callback-helpers.ts';

describe('callbacks in', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  // "`ignored` (nothing to do, and retrying will not change that; `code` says why: ... `not_found`
  // for an unknown merchant ...), `rejected` (the event is malformed ...)"; "`merchant_code` is the
  // merchant's `code`". A code longer than any merchant's (a PSP's merchant account name) names
  // no merchant: the event is well formed, and its merchant unknown. It was `rejected`
  // (validation_failed, "Too big: expected string to have <=15 characters").
  it('a merchant_code longer than any merchant code is an unknown merchant: ignored, not_found', async () => {
    const s: Shop = await shopOf(gw, testCard(7_310_001), [{ name: '10% back', goal: 'spend', award: { percent: 10 } }]);
    const p = await createProcessor(gw, s.biz);
    const before = (await walletOf(gw, s.biz.admin_key, s.contact_id)).commerce;
    for (const merchant_code of ['NO_SUCH_MERCHANT', 'MerchantAccount_ECOM_Europe_01']) {
      const data = { transaction_id: transactionId(), card: { number: s.card }, amount: 1000, currency: 'EUR', merchant_code };
      const res = await postCallback(gw, p, sale('transaction.cleared', data));
      expect(res.status, res.text).toBe(200);
      expect(res.body, merchant_code).toMatchObject({ status: 'ignored', code: 'not_found' });
      const refund = { transaction_id: transactionId('rfd'), original_transaction_id: data.transaction_id, amount: 100, currency: 'EUR', merchant_code };
      expect((await postCallback(gw, p, refunded(refund))).body, merchant_code).toMatchObject({ status: 'ignored', code: 'not_found' });
    }
    expect((await walletOf(gw, s.biz.admin_key, s.contact_id)).commerce).toBe(before);
  });
});
