// The hot window's reference layout against the test Redis (a database of its own: redis_dbs):
// the claim script, the period arithmetic, the record format and what a transaction costs.

import { RESP_TYPES } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { claimForReversal, claimedBy, claimReference, findOriginal } from '../claim.ts';
import { newId } from '../../core/ids.ts';
import { connectTestRedis, redis_dbs } from '../../test/ledger-helpers.ts';
import type { RedisClient, Stores } from '../stores.ts';
import type { Refusal } from '../refusals.ts';
import { journalKey } from './keys.ts';
import { parseRecord, referenceSlot } from './references.ts';

let redis: RedisClient;
let stores: Stores;
const config = { cim_hmac_key: 'references-test', reply_ttl_seconds: 48 * 3_600, shard_count: 16, reference_buckets: 64, journal_length_max: 1_000 };
let run = 0;

beforeAll(async () => {
  redis = await connectTestRedis(redis_dbs.hot_references);
  await redis.flushDb();
  stores = { redis, sql: undefined as never, config, clock: { now: () => Date.now() } };
});
afterAll(async () => {
  await redis.quit();
});

const business_id = 'biz_references';
const terminal = () => `ter_references_${++run}_${Date.now()}`;
const [con_A, con_B, con_C, con_D, con_E, con_F] = ['A', 'B', 'C', 'D', 'E', 'F'].map(() => newId('con')) as [string, string, string, string, string, string];

describe('reference slots', () => {
  it('are stable, spread over the buckets, and name 12 bytes of field', () => {
    const now = Date.UTC(2026, 10, 30, 12);
    const t = terminal();
    const a = referenceSlot(config, t, 'r-1', now);
    expect(referenceSlot(config, t, 'r-1', now)).toMatchObject({ claim_keys: a.claim_keys, field: a.field });
    expect(a.field.length).toBe(12);
    expect(referenceSlot(config, t, 'r-2', now).field.equals(a.field)).toBe(false);
    expect(referenceSlot(config, 'ter_other', 'r-1', now).field.equals(a.field)).toBe(false);
    const buckets = new Set(Array.from({ length: 2_000 }, (_, i) => referenceSlot(config, t, `r-${i}`, now).claim_keys[0]!.split(':')[1]));
    expect(buckets.size).toBe(64);
  });

  it('look up this period and the two before, and live at least a window and at most one and a half', () => {
    fc.assert(
      fc.property(fc.integer({ min: 60, max: 90 * 86_400 }), fc.integer({ min: 0, max: 4_000_000_000_000 }), (window_s, now) => {
        const slot = referenceSlot({ ...config, reply_ttl_seconds: window_s }, 'ter_x', 'r', now);
        const periods = slot.claim_keys.map((k) => Number(k.split(':')[2]));
        expect(periods[1]).toBe(periods[0]! - 1);
        expect(periods[2]).toBe(periods[0]! - 2);
        // A hash written now expires no sooner than a window from now...
        expect(slot.ttl_ms).toBeGreaterThanOrEqual(window_s * 1000);
        // ...and no later than one and a half windows (plus rounding).
        expect(slot.ttl_ms).toBeLessThanOrEqual(window_s * 1500 + 1);
        // A reference written in the oldest period looked up is still young enough to matter:
        // the period before it began more than a window ago.
        const period_ms = Math.ceil((window_s * 1000) / 2);
        expect(now - (periods[2]! * period_ms)).toBeLessThan(3 * period_ms);
      }),
    );
  });
});

