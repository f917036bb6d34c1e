// detail-hint.lua against the test Redis (database 15), called through its definition
// (detail-hint.ts). What the hints mean to the POS path is contacts.ts's (test/postgres-down.test.ts).

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
    // Which of the two still has it only PostgreSQL knows: '*' stays.
    await redis.detailHintScript({ key, field, contact: b, mode: 'remove' });
    expect(await hinted(field)).toBe('*');
  });

  it('removes the hint only where it names the contact', async () => {
    const field = randomBytes(10);
    const [a, b] = [contactIdBytes(newId('con')), contactIdBytes(newId('con'))];
    await redis.detailHintScript({ key, field, contact: a, mode: 'add' });
    await redis.detailHintScript({ key, field, contact: b, mode: 'remove' });
    expect(await hinted(field)).toBe(a.toString('latin1'));
    await redis.detailHintScript({ key, field, contact: a, mode: 'remove' });
    expect(await hinted(field)).toBeNull();
    // Then another contact adds it: named, not '*'.
    await redis.detailHintScript({ key, field, contact: b, mode: 'add' });
    expect(await hinted(field)).toBe(b.toString('latin1'));
  });
});
