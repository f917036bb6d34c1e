// detail-hint.lua against the test Redis (database 15), called through its definition
// (detail-hint.ts). What the hints mean to the POS path is detail-hints.ts's
// (test/postgres-down.test.ts, test/rebuild-detail-hints.test.ts).

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contactIdBytes, newId } from '../../core/ids.ts';
import type { RedisClient } from '../stores.ts';
import { specRedisForFile } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(15, (r) => (redis = r));

const key = 'i:spec-detail-hint';

async function hinted(field: Buffer): Promise<string | null> {
  const value = (await redis.sendCommand(['HGET', key, field], { typeMapping: { 36: Buffer } })) as Buffer | null;
  return value === null ? null : value.toString('latin1');
}

describe('detail-hint.lua', () => {
  it('names the first contact that adds the detail, "*" once another adds it; the same contact again changes nothing', async () => {
    const field = randomBytes(10);
    const [a, b] = [contactIdBytes(newId('con')), contactIdBytes(newId('con'))];
    expect(await redis.detailHintScript({ key, field, contact: a, mode: 'add' })).toBeNull();
    expect(await hinted(field)).toBe(a.toString('latin1'));
    await redis.detailHintScript({ key, field, contact: a, mode: 'add' });
    expect(await hinted(field)).toBe(a.toString('latin1'));
    await redis.detailHintScript({ key, field, contact: b, mode: 'add' });
    expect(await hinted(field)).toBe('*');
    await redis.detailHintScript({ key, field, contact: a, mode: 'add' });
    expect(await hinted(field)).toBe('*');
  });

  it('"several" makes it "*" whatever it held, and nothing names a contact after', async () => {
    const [named, unnamed] = [randomBytes(10), randomBytes(10)];
    const a = contactIdBytes(newId('con'));
    await redis.detailHintScript({ key, field: named, contact: a, mode: 'add' });
    for (const field of [named, unnamed]) {
      await redis.detailHintScript({ key, field, contact: Buffer.alloc(0), mode: 'several' });
      expect(await hinted(field)).toBe('*');
      await redis.detailHintScript({ key, field, contact: a, mode: 'add' });
      expect(await hinted(field)).toBe('*');
    }
  });
});
