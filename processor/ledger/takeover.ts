// Taking over what dead ledger writers left pending: a consumer of the journal group that holds
// leases (lease.ts) but whose lease key is gone has died, or lost its lease and carries on under
// another name; either way its name is never used again, so its pending entries are claimed at
// once, and the consumer is deleted from the group once it has none (the group's list of
// consumers stays as short as the writers alive).

import { journal_group, journalKey } from '../hot/keys.ts';
import type { RedisClient } from '../stores.ts';
import { isLeased, leaseKey } from './lease.ts';

export type StreamEntries = [string, string[] | null][];

/**
 * Atomic on the one stream key (a Redis Cluster runs it where the key lives): the dead
 * consumer's pending entries, up to COUNT, move to the claiming consumer and come back with their
 * fields; with none left, the consumer is deleted. Atomic, because deleting a consumer drops
 * whatever it still has pending: between a check and a separate delete, a stale writer's late
 * XREADGROUP under the dead name could have delivered it entries (which would then be lost).
 * Names the entries it read the PEL for, so it cannot take one another writer claimed since.
 */
const claim_script = `
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[4]), ARGV[2])
if #pending == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
  return {}
end
local ids = {}
for i, p in ipairs(pending) do ids[i] = p[1] end
return redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, unpack(ids))
`;

/** XINFO CONSUMERS of the journal group: each consumer's name and how many entries it has pending. */
async function consumersOf(redis: RedisClient, shard: number): Promise<{ name: string; pending: number }[]> {
  const reply = (await redis.sendCommand(['XINFO', 'CONSUMERS', journalKey(shard), journal_group])) as (Record<string, unknown> | unknown[])[];
  return reply.map((c) => {
    const info: Record<string, unknown> = Array.isArray(c) ? Object.fromEntries(Array.from({ length: c.length / 2 }, (_, i) => [String(c[2 * i]), c[2 * i + 1]])) : c;
    return { name: String(info.name), pending: Number(info.pending) };
  });
}

/**
 * One pass over every shard: entries of dead leased consumers claimed for `consumer`, at most
 * `count_max` per shard (what is left goes to the next pass), handed to `collect` shard by shard.
 * Consumers of older writers, without leases, are left to XAUTOCLAIM after claim_idle_ms.
 * Returns how many entries it claimed.
 */
export async function takeOverDead(
  redis: RedisClient,
  shard_count: number,
  consumer: string,
  count_max: number,
  collect: (shard: number, entries: StreamEntries) => void,
): Promise<number> {
  const per_shard = await Promise.all(Array.from({ length: shard_count }, (_, shard) => consumersOf(redis, shard)));
  // One lease look-up per consumer name, whatever the number of shards it has entries on.
  const names = new Set(per_shard.flat().map((c) => c.name).filter((n) => n !== consumer && isLeased(n)));
  const dead = new Set<string>();
  await Promise.all(
    [...names].map(async (name) => {
      if (Number(await redis.sendCommand(['EXISTS', leaseKey(name)])) === 0) dead.add(name);
    }),
  );
  if (dead.size === 0) return 0;
  let claimed = 0;
  await Promise.all(
    per_shard.map(async (consumers, shard) => {
      let room = count_max;
      for (const c of consumers) {
        if (!dead.has(c.name) || room <= 0) continue;
        const entries = (await redis.sendCommand(['EVAL', claim_script, '1', journalKey(shard), journal_group, c.name, consumer, String(room)])) as StreamEntries;
        collect(shard, entries);
        room -= entries.length;
        claimed += entries.length;
      }
    }),
  );
  return claimed;
}
