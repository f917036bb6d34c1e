// OPERATIONS.md: /readyz answers `{"redis", "postgres", "ledger_lag": N}`, the lag "counted, not
// estimated". With Redis gone the journal cannot be read, so the gateway answers the last count;
// a gateway whose Redis went away before anyone asked /readyz had no count and answered null.
// It counts once as it starts, so the lag is a number from the first answer on; and every second
// after, so the count a Redis gone leaves is not the one of the last /readyz (an operations audit,
// 2026-12-04: 0 answered with 5 entries waiting).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalBacklog } from '../processor/ledger/writer.ts';
import { call, createBusiness, startTestGateway, testCard, type TestGateway } from './helpers.ts';
import { addCashbackOffer, createContacts } from './ledger-helpers.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

let own: OwnRedis;
let gw: TestGateway;

beforeAll(async () => {
  own = await startOwnRedis();
  gw = await startTestGateway({ redis_url: own.url });
});
afterAll(async () => {
  await gw.close();
  await own.stop();
});

describe('/readyz before it was ever asked', () => {
  it('answers the lag as a count when Redis is gone before the first /readyz', async () => {
    await own.stop();
    const ready = await call(gw, 'GET', '/readyz', undefined);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ redis: 'down' });
    expect(Number.isInteger(ready.body.ledger_lag), JSON.stringify(ready.body)).toBe(true);
  }, 30_000);
});

describe('/readyz after Redis went away', () => {
  it('answers the entries the journal held a second before, not the count of the last /readyz', async () => {
    const redis = await startOwnRedis();
    // No writer: what is journaled stays in the journal.
    const g = await startTestGateway({ redis_url: redis.url, ledger_writer: false });
    try {
      const biz = await createBusiness(g);
      await addCashbackOffer(g, biz);
      const [c] = await createContacts(g, biz, [testCard(62_000_001)]);
      expect((await call(g, 'GET', '/readyz', undefined)).body.ledger_lag).toBe(0);
      for (let i = 0; i < 3; i++) {
        const p = await call(g, 'POST', '/v1/purchases', biz.terminal_key, { reference: `lag-${i}`, cim: { type: 'card', value: c!.card }, amount: 1_000, currency: 'EUR' });
        expect(p.status, p.text).toBe(201);
      }
      const waiting = await journalBacklog(g.processor.stores.redis, g.processor.stores.config.shard_count);
      expect(waiting).toBeGreaterThanOrEqual(3);
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      await redis.stop();
      const ready = await call(g, 'GET', '/readyz', undefined);
      expect(ready.body).toMatchObject({ redis: 'down', ledger_lag: waiting });
    } finally {
      await g.close();
      await redis.stop();
    }
  }, 60_000);
});
