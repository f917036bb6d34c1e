// Whether the Redis the gateway was given keeps what it acknowledges: DESIGN.md's durability rests
// on AOF with `appendfsync always` (a reply only once its journal entry is on disk). `npm start`
// runs its own Redis so; a Redis given by REDIS_URL may not be, and nothing else would say so
// before a crash loses acknowledged transactions.

import type { RedisClient } from './stores.ts';

export interface RedisDurability {
  readonly aof_enabled: boolean;
  /** CONFIG's appendfsync, or null where CONFIG is refused (managed Redis services rename it). */
  readonly appendfsync: string | null;
}

export async function readRedisDurability(redis: RedisClient): Promise<RedisDurability> {
  const info = await redis.info('persistence');
  const aof_enabled = /^aof_enabled:1\r?$/m.test(info);
  const appendfsync = await redis.configGet('appendfsync').then(
    (r) => r['appendfsync'] ?? null,
    () => null,
  );
  return { aof_enabled, appendfsync };
}

/** What an operator must be told, or undefined when Redis keeps every acknowledged transaction. */
export function durabilityWarning(d: RedisDurability): string | undefined {
  if (!d.aof_enabled) return 'Redis runs without AOF (appendonly no): a Redis crash or restart loses acknowledged transactions that the ledger has not recorded yet; run it with --appendonly yes --appendfsync always';
  if (d.appendfsync === null) return undefined; // AOF on, its fsync policy unreadable: nothing certain to say
  if (d.appendfsync !== 'always') return `Redis's AOF is fsynced "${d.appendfsync}", not "always": a crash of its host can lose the last acknowledged transactions; run it with --appendfsync always`;
  return undefined;
}
