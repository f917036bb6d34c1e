// Rebuild: reload from PostgreSQL what the hot path needs into a Redis that lost its data
// (spec/OPERATIONS.md `npm run rebuild`). Refuses a Redis that holds Pocketgate data unless
// forced; forced, it first waits for the ledger to hold every journal entry (balances are set
// from the ledger, so an entry not yet in it would be lost), then overwrites what it loads.
//
// What it loads: the business network and each business's rewards snapshot (offers, auto
// schemes, tiers: network-load.ts, as a gateway loads them at its start), contacts (hash, lots,
// cap counters, expiry index, CIM index with wallet and contact codes: rebuild-contacts.ts), the
// hot window's references, claims and refund/reversal states (rebuild-references.ts), budgets
// spent, the merchants' contribution fee carries (rebuild-fee-carries.ts), and the journal
// streams with their writers' group.

import { budgetKey, console_stats_prefix, event_claim_prefix, journal_group, journalKey } from '../hot/keys.ts';
import { network_loaded_key, network_prefix, rebuilding_prefix } from '../network-layout.ts';
import { offersAwarded } from '../offer-awarded.ts';
import { loadedValue, loadNetworkIntoRedis, markBusinesses, type NetworkCounts, type NetworkKind } from '../network-load.ts';
import type { ProcessorConfig, RedisClient, Sql } from '../stores.ts';
import { journalMarks, waitForLedger } from './caught-up.ts';
import { lease_prefix } from './lease.ts';
import { probe_key } from '../redis-health.ts';
import { checkLedgerSettings, checkRedisSettings, settings_key } from '../settings.ts';
import { appendedSinceMarks, dropMarks, markJournals } from './rebuild-meanwhile.ts';
import { rebuildContacts, type ContactsLoaded } from './rebuild-contacts.ts';
import { rebuildFeeCarries } from './rebuild-fee-carries.ts';
import { rebuildRecords, rebuildRefusals, rebuildStates } from './rebuild-references.ts';

export interface RebuildOptions {
  readonly force: boolean;
  /** Forced: how long to wait for the ledger to hold every journal entry. */
  readonly wait_ms: number;
  readonly now_ms: number;
  readonly onPhase?: (label: string, total: number) => void;
  readonly onProgress?: (done: number) => void;
  /** The network's copy, kind by kind (its own progress: it counts rows of several tables). */
  readonly onNetwork?: (kind: NetworkKind, done: number, total: number) => void;
  /** Forced over a Redis with data: the wait for the ledger begins (up to wait_ms, silent until then). */
  readonly onLedgerWait?: () => void;
}

export type RebuildResult =
  | ({
      readonly outcome: 'rebuilt';
      readonly network: NetworkCounts;
      readonly records: number;
      readonly states: number;
      readonly refusals: number;
      readonly budgets: number;
      /** Merchants' fee carries written, one per merchant and shard whose fees' floors left something. */
      readonly fee_carries: number;
      /**
       * Forced: journal entries the hot path appended while rebuild ran (transactions, refusals,
       * expiries). Not 0: a contact whose page was written from the ledger as it was before such a
       * transaction of its own lacks it in Redis (its lots replayed without it).
       */
      readonly appended_meanwhile: number;
    } & ContactsLoaded)
  | { readonly outcome: 'refused'; readonly key: string }
  | { readonly outcome: 'wait_timeout' }
  /** Another rebuild runs on this database: two would overwrite each other's Redis writes. */
  | { readonly outcome: 'busy' };

/** Any constant: rebuild's advisory lock among the database's, pg_try_advisory_lock(int, int). */
export const rebuild_lock_namespace = 728_350;

/**
 * One rebuild at a time on a database: the lock is its session's, held on a connection of its
 * own, so a rebuild killed at any moment frees it with its connection.
 */
