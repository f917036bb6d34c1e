import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestSql } from '../test/ledger-helpers.ts';
import { migrate } from './ledger/migrate.ts';
import { CopiesOwed, payCopy, type CopyKind } from './copies-owed.ts';
import type { PostgresHealth } from './postgres-health.ts';
import type { RedisHealth } from './redis-health.ts';

// Kinds of this test's own: the gateways' sweeps of other test files (on the same database) take
// only theirs, 'contact' and 'rewards'.
const kind = `test-${randomBytes(4).toString('hex')}` as CopyKind;
const sql = connectTestSql();
// Its table, whichever test file runs first on the wiped database (a gateway migrates as it starts).
beforeAll(() => migrate(sql));
afterAll(async () => {
  await sql`delete from redis_copies_owed where kind = ${kind}`;
  await sql.end();
});

const owe = (id: string, seconds_ago: number, token = `t-${id}`) =>
  sql`insert into redis_copies_owed (kind, id, token, owed_at) values (${kind}, ${id}, ${token}, now() - ${seconds_ago} * interval '1 second')`;
const left = async () => (await sql<{ id: string }[]>`select id from redis_copies_owed where kind = ${kind} order by id`).map((r) => r.id);

describe('CopiesOwed.sweep (on PostgreSQL)', () => {
  it('makes the oldest first; one that fails ends the sweep and goes to the back; one owed just now is left to its call', async () => {
    await owe('a', 10);
    await owe('b', 9);
    await owe('c', 0);
    const made: string[] = [];
    let refusals = 0;
    const copies = new CopiesOwed({ sql }, { [kind]: async (id: string) => {
      if (id === 'a' && refusals++ === 0) throw new Error('Redis refuses writes');
      made.push(id);
    } } as Record<CopyKind, (id: string) => Promise<void>>);
    await expect(copies.sweep()).rejects.toThrow('Redis refuses writes');
    expect(made).toEqual([]);
    // b first: a is owed as of the failure now (made in this sweep too only if 2 s passed meanwhile); c, owed just now, is left.
    await copies.sweep();
    expect(made[0]).toBe('b');
    expect(await left()).toContain('c');
    expect(await left()).not.toContain('b');
  });

  it('makes nothing, and queries nothing, while a store is known down', async () => {
    await owe('e', 10);
    const made: string[] = [];
    const copier = { [kind]: async (id: string) => void made.push(id) } as Record<CopyKind, (id: string) => Promise<void>>;
    const redis_down = new CopiesOwed({ sql, redis_health: { writable: false } as RedisHealth }, copier);
    const postgres_down = new CopiesOwed({ sql, postgres_health: { up: false } as PostgresHealth }, copier);
    expect([await redis_down.sweep(), await postgres_down.sweep()]).toEqual([0, 0]);
    expect(made).toEqual([]);
    expect(await new CopiesOwed({ sql }, copier).sweep()).toBe(1);
    expect(made).toEqual(['e']);
  });

  it('a payment pays only the copy it made: one owed again since (another token) stays', async () => {
    await owe('d', 5, 'first');
    await sql`update redis_copies_owed set token = 'second' where kind = ${kind} and id = 'd'`;
    await payCopy(sql, kind, 'd', 'first');
    expect(await left()).toContain('d');
    await payCopy(sql, kind, 'd', 'second');
    expect(await left()).not.toContain('d');
  });
});
