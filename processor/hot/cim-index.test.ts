// The bucketed CIM index against the test Redis (a database of its own: redis_dbs).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cimToken } from '../../core/cim.ts';
import { newId } from '../../core/ids.ts';
import { connectTestRedis, redis_dbs } from '../../test/ledger-helpers.ts';
import type { RedisClient } from '../stores.ts';
import { CimIndex } from './cim-index.ts';

let redis: RedisClient;
let run = 0;

beforeAll(async () => {
  redis = await connectTestRedis(redis_dbs.hot_cim_index);
});
afterAll(async () => {
  await redis.quit();
});

/** Tokens no other test makes: this file's run and a counter go into the CIM value. */
function tokens(n: number): string[] {
  run++;
  return Array.from({ length: n }, (_, i) => cimToken('cim-index-test', `bus_${run}_${Date.now()}`, 'loyalty_id', String(i)));
}

describe('CIM index', () => {
  it('names an entry by a bucket within the count and 10 bytes of the token', () => {
    const index = new CimIndex(redis, 64);
    const used = new Set<string>();
    for (const token of tokens(2_000)) {
      const { key, field } = index.entry(token);
      expect(key).toMatch(/^i:\d+$/);
      expect(Number(key.slice(2))).toBeLessThan(64);
      expect(field.length).toBe(10);
      expect(index.entry(token)).toEqual({ key, field }); // stable
      used.add(key);
    }
    expect(used.size).toBe(64); // 2,000 tokens leave no bucket empty
  });

  it('answers the contact a token was set to, null for a token never set or deleted', async () => {
    const index = new CimIndex(redis, 4_096);
    const [a, b, c] = tokens(3) as [string, string, string];
    const [x, y] = [newId('con'), newId('con')];
    await index.put(a, x);
    const multi = redis.multi();
    index.set(multi, b, y);
    await multi.exec();
    expect(await index.get(a)).toBe(x);
    expect(await index.get(b)).toBe(y);
    expect(await index.get(c)).toBeNull();
    const del = redis.multi();
    index.delete(del, a);
    await del.exec();
    expect(await index.get(a)).toBeNull();
    expect(await index.get(b)).toBe(y);
  });

  it('sets many at once, one HSET per bucket, each token naming its own contact', async () => {
    const index = new CimIndex(redis, 8);
    const all = tokens(200);
    const entries = all.map((token) => ({ token, contact_id: newId('con') }));
    const commands: { key: string; pairs: number }[] = [];
    index.setAll({ hSet: (key: string, pairs: Buffer[]) => commands.push({ key, pairs: pairs.length / 2 }), hDel: () => {} } as never, entries);
    expect(new Set(commands.map((c) => c.key)).size).toBe(commands.length);
    expect(commands.length).toBeLessThanOrEqual(8);
    expect(commands.reduce((n, c) => n + c.pairs, 0)).toBe(200);
    const multi = redis.multi();
    index.setAll(multi, entries);
    await multi.execAsPipeline();
    for (const e of entries) expect(await index.get(e.token)).toBe(e.contact_id);
  });

  it('a later set replaces what a token named (PostgreSQL decides who may hold it)', async () => {
    const index = new CimIndex(redis, 16);
    const [a] = tokens(1) as [string];
    const [x, y] = [newId('con'), newId('con')];
    await index.put(a, x);
    await index.put(a, y);
    expect(await index.get(a)).toBe(y);
  });

  it('one bucket holding many CIMs keeps each apart, as a listpack and once past it', async () => {
    // One bucket for everything: 300 entries stay a listpack; 900 pass Redis's default
    // hash-max-listpack-entries (512) and the bucket becomes a hash table, answering the same.
    const index = new CimIndex(redis, 1);
    const all = tokens(900);
    const contacts = all.map(() => newId('con'));
    const write = async (from: number, to: number) => {
      const multi = redis.multi();
      for (let i = from; i < to; i++) index.set(multi, all[i]!, contacts[i]!);
      await multi.execAsPipeline();
    };
    const key = index.entry(all[0]!).key;
    await redis.del(key);
    await write(0, 300);
    expect(await redis.hLen(key)).toBe(300);
    const limit = Number((await redis.configGet('hash-max-listpack-entries'))['hash-max-listpack-entries']);
    if (limit >= 300) expect(await redis.sendCommand(['OBJECT', 'ENCODING', key])).toBe('listpack');
    for (let i = 0; i < 300; i++) expect(await index.get(all[i]!)).toBe(contacts[i]);
    await write(300, 900);
    expect(await redis.hLen(key)).toBe(900);
    for (let i = 0; i < 900; i++) expect(await index.get(all[i]!)).toBe(contacts[i]);
    await redis.del(key);
  });

  it('refuses what is not a CIM token or a contact id rather than store it', async () => {
    const index = new CimIndex(redis, 16);
    expect(() => index.entry('short')).toThrow(/not a CIM token/);
    const [a] = tokens(1) as [string];
    await expect(index.put(a, 'con_not-an-id')).rejects.toThrow(/not a contact id/);
    expect(() => new CimIndex(redis, 0)).toThrow(/buckets/);
    expect(() => new CimIndex(redis, 1.5)).toThrow(/buckets/);
  });
});
