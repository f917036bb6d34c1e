// The faults, one per scenario: each injects its fault while the load runs, holds it, ends it,
// and says when it began and when the system was back (the moment catch-up is counted from).

import { journal_group, journalKey } from '../../processor/hot/keys.ts';
import { connectPostgres, type RedisClient } from '../../processor/stores.ts';
import { startGateway, type Child } from './children.ts';
import { within } from './checks.ts';
import { sleep, waitUntil } from './exec.ts';
import type { SuiteStores } from './stores.ts';

export interface Durations {
  /** Redis down between its SIGKILL and its restart. */
  readonly redis_down_s: number;
  readonly pg_stop_s: number;
  readonly terminate_s: number;
  readonly terminate_every_s: number;
  readonly oom_s: number;
  readonly freeze_s: number;
}

export const full_durations: Durations = { redis_down_s: 2, pg_stop_s: 30, terminate_s: 20, terminate_every_s: 2, oom_s: 10, freeze_s: 10 };

/** What a scenario acts on. `writer` is the standalone writer, when the scenario runs one. */
export interface FaultContext {
  readonly stores: SuiteStores;
  readonly base_url: string;
  readonly redis: RedisClient;
  readonly shard_count: number;
  readonly gateway: Child;
  readonly writer: Child | undefined;
}

export interface FaultTimes {
  readonly fault_at: number;
  readonly recovered_at: number;
  /** What the fault found, for the log. */
  readonly note?: string;
}

export interface Scenario {
  readonly name: string;
  /** Where the ledger writer runs: in the gateway, standalone, or either. */
  readonly writer: 'gateway' | 'standalone' | 'any';
  /** One process's death: the catch-up target (≤ 5 s) applies. */
  readonly process_death: boolean;
  /** PostgreSQL unreachable: every POS request answered as without the outage, none over 2 s. */
  readonly pg_outage: boolean;
  run(ctx: FaultContext, d: Durations): Promise<FaultTimes>;
}

/** Entries delivered to a writer and not yet acknowledged, over all shards: a batch in hand. */
async function pendingEntries(redis: RedisClient, shard_count: number): Promise<number> {
  // All shards at once (node-redis pipelines them): one round trip, so that a batch seen held is
  // still held when the kill follows.
  const replies = await Promise.all(Array.from({ length: shard_count }, (_, shard) => redis.sendCommand(['XPENDING', journalKey(shard), journal_group]) as Promise<[number, ...unknown[]]>));
  return replies.reduce((n, reply) => n + Number(reply[0]), 0);
}

/** Waits (at most 5 s) for a batch in hand, SIGKILLs `child`, and says whether the batch was still held. */
async function killHoldingBatch(ctx: FaultContext, child: Child): Promise<{ fault_at: number; held: boolean }> {
  const pending = () => within(pendingEntries(ctx.redis, ctx.shard_count), 2_000);
  await waitUntil(async () => (await pending()) > 0, 5_000, 2);
  const fault_at = Date.now();
  await child.signal('SIGKILL');
  // Only the killed process reads the journal: what is pending now is what it held.
  return { fault_at, held: (await pending()) > 0 };
}

/** Kills before the gateway scenario settles for one that found its writer holding no batch (each is a restart). */
const gateway_kill_tries = 3;
/** Kills before the writer scenario settles likewise. */
const writer_kill_tries = 20;

const gatewayKill: Scenario = {
  name: 'gateway kill -9',
  writer: 'gateway',
  process_death: true,
  pg_outage: false,
  async run(ctx) {
    // Killed while its own ledger writer holds a batch: the case a catch-up depends on (what it
    // held waits for the next writer to claim it). A batch at this rate lasts milliseconds, so a
    // kill that found none is tried again, a few times.
    for (let attempt = 1; ; attempt++) {
      const { fault_at, held } = await killHoldingBatch(ctx, ctx.gateway);
      // Restarted at once, as a supervisor would; back when /readyz answers 200.
      await startGateway(ctx.gateway, ctx.base_url);
      if (held || attempt >= gateway_kill_tries) return { fault_at, recovered_at: Date.now(), note: held ? `its writer killed holding a batch (kill ${attempt})` : `its writer held no batch in ${attempt} kills` };
      await sleep(1_000);
    }
  },
};

