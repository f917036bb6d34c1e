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

export async function migrate(sql: Sql): Promise<string[]> {
  const applied: string[] = [];
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${lock_id})`;
    await tx`create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now())`;
    const done = new Set((await tx<{ name: string }[]>`select name from schema_migrations`).map((r) => r.name));
    for (const file of await migrationFiles()) {
      if (done.has(file)) continue;
      await tx.unsafe(await readFile(join(migrations_dir, file), 'utf8'));
      await tx`insert into schema_migrations (name) values (${file})`;
      applied.push(file);
    }
  });
  return applied;
}
