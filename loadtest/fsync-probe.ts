// `npm run fsync-probe -- [--seconds 8] [--busy 0,3] [--dir .data]`: how long this machine's disk
// takes to fsync an appended write the size of a purchase's AOF record, with the CPUs idle and
// with `n` processes spinning beside it (what a load test makes of a 2-core machine). Redis with
// `appendfsync always` waits for exactly this before it answers anyone, so its tail is the
// floor of every request's p99 (loadtest/redis-stalls.ts reads Redis's own view of it).

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repo_root } from './processes.ts';

/** Bytes a purchase appended to Redis's AOF (README, "where the bytes go"). */
const write_bytes = 1_200;
/** Between fsyncs, as Redis's event loop is not always writing: the probe must not be a spinner itself. */
const gap_ms = 0.5;
const busy_max = 16;
const stall_ms = 5;

export interface FsyncSummary {
  readonly fsyncs: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly p999_ms: number;
  readonly max_ms: number;
  /** Fsyncs of `stall_ms` or more (Redis's latency monitor counts those in the load tests). */
  readonly stalls: number;
}

/** Percentiles of latencies (ms, any order); `latencies_ms` is sorted in place. */
export function summariseFsyncs(latencies_ms: number[]): FsyncSummary {
  if (latencies_ms.length === 0) throw new Error('no fsync measured');
  latencies_ms.sort((a, b) => a - b);
  const at = (q: number) => latencies_ms[Math.min(latencies_ms.length - 1, Math.floor(latencies_ms.length * q))]!;
  return {
    fsyncs: latencies_ms.length,
    p50_ms: at(0.5),
    p99_ms: at(0.99),
    p999_ms: at(0.999),
    max_ms: latencies_ms[latencies_ms.length - 1]!,
    stalls: latencies_ms.filter((l) => l >= stall_ms).length,
  };
}

async function probe(file: string, seconds: number): Promise<FsyncSummary> {
  const fd = openSync(file, 'a', 0o600);
  const latencies_ms: number[] = [];
  const chunk = Buffer.alloc(write_bytes, 'x');
  try {
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      writeSync(fd, chunk);
      const t = performance.now();
      fsyncSync(fd);
      latencies_ms.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, gap_ms));
    }
  } finally {
    closeSync(fd);
    unlinkSync(file);
  }
  return summariseFsyncs(latencies_ms);
}

function spinners(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, busy: { type: 'string', default: '0,3' }, dir: { type: 'string', default: join(repo_root, '.data') } } });
  const seconds = Number(values.seconds);
  const busy = values.busy.split(',').map(Number);
  if (!(seconds > 0 && seconds <= 600)) throw new Error('--seconds: 1 to 600');
  if (!busy.every((n) => Number.isInteger(n) && n >= 0 && n <= busy_max)) throw new Error(`--busy: a list of 0 to ${busy_max}`);
  mkdirSync(values.dir, { recursive: true });
  const file = join(values.dir, `fsync-probe-${process.pid}`);
  for (const n of busy) {
    const children = spinners(n);
    try {
      const s = await probe(file, seconds);
      process.stdout.write(`${n} spinning: ${s.fsyncs} fsyncs of ${write_bytes} B  p50 ${s.p50_ms.toFixed(2)} ms  p99 ${s.p99_ms.toFixed(2)}  p99.9 ${s.p999_ms.toFixed(2)}  max ${s.max_ms.toFixed(2)}  ≥ ${stall_ms} ms: ${s.stalls}\n`);
    } finally {
      for (const c of children) c.kill('SIGKILL');
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
