// A Redis rebuilt from its database as `npm run rebuild` does for a Redis that lost its data: for
// tests that compare what a contact holds before and after. On stores of the test's own
// (test/own-stores.ts): the rebuild empties Redis and reads every contact, which other test
// files, running at the same time on the shared test stores, must not see or be seen in.

import { expect } from 'vitest';
import { journalMarks, waitForLedger } from '../processor/ledger/caught-up.ts';
import { rebuild } from '../processor/ledger/rebuild.ts';
import type { GatewayConfig } from '../gateway/config.ts';
import { startTestGateway, type TestGateway } from './helpers.ts';
import type { OwnStores } from './own-stores.ts';

/** A gateway on the test's own stores. */
export function startOnOwnStores(stores: OwnStores, overrides: Partial<GatewayConfig> = {}): Promise<TestGateway> {
  return startTestGateway({ redis_url: stores.redis.url, database_url: stores.database_url, ...overrides });
}

/**
 * The gateway's journal drained into the ledger, the gateway closed, Redis emptied and rebuilt
 * without warnings, and a gateway started again on it (answered).
 */
export async function rebuiltGateway(gw: TestGateway, stores: OwnStores, overrides: Partial<GatewayConfig> = {}): Promise<TestGateway> {
  const { redis, config } = gw.processor.stores;
  expect(await waitForLedger(redis, await journalMarks(redis, config.shard_count), 30_000)).toBe(true);
  await gw.close();
  await stores.redis.client.flushAll();
  const r = await rebuild(stores.redis.client, stores.sql, config, { force: false, wait_ms: 30_000, now_ms: Date.now() });
  expect(r).toMatchObject({ outcome: 'rebuilt', warnings: [] });
  return startOnOwnStores(stores, overrides);
}
