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
  // The mean of two rounded to 1/1000: of 105.79 and 110.63 it printed 108.21000000000001 (a profile's p99).
  return s.length % 2 === 1 ? s[m]! : Math.round(((s[m - 1]! + s[m]!) / 2) * 1000) / 1000;
}

/** utime+stime and cutime+cstime (children already exited and reaped) of one process, ms; undefined when gone. */
function ownAndReapedMs(pid: number): { own: number; reaped: number; ppid: number; comm: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    const tick = (i: number) => (Number(fields[i]) * 1000) / 100;
    return { own: tick(11) + tick(12), reaped: tick(13) + tick(14), ppid: Number(fields[1]), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(') ')) };
  } catch {
    return undefined;
  }
}

/**
 * The PostgreSQL server's postmaster on this machine, found from a connection's backend (its
 * parent); undefined when PostgreSQL runs elsewhere (its processes are not in this /proc).
 */
export async function postmasterPid(sql: { unsafe(q: string): PromiseLike<readonly Record<string, unknown>[]> }): Promise<number | undefined> {
  const [row] = await sql.unsafe('select pg_backend_pid() as pid');
  const backend = ownAndReapedMs(Number(row?.pid));
  if (backend === undefined || !/^postgres/.test(backend.comm)) return undefined;
  const postmaster = ownAndReapedMs(backend.ppid);
  return postmaster !== undefined && /^postgres/.test(postmaster.comm) ? backend.ppid : undefined;
}

/**
 * CPU ms of the whole PostgreSQL server so far: utime+stime of the postmaster and of every live
 * process under it (backends, WAL writer, checkpointer, autovacuum, …), plus what its children
 * that already exited spent (the postmaster's cutime+cstime). Differences between two readings
 * are the server's CPU over that time, backends that came and went included.
 */
export function postgresCpuMs(postmaster: number | undefined): number | undefined {
  if (postmaster === undefined) return undefined;
  const p = ownAndReapedMs(postmaster);
  if (p === undefined) return undefined;
  return cpuMs(postmaster) + p.reaped;
}

/** CPU so far, ms: of a server process (with its workers), of Redis, of PostgreSQL (undefined when not on this machine). */
export interface CpuReading {
  readonly server: number;
  readonly redis: number;
  readonly postgres: number | undefined;
}

export async function cpuReading(pid: number | undefined, redis: RedisClient, postmaster: number | undefined): Promise<CpuReading> {
  const r = await redisCpuMs(redis);
  return { server: cpuMs(pid), redis: r.sys + r.user, postgres: postgresCpuMs(postmaster) };
}

/** CPU µs per item (request, event) between two readings; PostgreSQL's null when not measured. */
export function cpuPerItemUs(c0: CpuReading, c1: CpuReading, items: number): { server: number; redis: number; postgres: number | null } {
  const per = (ms: number) => Math.round((ms * 1000) / Math.max(1, items));
  return { server: per(c1.server - c0.server), redis: per(c1.redis - c0.redis), postgres: c0.postgres === undefined || c1.postgres === undefined ? null : per(c1.postgres - c0.postgres) };
}

/** p50 and p99 of latencies (any order). */
export function latencyQuantiles(latencies: readonly number[]): { p50: number; p99: number } {
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
  return { p50: at(0.5), p99: at(0.99) };
}
