// claim.lua against the test Redis (database 15), called through its definition (claim.ts).
// What claims mean to requests (conflicts, reversal marks) is references.test.ts's.

import { describe, expect, it } from 'vitest';
import type { RedisClient } from '../stores.ts';
import type { ClaimCall } from './claim.ts';
import { specRedisForFile, specSlot } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(15, (r) => (redis = r));

/** The claim the script answers (bytes: a claim's hash is not text), as text for these checks. */
async function claimed(call: ClaimCall): Promise<string | null> {
  const found = await redis.claimScript(call);
  if (found !== null) expect(Buffer.isBuffer(found)).toBe(true);
  return found?.toString('latin1') ?? null;
}

describe('claim.lua', () => {
  it('claims a free reference in this period, with the hash’s expiry, and answers the claim it finds after', async () => {
    const { slot } = specSlot('ter_claim_spec');
    expect(await claimed({ slot, value: 'first', mode: 'read' })).toBeNull();
    // A read claims nothing: no field of its own in the bucket (which other specs of database 15
    // may share in this period: HLEN counted theirs, the fresh clone's run at 06:15).
    expect(await redis.sendCommand(['HEXISTS', slot.claim_keys[0]!, slot.field])).toBe(0);
    expect(await claimed({ slot, value: 'first', mode: 'claim' })).toBeNull();
    expect(await claimed({ slot, value: 'second', mode: 'claim' })).toBe('first');
    expect(await claimed({ slot, value: '', mode: 'read' })).toBe('first');
    const ttl = Number(await redis.sendCommand(['PTTL', slot.claim_keys[0]!]));
    expect(ttl).toBeGreaterThan(slot.ttl_ms - 60_000);
    expect(ttl).toBeLessThanOrEqual(slot.ttl_ms);
  });

  it('finds a claim made in one of the two periods before', async () => {
    const { slot } = specSlot('ter_claim_spec');
    await redis.sendCommand(['HSET', slot.claim_keys[2]!, slot.field, 'older']);
    expect(await claimed({ slot, value: 'new', mode: 'claim' })).toBe('older');
    expect(await redis.sendCommand(['HEXISTS', slot.claim_keys[0]!, slot.field])).toBe(0);
  });

  it('keeps the claim hash of the request a reversal mark names, once, where the mark is; a mark or a read adds nothing', async () => {
    const { slot } = specSlot('ter_claim_spec');
    const mark = '!REVERSAL01'; // '!' and a reversal's 10-character claim hash (processor/claim.ts)
    await redis.sendCommand(['HSET', slot.claim_keys[1]!, slot.field, mark]);
    expect(await claimed({ slot, value: '!ANOTHERREV', mode: 'claim' })).toBe(mark);
    expect(await claimed({ slot, value: 'LATEHASH01', mode: 'read' })).toBe(mark);
    expect(await claimed({ slot, value: 'LATEHASH01contact12byt', mode: 'claim' })).toBe(mark);
    expect(await claimed({ slot, value: 'OTHERHASH1contact12byt', mode: 'claim' })).toBe(`${mark}LATEHASH01`);
    expect(await redis.sendCommand(['HGET', slot.claim_keys[1]!, slot.field])).toBe(`${mark}LATEHASH01`);
    expect(await redis.sendCommand(['HEXISTS', slot.claim_keys[0]!, slot.field])).toBe(0);
  });
});
