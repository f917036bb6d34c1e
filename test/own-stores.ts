// A PostgreSQL database and a Redis of a test's own, for tests of operations that read every
// contact (reconcile, rebuild) or wipe Redis: other test files' data must not be in their way,
// nor theirs in others'. And the operations commands run as `npm run` runs them: a child process.

import { join } from 'node:path';
import { connectPostgres, type Sql } from '../processor/stores.ts';
import { runChild, runTs, type ChildRun } from './child-run.ts';
import { startOwnRedis, type OwnRedis } from './own-redis.ts';

export interface OwnStores {
  readonly redis: OwnRedis;
  readonly database_url: string;
  readonly sql: Sql;
  stop(): Promise<void>;
}

export async function startOwnStores(name: string): Promise<OwnStores> {
  const database = `pocketgate_${name}_${process.pid}`;
  const admin = connectPostgres(process.env.DATABASE_URL!, 1);
  await admin.unsafe(`drop database if exists ${database}`);
  await admin.unsafe(`create database ${database}`);
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${database}`;
  const sql = connectPostgres(url.toString(), 4);
  const redis = await startOwnRedis();
  return {
    redis,
    database_url: url.toString(),
    sql,
    stop: async () => {
      await redis.stop();
      await sql.end({ timeout: 5 });
      await admin.unsafe(`drop database if exists ${database} with (force)`).catch(() => {});
      await admin.end({ timeout: 5 });
    },
  };
}

/** A lock held on a table of `sql`'s database (PostgreSQL up but slow to whoever needs it) until release(). */
export interface HeldLock {
  release(): void;
  /** The locking transaction's end, once released. */
  readonly done: Promise<unknown>;
}

export async function holdLock(sql: Sql, table: string): Promise<HeldLock> {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let locked = () => {};
  const is_locked = new Promise<void>((resolve) => (locked = resolve));
  const done = sql.begin(async (tx) => {
    await tx`lock table ${tx(table)} in access exclusive mode`;
    locked();
    await released;
  });
  await Promise.race([is_locked, done]);
  return { release, done };
}

export type CommandRun = ChildRun;

/** `node --import tsx processor/ledger/<file> args` with the stores' URLs, as `npm run` starts it. */
export function runCommand(file: string, args: readonly string[], env: Record<string, string>): Promise<CommandRun> {
  return runTs(join('processor', 'ledger', file), args, { env });
}

/** `npm <args>` in the checkout, as an operator types it (`npm run --silent reconcile …`). */
export function npmRun(args: readonly string[], env: Record<string, string>): Promise<CommandRun> {
  return runChild('npm', args, { env });
}
