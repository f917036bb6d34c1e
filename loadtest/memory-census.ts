// Where Redis's memory is, by family of key (the prefix before the first ':', see
// processor/hot/keys.ts): `MEMORY USAGE` of every key, summed. Taken before and after the load
// test's memory phase, the difference says what a transaction leaves behind, family by family,
// which the single used_memory figure cannot.

import type { RedisClient } from '../processor/stores.ts';

export type Census = Map<string, { keys: number; bytes: number }>;

const scan_count = 1_000;
const names: Record<string, string> = {
  c: 'contact', i: 'CIM index', l: 'lots', k: 'caps', p: 'OTPs', o: 'OTP index', g: 'guesses', gp: 'guesses being looked up', ot: 'OTP tries', v: 'transaction state',
  r: 'reference claim', t: 'transaction record', x: 'transaction → entry', j: 'journal', dl: 'dead letters', e: 'expiry index',
  q: 'referral outbox', b: 'budget', n: 'network', cs: 'console stats',
};

export function keyFamily(key: string): string {
  const prefix = key.slice(0, Math.max(0, key.indexOf(':')));
  return names[prefix] ?? (prefix === '' ? key : prefix);
}

/** Every key's `MEMORY USAGE` (exact: SAMPLES 0), summed by family. */
export async function memoryCensus(redis: RedisClient): Promise<Census> {
  const census: Census = new Map();
  let cursor = '0';
  do {
    const reply = (await redis.sendCommand(['SCAN', cursor, 'COUNT', String(scan_count)])) as [string, string[]];
    cursor = reply[0];
    const sizes = await Promise.all(reply[1].map((key) => redis.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0']) as Promise<number | null>));
    reply[1].forEach((key, i) => {
      const family = keyFamily(key);
      const entry = census.get(family) ?? { keys: 0, bytes: 0 };
      entry.keys += 1;
      entry.bytes += sizes[i] ?? 0;
      census.set(family, entry);
    });
  } while (cursor !== '0');
  return census;
}

/** Bytes per transaction by family, largest first: what `after` has more of than `before`. */
export function perTransaction(before: Census, after: Census, transactions: number): { family: string; keys: number; bytes: number }[] {
  const families = new Set([...before.keys(), ...after.keys()]);
  const rows = [...families].map((family) => {
    const a = after.get(family) ?? { keys: 0, bytes: 0 };
    const b = before.get(family) ?? { keys: 0, bytes: 0 };
    return { family, keys: a.keys - b.keys, bytes: Math.round(((a.bytes - b.bytes) / Math.max(1, transactions)) * 10) / 10 };
  });
  return rows.filter((r) => r.bytes !== 0 || r.keys !== 0).sort((x, y) => y.bytes - x.bytes);
}
