// Measuring a run: CPU of processes from /proc (Linux), Redis's CPU from INFO, medians.

import { readdirSync, readFileSync } from 'node:fs';
import type { RedisClient } from '../processor/stores.ts';

/** CPU ms of a process and its live descendants (the workers of GATEWAY_PROCESSES=n). */
export function cpuMs(pid: number | undefined): number {
  const stats = new Map<number, { ppid: number; ms: number }>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      stats.set(Number(p), { ppid: Number(fields[1]), ms: ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 });
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  const tree = new Set([pid]);
  // Parents before children is not guaranteed by pid order: sweep until nothing is added.
  for (let added = true; added; ) {
    added = false;
    for (const [p, st] of stats) if (!tree.has(p) && tree.has(st.ppid)) (tree.add(p), (added = true));
  }
  for (const p of tree) total += stats.get(p!)?.ms ?? 0;
  return total;
}

/** Redis's CPU so far, ms: in the kernel (sockets, AOF writes and fsyncs) and in Redis itself. */
export async function redisCpuMs(redis: RedisClient): Promise<{ sys: number; user: number }> {
  const info = await redis.info('cpu');
  return { sys: Number(/used_cpu_sys:([\d.]+)/.exec(info)![1]) * 1000, user: Number(/used_cpu_user:([\d.]+)/.exec(info)![1]) * 1000 };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
