// OPERATIONS.md: /readyz's `ledger_lag` is "counted, not estimated". With Redis gone the gateway
// answers the last count; it counts every second, so that count is of at most a second before
// Redis went, not of the last /readyz (an operations audit, 2026-12-04: 0 answered with 5 entries
// waiting). Its own file: a gateway left serving with its Redis gone for the whole of another
// test's run took over 60 s to close once in CI.

import { describe, expect, it } from 'vitest';
import { journalBacklog } from '../processor/ledger/writer.ts';
import { call, createBusiness, startTestGateway, testCard } from './helpers.ts';
import { addCashbackOffer, createContacts } from './ledger-helpers.ts';
import { startOwnRedis } from './own-redis.ts';

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
