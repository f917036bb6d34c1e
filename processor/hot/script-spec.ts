// What the scripts' specs (processor/hot/<script>.test.ts) share: a business, terminal and
// contacts written straight into the test Redis, the fields every shard script call names, and
// what a committed call left in the journal. No gateway, no PostgreSQL.

import { afterAll, beforeAll, expect } from 'vitest';
import { newId } from '../../core/ids.ts';
import { connectTestRedis, type spec_redis_dbs } from '../../test/ledger-helpers.ts';
import type { JournalEntry } from '../journal.ts';
import type { Business, Terminal } from '../network.ts';
import type { Refusal } from '../refusals.ts';
import type { RedisClient } from '../stores.ts';
import { contactKey, journalKey, lotsKey, transactionKey } from './keys.ts';
import { referenceSlot, type ReferenceSlot } from './references.ts';

export const spec_config = { cim_hmac_key: 'script-spec', reply_ttl_seconds: 48 * 3_600, shard_count: 16, reference_buckets: 64 };

type SpecDb = (typeof spec_redis_dbs)[number];

/**
 * The specs' databases (spec_redis_dbs: 13 to 15), used by no file of test/. Each spec of a shard
 * script runs on a shard number of its own (so its own journal stream) and makes its own contacts,
 * so specs that share a database never see each other's data.
 */
export function specRedis(db: SpecDb): Promise<RedisClient> {
  return connectTestRedis(db);
}

/** `specRedis` for a whole spec file: connected before its tests (handed to `use`), closed after them. */
export function specRedisForFile(db: SpecDb, use: (redis: RedisClient) => void): void {
  let redis: RedisClient | undefined;
  beforeAll(async () => {
    redis = await specRedis(db);
    use(redis);
  });
  afterAll(async () => {
    await redis?.quit();
  });
}

export function specBusiness(): Business {
  return { id: newId('bus'), name: 'spec', currency: 'EUR', reward_resolution: 'all', created_at: new Date(0).toISOString() };
}

/** A merchant's terminal (its fee on awards), or with `own` one at the business's own venues. */
export function specTerminal(business: Business, own = false): Terminal {
  return {
    id: newId('ter'),
    code: 'T1',
    business_id: business.id,
    venue_id: newId('ven'),
    merchant_id: own ? null : newId('mer'),
    merchant_code: own ? '' : 'M1',
    fee_bp: own ? 0 : 250,
    settle_on: 'award',
    timezone: 'Europe/Paris',
  };
}

/** A contact of `business` on `shard` with these balances and lots ('<expiry ms>|<pool>' → amount). */
export async function specContact(redis: RedisClient, shard: number, business: Business, open = 0, lots: Record<string, number> = {}): Promise<string> {
  const id = newId('con');
  const commerce = Object.values(lots).reduce((a, b) => a + b, 0);
  await redis.hSet(contactKey(shard, id), { b: business.id, o: String(open), m: String(commerce) });
  if (commerce > 0) await redis.hSet(lotsKey(shard, id), Object.fromEntries(Object.entries(lots).map(([k, v]) => [k, String(v)])));
  return id;
}

export async function balancesOf(redis: RedisClient, shard: number, contact_id: string): Promise<{ open: number; commerce: number }> {
  const [o, m] = await redis.hmGet(contactKey(shard, contact_id), ['o', 'm']);
  return { open: Number(o ?? 0), commerce: Number(m ?? 0) };
}

let seq = 0;

/** A fresh reference of `terminal_id` and where it is remembered now. */
export function specSlot(terminal_id: string, now_ms = Date.now()): { reference: string; slot: ReferenceSlot } {
  const reference = `spec-${process.pid}-${++seq}`;
  return { reference, slot: referenceSlot(spec_config, terminal_id, reference, now_ms) };
}

/** An original in the hot window: its record (as the scripts write one) under a fresh reference of the terminal. */
export async function specOriginal(redis: RedisClient, shard: number, terminal_id: string, record: string): Promise<{ id: string; slot: ReferenceSlot }> {
  const id = newId('txn');
  const { slot } = specSlot(terminal_id);
  await redis.hSet(slot.record_keys(shard)[0]!, slot.field, `${id.slice(4)}|${record}`);
  return { id, slot };
}

/** A journal entry a committed call appended: its entry and reply, parsed (both must be JSON). */
export async function journalOf(redis: RedisClient, shard: number, journal_id: string): Promise<{ entry: JournalEntry; reply: Record<string, unknown> }> {
  const found = (await redis.sendCommand(['XRANGE', journalKey(shard), journal_id, journal_id])) as [string, string[]][];
  const fields = found[0]![1];
  const field = (f: string) => fields[fields.indexOf(f) + 1]!;
  return { entry: JSON.parse(field('e')) as JournalEntry, reply: JSON.parse(field('r')) as Record<string, unknown> };
}

export async function journalLength(redis: RedisClient, shard: number): Promise<number> {
  return Number(await redis.sendCommand(['XLEN', journalKey(shard)]));
}

/**
 * The refusals the journal gained since it was `length` long (field x alone: lib.lua refuse), in
 * order; an entry of a transaction among them fails the test.
 */
export async function refusalsSince(redis: RedisClient, shard: number, length: number): Promise<Refusal[]> {
  const count = (await journalLength(redis, shard)) - length;
  if (count === 0) return [];
  const entries = (await redis.sendCommand(['XREVRANGE', journalKey(shard), '+', '-', 'COUNT', String(count)])) as [string, string[]][];
  return entries.reverse().map(([, fields]) => {
    expect(fields[0]).toBe('x');
    expect(fields).toHaveLength(2);
    return JSON.parse(fields[1]!) as Refusal;
  });
}

/** The codes of `refusalsSince`. */
export async function refusalCodesSince(redis: RedisClient, shard: number, length: number): Promise<string[]> {
  return (await refusalsSince(redis, shard, length)).map((r) => r.code);
}

/** The record a committed call wrote under its reference, and its pending pointer to the journal. */
export async function expectRecorded(redis: RedisClient, shard: number, slot: ReferenceSlot, id: string, journal_id: string, record: string): Promise<void> {
  expect(await redis.sendCommand(['HGET', slot.record_keys(shard)[0]!, slot.field])).toBe(`${id.slice(4)}|${record}`);
  expect(await redis.get(transactionKey(shard, id))).toBe(journal_id);
}
