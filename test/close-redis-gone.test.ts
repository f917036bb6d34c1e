// A gateway closes (SIGTERM, a test's afterAll) even when its Redis has been gone for a while:
// node-redis's close() waits for the reply to every command in its queue, and with Redis stopped
// 12 s before it waited for ever (CI at fc12b47: an afterAll timed out at 60 s). The close now
// drops the connection after redis_close_timeout_ms (processor/stores.ts closeRedis).

import { expect, it } from 'vitest';
import { redis_close_timeout_ms } from '../processor/stores.ts';
import { call, startTestGateway } from './helpers.ts';
import { startOwnRedis } from './own-redis.ts';

it('a gateway whose Redis has been gone 12 s closes within seconds', async () => {
  const own = await startOwnRedis();
  const gw = await startTestGateway({ redis_url: own.url });
  await own.stop();
  expect((await call(gw, 'GET', '/readyz', undefined)).status).toBe(503);
  await new Promise((resolve) => setTimeout(resolve, 12_000));
  const started_ms = Date.now();
  await gw.close();
  // Bounded by the close's own deadline, with room for a loaded machine; it never ended before.
  expect(Date.now() - started_ms).toBeLessThan(redis_close_timeout_ms + 20_000);
}, 60_000);
