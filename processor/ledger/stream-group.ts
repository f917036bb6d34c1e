// A stream's consumer group by name (XINFO GROUPS), as an object whichever shape the client
// returns (RESP2 lists, RESP3 maps): the writers' group ('ledger'), rebuild's ('rebuild-meanwhile').

import type { RedisClient } from '../stores.ts';

export type GroupInfo = Record<string, unknown>;

/** The group `name` of the stream at `key`, or undefined; the stream must exist (XINFO's error otherwise). */
export async function streamGroup(redis: RedisClient, key: string, name: string): Promise<GroupInfo | undefined> {
  const groups = (await redis.sendCommand(['XINFO', 'GROUPS', key])) as (GroupInfo | unknown[])[];
  for (const g of groups) {
    const info: GroupInfo = Array.isArray(g) ? Object.fromEntries(Array.from({ length: g.length / 2 }, (_, i) => [String(g[2 * i]), g[2 * i + 1]])) : g;
    if (info.name === name) return info;
  }
  return undefined;
}
