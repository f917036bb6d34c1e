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
 * COUNT (ARGV[4]) must be 1 or more.
 */
const claim_script = `
-- XPENDING with COUNT 0 finds nothing: the consumer would be deleted with its entries.
if not (tonumber(ARGV[4]) >= 1) then return redis.error_reply('ERR takeover COUNT must be 1 or more') end
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[4]), ARGV[2])
if #pending == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
  return {}
end
local ids = {}
for i, p in ipairs(pending) do ids[i] = p[1] end
local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, unpack(ids))
if #claimed == #ids then return claimed end
-- Redis 7 drops from the group, and leaves out, entries deleted from the stream while pending:
-- named with nil fields (as XREADGROUP's re-read names them), so the writer puts them on record.
local got = {}
for _, e in ipairs(claimed) do got[e[1]] = true end
for _, id in ipairs(ids) do
  if not got[id] then claimed[#claimed + 1] = { id, false } end
end
return claimed
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
 * `room(shard)` of each shard (what is left goes to the next pass), handed to `collect` shard by
 * shard. Consumers of older writers, without leases, are left to XAUTOCLAIM after claim_idle_ms.
 * Returns how many entries it claimed.
 */
export async function takeOverDead(
  redis: RedisClient,
  shard_count: number,
  consumer: string,
  room: (shard: number) => number,
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
  // Every shard settled before failing: none hands `collect` entries after the caller gave up.
  const claims = await Promise.allSettled(
    per_shard.map(async (consumers, shard) => {
      let left = room(shard);
      for (const c of consumers) {
        // A full shard's dead consumers wait for the next pass (the script refuses COUNT 0).
        if (!dead.has(c.name) || left <= 0) continue;
        const entries = (await redis.sendCommand(['EVAL', claim_script, '1', journalKey(shard), journal_group, c.name, consumer, String(left)])) as StreamEntries;
        collect(shard, entries);
        left -= entries.length;
        claimed += entries.length;
      }
    }),
  );
  const failed = claims.find((c) => c.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return claimed;
}