export async function rebuild(redis: RedisClient, sql: Sql, config: ProcessorConfig, options: RebuildOptions): Promise<RebuildResult> {
  // The lock's session is taken out of the pool for the whole rebuild: alone, the rest would wait for ever.
  if (!(sql.options.max >= 2)) throw new Error(`rebuild needs a PostgreSQL pool of 2 connections or more (one holds its lock); this one has ${sql.options.max}`);
  const session = await sql.reserve();
  try {
    const [held] = await session<{ locked: boolean }[]>`select pg_try_advisory_lock(${rebuild_lock_namespace}, 0) as locked`;
    if (held?.locked !== true) return { outcome: 'busy' };
    try {
      return await rebuildLocked(redis, sql, config, options);
    } finally {
      // Failing, the session is gone, and its lock with it.
      await session`select pg_advisory_unlock(${rebuild_lock_namespace}, 0)`.catch(() => undefined);
    }
  } finally {
    session.release();
  }
}

async function rebuildLocked(redis: RedisClient, sql: Sql, config: ProcessorConfig, options: RebuildOptions): Promise<RebuildResult> {
  const found = await pocketgateKey(redis, config.shard_count);
  // What a rebuild killed before its end left (its mark still there) is loaded again from the
  // start, without --force: no gateway served it meanwhile (loadNetworkIfMissing, the probes).
  const unfinished = found !== null && ((await redis.get(network_loaded_key)) ?? '').startsWith(rebuilding_prefix);
  if (found !== null && !unfinished && !options.force) return { outcome: 'refused', key: found };
  // Forced over a Redis the POS path serves from, which it goes on doing meanwhile.
  const serving = found !== null && !unfinished;
  // The ledger's tokens were made with one CIM key: loaded with another, no CIM finds its contact.
  await checkLedgerSettings(sql, config);
  // A Redis rebuild fills anew takes this SHARDS (the way to change it), unless a gateway started
  // on it already wrote its own: that gateway serves with them still. Forced over data laid out
  // with another, it would write contacts beside their old shards'.
  await checkRedisSettings(redis, config, found === null ? 'adopt' : 'check');
  // Marked before the wait: an entry appended during it may reach the ledger after its contact is
  // read, so it counts as appended meanwhile (more than were missed, rather than fewer).
  const journals = Array.from({ length: config.shard_count }, (_, s) => journalKey(s));
  // Unfinished too: the processes' sweeps (expiries, referral awards) may have journaled on it.
  const marks = found === null ? [] : await markJournals(redis, journals);
  if (found !== null) options.onLedgerWait?.();
  if (found !== null && !(await waitForLedger(redis, await journalMarks(redis, config.shard_count), options.wait_ms))) {
    await dropMarks(redis, journals);
    return { outcome: 'wait_timeout' };
  }
  // Over a Redis that lost its data the POS path waits ('loading': network_loaded_key holds this
  // rebuild's mark, written over a gateway's copy) until everything is loaded, not only the
  // network: marked loaded with the network, the gateways answered the contacts not loaded yet 404
  // contact_not_found, for good, during every rebuild and after one killed (a black-box probe,
  // 2026-12-05). One key, so that one write ends the wait (two, cut in between, left a serving
  // Redis looking unfinished: a review).
  if (!serving) await redis.set(network_loaded_key, `${rebuilding_prefix}${new Date(options.now_ms).toISOString()}`);

  const network = await loadNetworkIntoRedis({ redis, sql }, options.onNetwork, false);

  const [{ n: contacts } = { n: 0 }] = await sql<{ n: number }[]>`select count(*)::int4 as n from contacts`;
  options.onPhase?.('contacts', contacts);
  const loaded = await rebuildContacts(redis, sql, config, options.force || unfinished, options.now_ms, (n) => options.onProgress?.(n));
  const [{ n: window } = { n: 0 }] = await sql<{ n: number }[]>`select count(*)::int4 as n from ledger_transactions where created_at >= ${new Date(options.now_ms - config.reply_ttl_seconds * 1500)}`;
  options.onPhase?.('references', window);
  let read = 0;
  const records = await rebuildRecords(redis, sql, config, options.now_ms, (n) => options.onProgress?.((read += n)));
  // Four statements over the ledger, each a step: the bar stood at the references' 100% while the
  // fee carries ran for 15 minutes (a rebuild probe, 2026-12-06).
  options.onPhase?.('originals\' states, refusals, budgets, fee carries', 4);
  const states = await rebuildStates(redis, sql, config, options.now_ms);
  options.onProgress?.(1);
  const refusals = await rebuildRefusals(redis, sql, config, options.now_ms);
  options.onProgress?.(2);
  const budgets = await rebuildBudgets(redis, sql, config.shard_count);
  options.onProgress?.(3);
  const fee_carries = await rebuildFeeCarries(redis, sql, config.shard_count);
  options.onProgress?.(4);
  await createJournals(redis, config.shard_count);
  // Every business whole again: a gateway started on this Redis before the rebuild marked those
  // whose contacts it lacked (loadNetworkIfMissing).
  await markBusinesses({ redis, sql }, false);
  await redis.set(network_loaded_key, loadedValue(network));
  // Over an empty Redis nothing is lost: the POS path takes nothing until it is all loaded.
  const appended_meanwhile = found === null ? 0 : await appendedSinceMarks(redis, journals, marks);
  return { outcome: 'rebuilt', network, ...loaded, records, states, refusals, budgets, fee_carries, appended_meanwhile };
}

