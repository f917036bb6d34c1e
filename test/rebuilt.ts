// The test Redis rebuilt from the test database as `npm run rebuild` does for a Redis that lost
// its data: for tests that compare what a contact holds before and after (npm test empties both
// stores before each file).

import { expect } from 'vitest';
import { journalMarks, waitForLedger } from '../processor/ledger/caught-up.ts';
import { rebuild } from '../processor/ledger/rebuild.ts';
import { connectPostgres, connectRedis } from '../processor/stores.ts';
import type { TestGateway } from './helpers.ts';

/** The gateway's journal drained into the ledger, the gateway closed, Redis emptied and rebuilt without warnings. Start a gateway again after it. */
export async function rebuildTestRedis(gw: TestGateway): Promise<void> {
  const { redis, config } = gw.processor.stores;
  expect(await waitForLedger(redis, await journalMarks(redis, config.shard_count), 30_000)).toBe(true);
  await gw.close();
  const client = await connectRedis(process.env.REDIS_URL!);
  const db = connectPostgres(process.env.DATABASE_URL!, 2);
  try {
    await client.flushAll();
    const r = await rebuild(client, db, config, { force: false, wait_ms: 30_000, now_ms: Date.now() });
    expect(r).toMatchObject({ outcome: 'rebuilt', warnings: [] });
  } finally {
    await client.quit();
    await db.end({ timeout: 5 });
  }
}
