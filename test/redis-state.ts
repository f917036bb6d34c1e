// What a Redis holds, comparable across a rebuild (test/rebuild.test.ts, test/rebuild-model.test.ts):
// every key but those `left_out` names and what is no data (writers' leases, the console's traffic
// counts, callback event claims, the readiness probe), zeros the scripts leave ('0' fields and
// strings) dropped, hashes as sorted hex pairs (field names are raw bytes: the CIM index, records),
// each with its expiry time to the second (a script's PEXPIRE counts from when Redis ran it, a few
// ms after its now_ms).

import { RESP_TYPES } from 'redis';
import { console_stats_prefix, event_claim_prefix } from '../processor/hot/keys.ts';
import { network_loaded_key } from '../processor/network-layout.ts';
import { probe_key } from '../processor/redis-health.ts';
import type { RedisClient } from '../processor/stores.ts';

/** `left_out`: key prefixes (before the ':') not compared; the network's load mark, whose time differs, is 'present' or left out too. */
export async function comparableRedis(client: RedisClient, left_out: readonly string[], network_loaded: 'present' | 'left out'): Promise<Record<string, unknown>> {
  const binary = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer, [RESP_TYPES.MAP]: Array });
  const out: Record<string, unknown> = {};
  for await (const keys of client.scanIterator({ COUNT: 1000 })) {
    for (const key of keys) {
      if ([...left_out, 'writer'].includes(key.slice(0, key.indexOf(':'))) || key.startsWith(console_stats_prefix) || key.startsWith(event_claim_prefix) || key === probe_key) continue;
      if (key === network_loaded_key) {
        if (network_loaded === 'present') out[key] = 'present';
        continue;
      }
      out[key] = await comparableValue(client, binary, key);
      if (out[key] === undefined) delete out[key];
    }
  }
  return out;
}

async function comparableValue(client: RedisClient, binary: { sendCommand(args: string[]): Promise<unknown> }, key: string): Promise<unknown> {
  const type = await client.type(key);
  const expires = Math.floor(Number(await client.sendCommand(['PEXPIRETIME', key])) / 1000);
  if (type === 'hash') {
    const flat = (await binary.sendCommand(['HGETALL', key])) as unknown as Buffer[];
    const pairs: string[] = [];
    for (let i = 0; i < flat.length; i += 2) if (flat[i + 1]!.toString() !== '0') pairs.push(`${flat[i]!.toString('hex')}=${flat[i + 1]!.toString()}`);
    return { pairs: pairs.sort(), expires };
  }
  if (type === 'string') {
    const v = await client.get(key);
    return v === '0' ? undefined : { v, expires };
  }
  if (type === 'zset') return { members: await client.zRangeWithScores(key, 0, -1), expires };
  return { type };
}