/**
 * A key of Pocketgate's in Redis, or null: anything but an empty journal or a writer's lease (a
 * writer makes those as soon as it runs), the business network (a gateway started on the empty
 * Redis copies it from PostgreSQL at once, as rebuild does), the console's traffic counts (a
 * gateway's, any second), callback event claims (leases of seconds), the readiness probe's
 * timestamp (redis-health.ts) and the settings a gateway started on it wrote (settings.ts).
 */
export async function pocketgateKey(redis: RedisClient, shard_count: number): Promise<string | null> {
  const journals = new Set(Array.from({ length: shard_count }, (_, s) => journalKey(s)));
  let cursor = '0';
  do {
    const reply = await redis.scan(cursor, { COUNT: 1_000 });
    cursor = String(reply.cursor);
    for (const key of reply.keys) {
      if (key === probe_key || key === settings_key || key.startsWith(network_prefix) || key.startsWith(lease_prefix) || key.startsWith(console_stats_prefix) || key.startsWith(event_claim_prefix)) continue;
      if (!journals.has(key) || (await redis.xLen(key)) > 0) return key;
    }
  } while (cursor !== '0');
  return null;
}

/**
 * What each budgeted offer has awarded (budget.lua's `b:` key), as a budget added by a PATCH is
 * seeded (offer-awarded.ts): its awards in the ledger (and in any journal entry not in it yet),
 * less those of reversed purchases. Reservations the hot path gave back never reached it; those
 * it failed to give back are not counted again, so an offer may award up to its budget once more
 * of what was lost. Written a pipeline of 1,000 at a time; an offer that awarded nothing has none.
 */
async function rebuildBudgets(redis: RedisClient, sql: Sql, shard_count: number): Promise<number> {
  const budgeted = await sql<{ id: string }[]>`select id from offers where jsonb_typeof(body->'limits'->'budget') = 'number' and not hidden order by id`;
  const awarded = [...(await offersAwarded({ redis, sql, shard_count }, budgeted.map((o) => o.id)))];
  for (let i = 0; i < awarded.length; i += 1_000) {
    const multi = redis.multi();
    for (const [offer_id, amount] of awarded.slice(i, i + 1_000)) {
      if (amount > 0) multi.set(budgetKey(offer_id), String(amount));
      else multi.del(budgetKey(offer_id));
    }
    await multi.execAsPipeline();
  }
  return awarded.filter(([, amount]) => amount > 0).length;
}

/** The shards' journals with the writers' group, from the start (as the writer makes them). */
async function createJournals(redis: RedisClient, shard_count: number): Promise<void> {
  for (let s = 0; s < shard_count; s++) {
    await redis.sendCommand(['XGROUP', 'CREATE', journalKey(s), journal_group, '0', 'MKSTREAM']).catch((err: Error) => {
      if (!String(err.message).startsWith('BUSYGROUP')) throw err;
    });
  }
}