describe('claim.lua', () => {
  it('claims once: the same request finds its own claim, another body is a conflict, a reversal mark refuses', async () => {
    const t = terminal();
    const slot = referenceSlot(config, t, 'ref', Date.now());
    expect(await claimReference(stores, { business_id, slot, hash: 'hash-aaaaaaaaaaaa' }, con_A)).toBe(con_A);
    // The same request again (a retry): bound to the contact it named first.
    expect(await claimReference(stores, { business_id, slot, hash: 'hash-aaaaaaaaaaaa' }, con_B)).toBe(con_A);
    await expect(claimReference(stores, { business_id, slot, hash: 'hash-bbbbbbbbbbbb' }, con_A)).rejects.toMatchObject({ code: 'idempotency_conflict' });
    expect(await claimedBy(stores, slot, 'hash-aaaaaaaaaaaa')).toBe(con_A);
    expect(await claimedBy(stores, slot, 'hash-bbbbbbbbbbbb')).toBeUndefined();
    expect(await findOriginal(stores, slot)).toEqual({ contact_id: con_A });

    const late = referenceSlot(config, t, 'late', Date.now());
    expect(await claimForReversal(stores, late, 'rev-hash-111111')).toBe('remembered');
    expect(await claimForReversal(stores, late, 'rev-hash-111111')).toBe('remembered');
    expect(await claimForReversal(stores, late, 'rev-hash-222222')).toBe('remembered');
    expect(await findOriginal(stores, late)).toBeUndefined();
    await expect(claimReference(stores, { business_id, slot: late, hash: 'hash-cccccccccccc' }, con_A)).rejects.toMatchObject({ code: 'already_reversed', replayed: false });
    // Its repeat is told apart (claim.lua keeps its claim hash after the mark), another body is 409.
    await expect(claimReference(stores, { business_id, slot: late, hash: 'hash-cccccccccccc' }, con_A)).rejects.toMatchObject({ code: 'already_reversed', replayed: true });
    await expect(claimReference(stores, { business_id, slot: late, hash: 'hash-dddddddddddd' }, con_A)).rejects.toMatchObject({ code: 'idempotency_conflict' });
    // Both refusals journaled for the ledger (so that rebuild remembers the late one), the repeat's as such; no contact named.
    const journaled = (await redis.xRange(journalKey(late.field[0]! % config.shard_count), '-', '+')) ?? [];
    const refusals = journaled.map((e) => JSON.parse(e.message.x!) as Refusal).filter((r) => r.terminal_id === t && r.reference === 'late');
    expect(refusals).toMatchObject([
      { code: 'already_reversed', business_id, request_hash: 'hash-ccccc', contact_id: '' },
      { code: 'already_reversed', business_id, request_hash: 'hash-ccccc', contact_id: '', repeat: true },
    ]);
    expect(refusals[0]!.repeat).toBeUndefined();
    expect(await claimForReversal(stores, slot, 'rev-hash-333333')).toBe('arrived');
  });

  it('keeps the contact as its 12 bytes (22 bytes a claim), and still reads a claim written with its 20 characters', async () => {
    const t = terminal();
    const slot = referenceSlot(config, t, 'packed', Date.now());
    expect(await claimReference(stores, { business_id, slot, hash: 'hash-gggggggggggg' }, con_A)).toBe(con_A);
    const stored = (await redis.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).hGet(slot.claim_keys[0]!, slot.field)) as unknown as Buffer;
    expect(stored.length).toBe(22);
    expect(stored.subarray(0, 10).toString()).toBe('hash-ggggg');
    // Written by the code before this one: '<hash><id without con_>'.
    const old = referenceSlot(config, t, 'text', Date.now());
    await redis.hSet(old.claim_keys[1]!, old.field, `hash-hhhhh${con_B.slice(4)}`);
    expect(await findOriginal(stores, old)).toEqual({ contact_id: con_B });
    expect(await claimedBy(stores, old, 'hash-hhhhhhhhhhhh')).toBe(con_B);
    expect(await claimReference(stores, { business_id, slot: old, hash: 'hash-hhhhhhhhhhhh' }, con_C)).toBe(con_B);
    await expect(claimReference(stores, { business_id, slot: old, hash: 'hash-iiiiiiiiiiii' }, con_B)).rejects.toMatchObject({ code: 'idempotency_conflict' });
  });

  it('finds a claim made one and two periods ago, not three', async () => {
    const window_s = 60;
    const c = { ...config, reply_ttl_seconds: window_s };
    const s = { ...stores, config: c };
    const t = terminal();
    const start = Date.now();
    const period_ms = 30_000;
    await claimReference(s, { business_id, slot: referenceSlot(c, t, 'old', start), hash: 'hash-dddddddddddd' }, con_D);
    expect(await findOriginal(s, referenceSlot(c, t, 'old', start + period_ms))).toBeDefined();
    expect(await findOriginal(s, referenceSlot(c, t, 'old', start + 2 * period_ms))).toBeDefined();
    expect(await findOriginal(s, referenceSlot(c, t, 'old', start + 3 * period_ms))).toBeUndefined();
  });

  it('a hash expires one window after its period, set once by its first entry', async () => {
    const slot = referenceSlot(config, terminal(), 'ttl', Date.now());
    await claimReference(stores, { business_id, slot, hash: 'hash-eeeeeeeeeeee' }, con_E);
    const ttl = Number(await redis.sendCommand(['PTTL', slot.claim_keys[0]!]));
    expect(ttl).toBeGreaterThan(config.reply_ttl_seconds * 1000 - 5_000);
    expect(ttl).toBeLessThanOrEqual(config.reply_ttl_seconds * 1500);
  });

  it('costs under 44 bytes of Redis memory per claim', async () => {
    // 20,000 claims into 64 buckets of one period: ~312 a bucket, each still one listpack.
    const c = { ...config, reply_ttl_seconds: 3_600 };
    const s = { ...stores, config: c };
    const t = terminal();
    const now = Date.now();
    const slots = Array.from({ length: 20_000 }, (_, i) => referenceSlot(c, t, `mem-${i}`, now));
    const keys = new Set(slots.map((x) => x.claim_keys[0]!));
    for (let i = 0; i < slots.length; i += 500) {
      await Promise.all(slots.slice(i, i + 500).map((x, j) => claimReference(s, { business_id, slot: x, hash: 'hash-ffffffffffff' }, con_F)));
    }
    let bytes = 0;
    for (const key of keys) {
      expect(await redis.sendCommand(['OBJECT', 'ENCODING', key])).toBe('listpack');
      bytes += Number(await redis.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0']));
    }
    expect(bytes / slots.length).toBeLessThan(44);
  });
});

describe('records', () => {
  it('parse what commit writes, and nothing else', () => {
    // A record written before 2026-12-04 holds its fee after the discount: read by nothing now.
    expect(parseRecord('abc|p|2000|100|||5')).toEqual({ id: 'txn_abc', kind: 'purchase', amount: 2000, awarded: 100, paid: 0, discount: 0, to_open: 0 });
    // Since: what the awards put into open last, after that field (left empty).
    expect(parseRecord('abc|p|2000|150||300||50')).toEqual({ id: 'txn_abc', kind: 'purchase', amount: 2000, awarded: 150, paid: 0, discount: 300, to_open: 50 });
    expect(parseRecord('abc|s|250||||')).toMatchObject({ kind: 'spend', amount: 250 });
    expect(parseRecord('abc|r|100')).toMatchObject({ kind: 'redemption', amount: 100, awarded: 0 });
    expect(parseRecord('!')).toBeUndefined();
    expect(parseRecord(null)).toBeUndefined();
    expect(() => parseRecord('abc|?|1')).toThrow(/not a transaction record/);
  });
});
