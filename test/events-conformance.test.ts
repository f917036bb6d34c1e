// spec/EVENTS.md, sentence by sentence where the implementation once read it otherwise: each test
// quotes the words it holds the gateway to, and drives it only through the contract (signed
// callbacks over HTTP, webhooks to a real receiver on loopback).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signatureHeader } from '../core/signature.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { shop as shopOf, walletOf, type Shop } from './contract-util.ts';
import { createProcessor, postCallback, refunded, sale, transactionId } from './callback-helpers.ts';
import { addCashbackOffer, createContacts } from './ledger-helpers.ts';
import { startOwnStores, type OwnStores } from './own-stores.ts';
import { startReceiver, type Receiver } from './webhook-helpers.ts';

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

  // "`validation_failed` for a currency the business does not run" is `ignored`; `rejected` is
  // for a malformed event. Three capital letters name a currency, ISO 4217's or not ('ZZZ' was
  // `rejected`); anything else ('usd', 'EURO') is malformed.
  it('a currency the business does not run, ISO 4217 or not, is ignored (validation_failed); a malformed one rejected', async () => {
    const s: Shop = await shopOf(gw, testCard(7_310_002), [{ name: '10% back', goal: 'spend', award: { percent: 10 } }]);
    const p = await createProcessor(gw, s.biz);
    const before = (await walletOf(gw, s.biz.admin_key, s.contact_id)).commerce;
    const event = (currency: string) => sale('transaction.cleared', { transaction_id: transactionId(), card: { number: s.card }, amount: 1000, currency, merchant_code: s.biz.merchant_code });
    for (const currency of ['USD', 'ZZZ']) expect((await postCallback(gw, p, event(currency))).body, currency).toMatchObject({ status: 'ignored', code: 'validation_failed' });
    for (const currency of ['usd', 'EURO', '']) expect((await postCallback(gw, p, event(currency))).body, currency).toMatchObject({ status: 'rejected', code: 'validation_failed' });
    expect((await walletOf(gw, s.biz.admin_key, s.contact_id)).commerce).toBe(before);
  });

  // "Several `v1=` may appear (during a secret rotation); one valid is enough." A v1 that is not
  // 64 lower-case hex digits is one that is not valid, as a wrong digest is: the valid one beside
  // it is enough (Stripe's receivers compare each v1 and skip the rest). The whole header was
  // refused as malformed, 401 signature_invalid.
  it('several v1, one valid: enough, whatever the others hold', async () => {
    const s: Shop = await shopOf(gw, testCard(7_310_003), [{ name: '10% back', goal: 'spend', award: { percent: 10 } }]);
    const p = await createProcessor(gw, s.biz);
    for (const other of ['deadbeef', 'not-hex', 'A'.repeat(64), '', 'b'.repeat(65)]) {
      const text = JSON.stringify(sale('transaction.cleared', { transaction_id: transactionId(), card: { number: s.card }, amount: 1000, currency: 'EUR', merchant_code: s.biz.merchant_code }));
      const t = Math.floor(gw.processor.stores.clock.now() / 1000);
      const valid = signatureHeader([p.secret], t, text).split(',')[1]!;
      for (const signature of [`t=${t},v1=${other},${valid}`, `t=${t},${valid},v1=${other}`]) {
        const res = await postCallback(gw, p, text, { signature });
        expect(res.status, `${signature}: ${res.text}`).toBe(200);
        expect(res.body.status, signature).toBe('processed');
      }
    }
    // No v1 that verifies is still 401, and changes nothing.
    const before = (await walletOf(gw, s.biz.admin_key, s.contact_id)).commerce;
    const text = JSON.stringify(sale('transaction.cleared', { transaction_id: transactionId(), card: { number: s.card }, amount: 1000, currency: 'EUR', merchant_code: s.biz.merchant_code }));
    const t = Math.floor(gw.processor.stores.clock.now() / 1000);
    for (const signature of [`t=${t},v1=deadbeef`, `t=${t},v1=deadbeef,v1=${'c'.repeat(64)}`]) {
      const res = await postCallback(gw, p, text, { signature });
      expect(res.status, signature).toBe(401);
      expect(res.body.code).toBe('signature_invalid');
    }
    expect((await walletOf(gw, s.biz.admin_key, s.contact_id)).commerce).toBe(before);
  });
});

describe('webhooks out', () => {
  // Small, so that the schedule is seen in a test; the worker's idle poll (250 ms) is longer.
  const retry_base_ms = 100;
  let own: OwnStores;
  let gw: TestGateway;
  const receivers: Receiver[] = [];
  beforeAll(async () => {
    own = await startOwnStores('events_conformance');
    gw = await startTestGateway({ redis_url: own.redis.url, database_url: own.database_url, webhooks: { retry_base_ms, allow_private: true, worker: true } });
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all(receivers.map((r) => r.close()));
    await own?.stop();
  });

  async function shop(seed: number): Promise<{ biz: BusinessFixture; card: string }> {
    const biz = await createBusiness(gw);
    await addCashbackOffer(gw, biz, 5);
    const [contact] = await createContacts(gw, biz, [testCard(seed)]);
    return { biz, card: contact!.card };
  }

  // "Anything else is retried: attempt k (k = 2..8) waits `WEBHOOK_RETRY_BASE_MS` × 4^(k−2)
  // (default base 30000, ±20% jitter)". Attempt 2 came at the worker's next idle poll instead,
  // 250 ms after attempt 1 with a base of 100 ms (at most 120 ms allowed).
  it('attempt k waits base × 4^(k−2), ±20%: no longer', async () => {
    const { biz, card } = await shop(7_320_001);
    const r = await startReceiver((n) => (n < 3 ? 503 : 200));
    receivers.push(r);
    const w = await call(gw, 'POST', '/v1/webhooks', biz.admin_key, { url: r.url, events: ['transaction.approved'] });
    expect(w.status, w.text).toBe(201);
    const p = await call(gw, 'POST', '/v1/purchases', biz.terminal_key, { reference: 'retry-timing', cim: { type: 'card', value: card }, amount: 1000, currency: 'EUR' });
    expect(p.status, p.text).toBe(201);
    await eventually('four attempts', async () => r.received.length === 4, 15_000);
    // Between two attempts: the wait, plus the failed answer recorded and the next one sent (a
    // few ms on loopback; 50 ms of slack for a loaded machine).
    const slack_ms = 50;
    for (const k of [2, 3, 4]) {
      const gap = r.received[k - 1]!.at - r.received[k - 2]!.at;
      const nominal = retry_base_ms * 4 ** (k - 2);
      expect(gap, `attempt ${k}`).toBeGreaterThanOrEqual(0.8 * nominal - 5);
      expect(gap, `attempt ${k}`).toBeLessThanOrEqual(1.2 * nominal + slack_ms);
    }
  });
});
