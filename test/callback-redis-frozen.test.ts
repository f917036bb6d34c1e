// OPERATIONS.md: "When Redis is back, the gateway serves again without a restart". A callback
// whose event claim (processor/event-claims.ts, a 15 s lease) went out to a Redis that froze then
// (SIGSTOP) was answered 503, and Redis took the claim when it woke, for a holder long gone: every
// retry of that event waited 5 s for it and got 503 again, until the lease ran out 15 s after Redis
// was back (a black-box probe under load, 2026-12-05). Now a claim whose answer was lost is given
// back once Redis answers again.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProcessor, postCallback, sale, transactionId, type ProcessorFixture } from './callback-helpers.ts';
import { call, createBusiness, eventually, startTestGateway, testCard, type BusinessFixture, type TestGateway } from './helpers.ts';
import { createContacts, type Contact } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
let gw: TestGateway;
let biz: BusinessFixture;
let contact: Contact;
let processor: ProcessorFixture;
let frozen = false;

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ redis_url: own.url });
  biz = await createBusiness(gw);
  contact = (await createContacts(gw, biz, [testCard(931_001)]))[0]!;
  processor = await createProcessor(gw, biz);
});
afterAll(async () => {
  if (frozen) process.kill(own.pid, 'SIGCONT');
  await gw?.close();
  await own?.stop();
});

const cleared = () => sale('transaction.cleared', { transaction_id: transactionId(), card: { number: contact.card }, amount: 1_000, currency: 'EUR', merchant_code: biz.merchant_code });

describe('a callback whose event claim met a Redis that froze', () => {
  it('is applied by its retry as soon as Redis answers again, not once the orphaned lease runs out', async () => {
    // Warm: the processor, the business and the terminal read, so that the next event's first
    // Redis command is its claim.
    const warm = await postCallback(gw, processor, cleared());
    expect([warm.status, warm.body.status], warm.text).toEqual([200, 'processed']);

    const event = cleared();
    process.kill(own.pid, 'SIGSTOP');
    frozen = true;
    const first = await postCallback(gw, processor, event);
    expect([first.status, first.body.code], first.text).toEqual([503, 'unavailable']);
    process.kill(own.pid, 'SIGCONT');
    frozen = false;
    const thawed_at = performance.now();
    await eventually('Redis serves again', async () => (await call(gw, 'GET', '/readyz', undefined)).status === 200);

    const applied = await eventually('the retry applied', async () => {
      const retry = await postCallback(gw, processor, event);
      return retry.status === 200 ? retry : undefined;
    }, 30_000);
    expect([applied.body.status, applied.body.replayed], applied.text).toEqual(['processed', undefined]);
    // The lease the frozen Redis took runs 15 s: its retry came well before.
    expect(performance.now() - thawed_at).toBeLessThan(8_000);
  }, 60_000);
});
