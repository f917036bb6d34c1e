// Applies pending SQL migrations in order, each in its own transaction, under an advisory lock so
// that several gateways starting at once apply each migration exactly once.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from 'postgres';

const migrations_dir = join(import.meta.dirname, 'migrations');
const lock_id = 7_283_402_113; // any constant: it names this lock among the database's advisory locks

export async function migrationFiles(): Promise<string[]> {
  return (await readdir(migrations_dir)).filter((f) => f.endsWith('.sql')).sort();
}

/**
 * Each file in a transaction of its own (a long one's locks are not held through the rest, and what
 * applied stays applied if a later one fails), each under the advisory lock, which the next takes
 * again: several gateways starting at once apply each file once. Until 2026-12-06 every pending
 * file ran in one transaction, contrary to this comment (a review).
 */
export async function migrate(sql: Sql): Promise<string[]> {
  const applied: string[] = [];
  const files = await migrationFiles();
  // One file a round, and one round more to find none left.
  for (let round = 0; round <= files.length; round++) {
    const next = await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${lock_id})`;
      await tx`create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now())`;
      const done = new Set((await tx<{ name: string }[]>`select name from schema_migrations`).map((r) => r.name));
      const file = files.find((f) => !done.has(f));
      if (file === undefined) return undefined;
      await tx.unsafe(await readFile(join(migrations_dir, file), 'utf8'));
      await tx`insert into schema_migrations (name) values (${file})`;
      return file;
    });
    if (next === undefined) return applied;
    applied.push(next);
  }
  throw new Error(`migrations: still one to apply after ${files.length + 1} rounds`);
}
