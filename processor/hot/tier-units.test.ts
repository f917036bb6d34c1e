// tier-units.lua against the test Redis (database 13, shard 210), called through its definition
// (tier-units.ts).

import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import type { RedisClient } from '../stores.ts';
import { contactKey, deferredUndosKey } from './keys.ts';
import { specRedisForFile } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(13, (r) => (redis = r));

const shard = 210;

async function contact(fields: Record<string, string>): Promise<string> {
  const id = newId('con');
  await redis.hSet(contactKey(shard, id), { b: 'bus_spec', o: '0', ...fields });
  return id;
}

describe('tier-units.lua', () => {
  it('sets and takes off the units fields given, leaving the others', async () => {
    const id = await contact({ fp: '3', um: '2026-11|500|0', uq: '2026-4|1|0' });
    const units = [{ field: 'um', value: '2026-12|3000|700' }, { field: 'uy', value: '2026|3700|0' }, { field: 'uq', value: '' }];
    expect(await redis.tierUnitsScript({ shard, contact_id: id, purchases: '3', reversals: '', pending: [], units })).toBe('ok');
    expect(await redis.hGetAll(contactKey(shard, id))).toEqual({ b: 'bus_spec', o: '0', fp: '3', um: '2026-12|3000|700', uy: '2026|3700|0' });
  });

  it('changes nothing when a purchase or reversal came since the counts were read: stale', async () => {
    const id = await contact({ fp: '2', rv: '1', um: '2026-12|10|0' });
    const call = { shard, contact_id: id, pending: [], units: [{ field: 'um', value: '2026-12|99|0' }] };
    expect(await redis.tierUnitsScript({ ...call, purchases: '1', reversals: '1' })).toBe('stale');
    expect(await redis.tierUnitsScript({ ...call, purchases: '2', reversals: '' })).toBe('stale');
    expect(await redis.hGet(contactKey(shard, id), 'um')).toBe('2026-12|10|0');
    expect(await redis.tierUnitsScript({ ...call, purchases: '2', reversals: '1' })).toBe('ok');
    expect(await redis.hGet(contactKey(shard, id), 'um')).toBe('2026-12|99|0');
  });

  it('leaves a contact Redis does not hold (no business field) as it is: no hash made', async () => {
    const id = newId('con');
    expect(await redis.tierUnitsScript({ shard, contact_id: id, purchases: '', reversals: '', pending: [], units: [{ field: 'um', value: '2026-12|1|0' }] })).toBe('ok');
    expect(await redis.exists(contactKey(shard, id))).toBe(0);
  });

  it('with reversals counted as not yet given back: stale once one of their deferrals is gone (undo.lua gave it back), else set', async () => {
    const id = await contact({ fp: '1', rv: '1', um: '2026-12|10|0' });
    await redis.hSet(deferredUndosKey(shard), { txn_rv_a: '{}', txn_rv_b: '{}' });
    const call = { shard, contact_id: id, purchases: '1', reversals: '1', units: [{ field: 'um', value: '2026-12|50|0' }] };
    expect(await redis.tierUnitsScript({ ...call, pending: [{ reversal: 'txn_rv_a' }, { reversal: 'txn_rv_gone' }] })).toBe('stale');
    expect(await redis.hGet(contactKey(shard, id), 'um')).toBe('2026-12|10|0');
    expect(await redis.tierUnitsScript({ ...call, pending: [{ reversal: 'txn_rv_a' }, { reversal: 'txn_rv_b' }] })).toBe('ok');
    expect(await redis.hGet(contactKey(shard, id), 'um')).toBe('2026-12|50|0');
    await redis.hDel(deferredUndosKey(shard), ['txn_rv_a', 'txn_rv_b']);
  });
});
