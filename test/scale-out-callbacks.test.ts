// Processor callbacks on two gateways sharing one Redis and one PostgreSQL (DESIGN.md scale-out):
// an event id is idempotent across processes too (EVENTS.md: "the same event id from the same
// processor gets the first result again, with `"replayed": true`, and changes nothing"), even
// when a processor's retries reach both gateways at once naming different transactions.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { shop as shopOf, walletOf } from './contract-util.ts';
import { createProcessor, eventId, postCallback, sale, transactionId } from './callback-helpers.ts';
import { eventClaimKey } from '../processor/hot/keys.ts';
import { event_claim_timing } from '../processor/event-claims.ts';

let a: TestGateway;
let b: TestGateway;

beforeAll(async () => {
  [a, b] = await Promise.all([startTestGateway(), startTestGateway()]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
});

describe('one event id on two gateways at once', () => {
  it('20 rounds of one event id naming two transactions, one post to each gateway: one purchase a round, the other its replay', async () => {
    const s = await shopOf(a, testCard(91_000_001), [{ name: '10% back', goal: 'spend', award: { percent: 10 } }]);
    const p = await createProcessor(a, s.biz);
    const data = (amount: number) => ({ transaction_id: transactionId(), card: { number: s.card }, amount, currency: 'EUR', merchant_code: s.biz.merchant_code });
    const rounds = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const id = eventId();
        return Promise.all([postCallback(a, p, sale('transaction.cleared', data(1000), id)), postCallback(b, p, sale('transaction.cleared', data(1000), id))]);
      }),
    );
    for (const [x, y] of rounds) {
      expect([x.status, y.status], `${x.text} ${y.text}`).toEqual([200, 200]);
      const first = [x, y].filter((r) => r.body.replayed === undefined);
      expect(first, `${x.text} ${y.text}`).toHaveLength(1);
      expect(first[0]!.body).toMatchObject({ status: 'processed' });
      for (const r of [x, y]) expect(r.body).toEqual({ ...first[0]!.body, ...(r === first[0] ? {} : { replayed: true }) });
    }
    // 20 purchases of 1000, 10% back each: one booked a round.
    expect((await walletOf(b, s.biz.admin_key, s.contact_id)).commerce).toBe(20 * 100);
  });

  it('a claim left by a process that died holding it: 503 until its lease runs out, then the retry is booked once', async () => {
    const s = await shopOf(a, testCard(91_000_002), [{ name: '10% back', goal: 'spend', award: { percent: 10 } }]);
    const p = await createProcessor(a, s.biz);
    const id = eventId();
    const event = sale('transaction.cleared', { transaction_id: transactionId(), card: { number: s.card }, amount: 1000, currency: 'EUR', merchant_code: s.biz.merchant_code }, id);
    const lease_left_ms = event_claim_timing.wait_ms + 600;
    await a.processor.stores.redis.set(eventClaimKey(s.biz.business_id, p.id, id), 'dead-holder', { expiration: { type: 'PX', value: lease_left_ms } });
    const started = performance.now();
    const waited = await postCallback(b, p, event);
    expect(waited.status, waited.text).toBe(503);
    expect(waited.body).toMatchObject({ code: 'unavailable' });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, lease_left_ms - (performance.now() - started)) + 50));
    const retried = await postCallback(a, p, event);
    expect(retried.body).toMatchObject({ event_id: id, status: 'processed' });
    expect(retried.body.replayed).toBeUndefined();
    expect((await postCallback(b, p, event)).body).toEqual({ ...retried.body, replayed: true });
    expect((await walletOf(b, s.biz.admin_key, s.contact_id)).commerce).toBe(100);
  }, 20_000);

  it('award_on authorization, an authorization on one gateway and its lower clearing on the other at once: either order as EVENTS.md says, never another code', async () => {
    const s = await shopOf(a, testCard(91_000_003), [{ name: '10% back', goal: 'spend', award: { percent: 10 } }]);
    const p = await createProcessor(a, s.biz, 'authorization');
    const data = (transaction_id: string, amount: number) => ({ transaction_id, card: { number: s.card }, amount, currency: 'EUR', merchant_code: s.biz.merchant_code });
    const rounds = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const t = transactionId();
        return Promise.all([postCallback(a, p, sale('transaction.authorized', data(t, 1000))), postCallback(b, p, sale('transaction.cleared', data(t, 800)))]);
      }),
    );
    for (const [authorized, cleared] of rounds) {
      // Authorization first: its purchase of 1000, the clearing refunds 200. Clearing first: its
      // purchase of 800, the authorization after it is ignored (already_processed, README).
      expect(cleared.body, cleared.text).toMatchObject({ status: 'processed' });
      if (authorized.body.status !== 'processed') expect(authorized.body, authorized.text).toMatchObject({ status: 'ignored', code: 'already_processed' });
    }
    // 800 bought a round, 10% back, in either order.
    expect((await walletOf(b, s.biz.admin_key, s.contact_id)).commerce).toBe(20 * 80);
  });
});
