// On a real Redis (a spec database, a key of this file's own).

import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { specRedisForFile } from '../hot/script-spec.ts';
import type { RedisClient } from '../stores.ts';
import { streamGroup } from './stream-group.ts';

let redis: RedisClient;
specRedisForFile(15, (r) => (redis = r));

it('finds a group by name among others, with its fields; undefined for a name it does not have', async () => {
  const key = `spec-stream-group:${randomUUID()}`;
  try {
    await redis.sendCommand(['XGROUP', 'CREATE', key, 'other', '0', 'MKSTREAM']);
    await redis.sendCommand(['XGROUP', 'CREATE', key, 'ledger', '$']);
    expect(await streamGroup(redis, key, 'ledger')).toMatchObject({ name: 'ledger', consumers: 0, pending: 0 });
    expect(await streamGroup(redis, key, 'rebuild-meanwhile')).toBeUndefined();
  } finally {
    await redis.del(key);
  }
});
