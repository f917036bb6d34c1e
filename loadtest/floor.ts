// `npm run floor -- [--duration 10] [--rounds 2] [--connections 32] [--rate <req/s>]`: the floor of a purchase's
// shape on this machine (floor-server.ts), measured as the loadtest measures the gateway:
// autocannon on the same cores, routes alternated A B C D A B C D so that whatever else the
// machine does falls on all alike. Prints each route's throughput as a ratio of the empty route
// and its CPU per request (server process, Redis, PostgreSQL), medians of the rounds. With
// --rate every route runs at that fixed rate instead (the latency floor: the loadtest's p99
// target is at half the purchase's own maximum), and Redis's stalls are printed beside each.

import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import postgres from 'postgres';
import { connectRedis } from '../processor/stores.ts';
import { cpuMs, median, postgresCpuMs, postmasterPid, redisCpuMs } from './measure.ts';
import { floor_body } from './population.ts';
import { startChild, type Child } from './processes.ts';
import { formatStalls, readStalls, stall_threshold_ms, startStallWatch } from './redis-stalls.ts';

const { values: opt } = parseArgs({ options: { duration: { type: 'string', default: '10' }, rounds: { type: 'string', default: '2' }, connections: { type: 'string', default: '32' }, rate: { type: 'string' } } });
const rate = opt.rate === undefined ? undefined : Number(opt.rate);
if (rate !== undefined && !(rate >= 1)) throw new Error('--rate must be a positive number of requests per second');
const duration_s = Number(opt.duration);
const rounds = Number(opt.rounds);
const connections = Number(opt.connections);
if (!(duration_s >= 1 && rounds >= 1 && connections >= 1)) throw new Error('--duration, --rounds and --connections must be positive numbers');

const redis_url = process.env.REDIS_URL;
const database_url = process.env.DATABASE_URL;
if (redis_url === undefined || database_url === undefined) throw new Error('REDIS_URL and DATABASE_URL (npm run floor provides them)');

/** Each server its own Redis database: the ledger variant drains only its own streams. */
function dbUrl(db: number): string {
  const u = new URL(redis_url!);
  u.pathname = `/${db}`;
  return u.toString();
}

interface Target {
  readonly name: string;
  readonly path: string;
  readonly server: Child;
  readonly ledger: boolean;
}

interface Sample {
  readonly rps: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly server_us: number;
  readonly redis_us: number;
  readonly postgres_us: number;
  readonly stalls: string;
}


async function measure(t: Target, redis: Awaited<ReturnType<typeof connectRedis>>, postmaster: number | undefined): Promise<Sample> {
  const pid = t.server.process.pid;
  const [cpu0, r0, pg0] = [cpuMs(pid), await redisCpuMs(redis), postgresCpuMs(postmaster) ?? 0];
  const watch = await startStallWatch(redis, stall_threshold_ms);
  const from_s = Math.floor(Date.now() / 1000);
  // autocannon answers with a thenable (no `finally`): awaited in a try.
  let result: autocannon.Result;
  try {
    result = await autocannon({ url: t.server.url + t.path, method: 'POST', connections, duration: duration_s, headers: { 'content-type': 'application/json' }, body: floor_body, ...(rate === undefined ? {} : { overallRate: rate }) });
  } finally {
    await watch.stop();
  }
  const stalls = await readStalls(redis, from_s, Math.ceil(Date.now() / 1000));
  // The ledger variant's drain is still writing what the run left: it is part of the run's cost,
  // and a drain that failed or fell behind is not a floor.
  if (t.ledger) await drained(ledger_ok += result['2xx']);
  const [cpu1, r1, pg1] = [cpuMs(pid), await redisCpuMs(redis), postgresCpuMs(postmaster) ?? 0];
  const n = Math.max(1, result['2xx']);
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${t.name}: ${result.non2xx} non-2xx, ${result.errors} errors:\n${t.server.output()}`);
  return {
    rps: result.requests.average,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    stalls: formatStalls(stalls, duration_s, stall_threshold_ms),
    server_us: ((cpu1 - cpu0) * 1000) / n,
    redis_us: ((r1.user + r1.sys - r0.user - r0.sys) * 1000) / n,
    postgres_us: t.ledger ? ((pg1 - pg0) * 1000) / n : 0,
  };
}

/** Approved requests of the ledger variant so far: every one must be a row by then. */
let ledger_ok = 0;

async function drained(expected: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from floor_entries`;
    if (row!.n >= expected) return;
    if (Date.now() > deadline) throw new Error(`the ledger drain wrote ${row!.n} of ${expected} rows within 10 s`);
  }
}

const redis = await connectRedis(redis_url);
await redis.flushAll();
const sql = postgres(database_url, { max: 1, onnotice: () => {} });
const postmaster = await postmasterPid(sql);
const children: Child[] = [];
try {
  const plain = await startChild('loadtest/floor-server.ts', 18_301, { REDIS_URL: dbUrl(2) }, { ready_path: '/empty' });
  children.push(plain);
  const ledger = await startChild('loadtest/floor-server.ts', 18_302, { REDIS_URL: dbUrl(3), DATABASE_URL: database_url, FLOOR_LEDGER: '1' }, { ready_path: '/empty' });
  children.push(ledger);
  const targets: Target[] = [
    { name: 'empty route', path: '/empty', server: plain, ledger: false },
    { name: 'body + 1 EVALSHA (contact shard)', path: '/one', server: plain, ledger: false },
    { name: 'body + claim + EVALSHA (2 slots)', path: '/two', server: plain, ledger: false },
    { name: 'the same + ledger drain into PostgreSQL', path: '/two', server: ledger, ledger: true },
  ];
  const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const t of targets) {
      const s = await measure(t, redis, postmaster);
      samples.get(t.name)!.push(s);
      process.stderr.write(`round ${round} ${t.name}: ${Math.round(s.rps)} req/s, p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, server ${s.server_us.toFixed(0)} µs + Redis ${s.redis_us.toFixed(0)} + PostgreSQL ${s.postgres_us.toFixed(0)}\n  ${s.stalls}\n`);
    }
  }
  printTable(targets, samples);
} finally {
  for (const c of children) await c.stop();
  await redis.close();
  await sql.end();
}

function printTable(targets: readonly Target[], samples: ReadonlyMap<string, readonly Sample[]>): void {
  const m = (name: string, f: (s: Sample) => number) => median(samples.get(name)!.map(f));
  const empty = m(targets[0]!.name, (s) => s.rps);
  const lines = [
    `floor of the purchase's shape, ${new Date().toISOString()}, ${rounds} rounds of ${duration_s} s, ${connections} connections${rate === undefined ? '' : `, ${rate} req/s`} (medians)`,
    '',
    '| route | req/s | / empty | p50 ms | p99 ms | CPU µs per request: server + Redis + PostgreSQL |',
    '|---|---:|---:|---:|---:|---|',
  ];
  for (const t of targets) {
    const rps = m(t.name, (s) => s.rps);
    const [sv, rd, pg] = [m(t.name, (s) => s.server_us), m(t.name, (s) => s.redis_us), m(t.name, (s) => s.postgres_us)];
    lines.push(`| ${t.name} | ${Math.round(rps).toLocaleString('en')} | ${(rps / empty).toFixed(2)} | ${m(t.name, (s) => s.p50_ms)} | ${m(t.name, (s) => s.p99_ms)} | ${Math.round(sv + rd + pg)} (${Math.round(sv)} + ${Math.round(rd)} + ${Math.round(pg)}) |`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}