const writerKill: Scenario = {
  name: 'writer kill -9 mid-batch',
  writer: 'standalone',
  process_death: true,
  pg_outage: false,
  async run(ctx) {
    const writer = ctx.writer;
    if (writer === undefined) throw new Error('the writer scenario needs the standalone writer');
    for (let attempt = 1; ; attempt++) {
      const { fault_at, held } = await killHoldingBatch(ctx, writer);
      writer.spawn();
      if (held || attempt >= writer_kill_tries) return { fault_at, recovered_at: Date.now(), note: held ? `killed holding a batch (kill ${attempt})` : `no batch in hand in ${attempt} kills` };
      await sleep(1_000);
    }
  },
};

const redisKill: Scenario = {
  name: 'Redis kill -9, restart (AOF)',
  writer: 'any',
  process_death: true,
  pg_outage: false,
  async run(ctx, d) {
    const fault_at = Date.now();
    await ctx.stores.redis.kill9();
    await sleep(d.redis_down_s * 1_000);
    await ctx.stores.redis.start();
    return { fault_at, recovered_at: Date.now() };
  },
};

const pgStop: Scenario = {
  name: 'PostgreSQL stopped',
  writer: 'any',
  process_death: false,
  pg_outage: true,
  async run(ctx, d) {
    const fault_at = Date.now();
    await ctx.stores.postgres.stop();
    await sleep(Math.max(0, fault_at + d.pg_stop_s * 1_000 - Date.now()));
    await ctx.stores.postgres.start();
    return { fault_at, recovered_at: Date.now() };
  },
};

const pgTerminate: Scenario = {
  name: 'PostgreSQL backends terminated',
  writer: 'any',
  process_death: false,
  pg_outage: false,
  async run(ctx, d) {
    const sql = connectPostgres(ctx.stores.postgres.url, 1);
    const fault_at = Date.now();
    try {
      while (Date.now() - fault_at < d.terminate_s * 1_000) {
        await within(sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'`, 5_000);
        await sleep(d.terminate_every_s * 1_000);
      }
    } finally {
      await sql.end({ timeout: 5 });
    }
    return { fault_at, recovered_at: Date.now() };
  },
};

const redisOom: Scenario = {
  name: 'Redis out of memory',
  writer: 'any',
  process_death: false,
  pg_outage: false,
  async run(ctx, d) {
    const redis = ctx.stores.redis;
    const fault_at = Date.now();
    // One byte: every command that may grow memory is refused (OOM), as on a full Redis.
    const set = await redis.cli('CONFIG', 'SET', 'maxmemory', '1');
    if (!set.output.includes('OK')) throw new Error(`CONFIG SET maxmemory: ${set.output}`);
    try {
      await sleep(d.oom_s * 1_000);
    } finally {
      const back = await redis.cli('CONFIG', 'SET', 'maxmemory', '0');
      if (!back.output.includes('OK')) throw new Error(`CONFIG SET maxmemory 0: ${back.output}`);
    }
    return { fault_at, recovered_at: Date.now() };
  },
};

const gatewayFreeze: Scenario = {
  name: 'gateway frozen (SIGSTOP)',
  writer: 'any',
  process_death: false,
  pg_outage: false,
  async run(ctx, d) {
    const fault_at = Date.now();
    await ctx.gateway.signal('SIGSTOP');
    try {
      await sleep(d.freeze_s * 1_000);
    } finally {
      await ctx.gateway.signal('SIGCONT');
    }
    return { fault_at, recovered_at: Date.now() };
  },
};

/** The full suite's order: the writer's scenario last, so the gateway is restarted without its writer once. */
export const all_scenarios: readonly Scenario[] = [gatewayKill, redisKill, pgStop, pgTerminate, redisOom, gatewayFreeze, writerKill];

/** `npm test`'s order: the two kills first, so that the claim of what they left pending overlaps the rest. */
export const short_order: readonly Scenario[] = [gatewayKill, writerKill, redisKill, pgStop, pgTerminate, redisOom, gatewayFreeze];

export const scenario_keys: Record<string, Scenario> = {
  'gateway-kill': gatewayKill,
  'writer-kill': writerKill,
  'redis-kill': redisKill,
  'pg-stop': pgStop,
  'pg-terminate': pgTerminate,
  'redis-oom': redisOom,
  'gateway-freeze': gatewayFreeze,
};
