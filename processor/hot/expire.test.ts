// expire.lua against the test Redis (database 13, shard 205), called through its definition
// (expire.ts) without the gateway.

import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import { transactionAccounts } from '../journal.ts';
import type { RedisClient } from '../stores.ts';
import { expiryTemplates } from '../templates.ts';
import { expire_lots_max, type ExpireCall } from './expire.ts';
import { contactKey, expired_lots_kept_ms, expiredLotsKey, expiryKey, lotsKey } from './keys.ts';
import { referenceSlot } from './references.ts';
import { balancesOf, expectRecorded, journalLength, journalOf, spec_config, specBusiness, specContact, specRedisForFile } from './script-spec.ts';

const shard = 205;
const business = specBusiness();
const now = Date.now();
const past = `${String(now - 1_000).padStart(13, '0')}|`;
const older = `${String(now - 2_000).padStart(13, '0')}|M1`;
const next = now + 86_400_000;
let redis: RedisClient;

specRedisForFile(13, (r) => (redis = r));

function call(contact_id: string, lots_max = expire_lots_max, n = 0): ExpireCall {
  const id = newId('txn');
  const reference = `expiry:${contact_id}:${now}:${n}`;
  const { reply, entry } = expiryTemplates({ id, business_id: business.id, contact_id, currency: 'EUR', now_ms: now, reference });
  return {
    business_id: business.id, slot: referenceSlot(spec_config, '_rewards', reference, now), contact_id, shard, id, now_ms: now, journal_length_max: 1_000_000, reply, entry,
    accounts: transactionAccounts(business, null, contact_id),
    lots_max,
    expired_kept_ms: expired_lots_kept_ms,
  };
}

describe('expire.lua', () => {
  it('expires the lots past their expiry back to the rewards account; the index names the next expiry', async () => {
    const contact_id = await specContact(redis, shard, business, 0, { [past]: 30, [older]: 20, [`${next}|`]: 50, '9999999999999|': 5 });
    await redis.zAdd(expiryKey(shard), { score: now - 2_000, value: contact_id });
    const c = call(contact_id);
    const out = await redis.expireScript(c);
    if (out.outcome !== 'ok') throw new Error(out.outcome);
    const { entry, reply } = await journalOf(redis, shard, out.journal_id);
    expect(reply).toMatchObject({ kind: 'expiry', expired: 50, wallet: { open: 0, commerce: 55 } });
    expect(entry).toMatchObject({ kind: 'expiry', terminal_id: null, amount: 50, postings: [[c.accounts.commerce, c.accounts.rewards, 50]] });
    await expectRecorded(redis, shard, c.slot, c.id, out.journal_id, 'x|50');
    expect(await redis.hGetAll(lotsKey(shard, contact_id))).toEqual({ [`${next}|`]: '50', '9999999999999|': '5' });
    expect(await redis.zScore(expiryKey(shard), contact_id)).toBe(next);
  });

  it('remembers what expired of each lot, for the claw-backs of its purchases, and drops what is past expired_kept_ms as it grows', async () => {
    const forgotten = `${String(now - expired_lots_kept_ms - 1).padStart(13, '0')}|`;
    const kept = `${String(now - expired_lots_kept_ms + 60_000).padStart(13, '0')}|P`;
    const contact_id = await specContact(redis, shard, business, 0, { [past]: 30, [older]: 20, [`${next}|`]: 50 });
    // 61 fields, 2 more make 63: no 64th, so nothing is dropped yet.
    const filler = Object.fromEntries(Array.from({ length: 58 }, (_, i) => [`${String(now - 86_400_000 - i).padStart(13, '0')}|`, '1']));
    await redis.hSet(expiredLotsKey(shard, contact_id), { ...filler, [forgotten]: '7', [kept]: '8', [past]: '4' });
    expect((await redis.expireScript(call(contact_id))).outcome).toBe('ok');
    expect(await redis.hmGet(expiredLotsKey(shard, contact_id), [past, older, kept, forgotten])).toEqual(['34', '20', '8', '7']);
    expect(await redis.hLen(expiredLotsKey(shard, contact_id))).toBe(62);
    // Two more lots expire: past 64 fields, the one expired longer ago than expired_kept_ms goes.
    const due = (ms: number) => `${String(ms).padStart(13, '0')}|Q`;
    await redis.hSet(lotsKey(shard, contact_id), { [due(now - 5)]: '3', [due(now - 6)]: '3' });
    await redis.hIncrBy(contactKey(shard, contact_id), 'm', 6);
    expect((await redis.expireScript(call(contact_id, expire_lots_max, 1))).outcome).toBe('ok');
    expect(await redis.hmGet(expiredLotsKey(shard, contact_id), [kept, forgotten, due(now - 5)])).toEqual(['8', null, '3']);
    expect(await redis.hLen(expiredLotsKey(shard, contact_id))).toBe(63);
    const ttl_ms = await redis.pTTL(expiredLotsKey(shard, contact_id));
    expect(ttl_ms).toBeGreaterThan(expired_lots_kept_ms - 60_000);
    expect(ttl_ms).toBeLessThanOrEqual(expired_lots_kept_ms);
  });

  it('is empty when nothing has expired, and drops a contact with no expiring lot from the index', async () => {
    const contact_id = await specContact(redis, shard, business, 0, { '9999999999999|': 5 });
    await redis.zAdd(expiryKey(shard), { score: now - 1, value: contact_id });
    const length = await journalLength(redis, shard);
    expect(await redis.expireScript(call(contact_id))).toEqual({ outcome: 'empty' });
    expect(await redis.zScore(expiryKey(shard), contact_id)).toBeNull();
    expect(await journalLength(redis, shard)).toBe(length);
    expect(await balancesOf(redis, shard, contact_id)).toEqual({ open: 0, commerce: 5 });
    expect(await redis.exists(expiredLotsKey(shard, contact_id))).toBe(0);
  });
});
