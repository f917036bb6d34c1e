// The settings the stored data was made with, kept beside it, so that a process started with
// other ones refuses to run instead of quietly missing what is there. SHARDS, CIM_INDEX_BUCKETS and
// REFERENCE_BUCKETS lay Redis out (a contact's shard, a CIM's index bucket, a reference's claim
// bucket are hashes modulo them: with another count every wallet, CIM and reference of the hot
// window is looked for where it is not), and CIM_HMAC_KEY makes every CIM token in Redis and
// PostgreSQL (with another key no card, phone or email finds its contact again, and new ones are
// tokenised apart from the old). The layout may change with a new Redis filled by `npm run
// rebuild`, which lays it out anew; CIM_HMAC_KEY never can (the card numbers the old tokens came
// from are not stored anywhere).

import { createHmac } from 'node:crypto';
import { hmacKey } from '../core/cim.ts';
import type { RedisClient, Sql } from './stores.ts';

/** Redis's hash of the settings its data was laid out with. */
export const settings_key = 'settings';

export interface DataSettings {
  readonly shard_count?: number;
  readonly cim_index_buckets?: number;
  readonly reference_buckets?: number;
  /** Unset for a process that makes no token (a ledger writer without the gateways' settings). */
  readonly cim_hmac_key?: string;
}

/**
 * What tells two CIM_HMAC_KEYs apart without telling the key: an HMAC of a fixed text, 16
 * characters of it (96 bits: two keys alike in it by chance is not a worry).
 */
export function cimKeyCheck(cim_hmac_key: string): string {
  return createHmac('sha256', hmacKey(cim_hmac_key)).update('pocketgate: the CIM key check').digest('base64url').slice(0, 16);
}

function expected(settings: DataSettings): Map<string, string> {
  const fields = new Map<string, string>();
  if (settings.shard_count !== undefined) fields.set('shards', String(settings.shard_count));
  if (settings.cim_index_buckets !== undefined) fields.set('cim_index_buckets', String(settings.cim_index_buckets));
  if (settings.reference_buckets !== undefined) fields.set('reference_buckets', String(settings.reference_buckets));
  if (settings.cim_hmac_key !== undefined) fields.set('cim_key_check', cimKeyCheck(settings.cim_hmac_key));
  return fields;
}

/** The setting each field of Redis's hash is. */
const layout_settings: Readonly<Record<string, string>> = { shards: 'SHARDS', cim_index_buckets: 'CIM_INDEX_BUCKETS', reference_buckets: 'REFERENCE_BUCKETS' };

/** A setting other than the data's: the process must not run (a gateway found it only once PostgreSQL was back, too). */
export class SettingsMismatch extends Error {}

/** The one line an operator reads: which setting differs from the data's, and what to do. */
function mismatch(store: string, field: string, held: string, given: string): SettingsMismatch {
  const name = layout_settings[field];
  return name !== undefined
    ? new SettingsMismatch(`${name}=${given}, but ${store} holds data laid out for ${name}=${held}: start with ${name}=${held} (to change it, fill a new Redis with npm run rebuild)`)
    : new SettingsMismatch(`CIM_HMAC_KEY is not the key ${store}'s CIM tokens were made with (no card, phone or email would find its contact): start with the key it was made with`);
}

/**
 * How a process treats Redis's settings: `adopt` writes those it does not hold yet (the first
 * process on a new Redis, rebuild filling one, or one from before this check) and checks the rest;
 * `check` only reads (reconcile changes nothing). None overwrites them: settings Redis holds were
 * written by a process that may still run with them (a gateway started on the Redis rebuild fills).
 */
export type SettingsMode = 'adopt' | 'check';

/** Redis's settings checked against these (see SettingsMode); a mismatch throws the operator's line. */
export async function checkRedisSettings(redis: RedisClient, settings: DataSettings, mode: SettingsMode = 'adopt'): Promise<void> {
  const fields = expected(settings);
  if (fields.size === 0) return;
  if (mode === 'adopt') {
    const multi = redis.multi();
    for (const [field, value] of fields) multi.hSetNX(settings_key, field, value);
    // A Redis refusing writes (out of memory, a read-only replica) still has its settings read: a
    // gateway starts on it all the same and answers 503 until it takes writes (OPERATIONS.md).
    await multi.exec().catch(() => {});
  }
  const held: unknown = await redis.hmGet(settings_key, [...fields.keys()]);
  // Read as anything but HMGET's answer (once, under a burst of Redis faults, a running gateway
  // read 'OK' and stopped, "laid out for SHARDS=O"): not a reading, and no mismatch.
  if (!Array.isArray(held) || held.length !== fields.size || held.some((v) => v !== null && typeof v !== 'string')) {
    throw new Error(`Redis answered the settings' HMGET with ${JSON.stringify(held)?.slice(0, 80)}: not read`);
  }
  [...fields].forEach(([field, value], i) => {
    const found = held[i];
    if (found !== null && found !== undefined && found !== value) throw mismatch('Redis', field, found, value);
  });
}

/** PostgreSQL's CIM key check (its contacts' tokens), written by the first process to run. */
export async function checkLedgerSettings(sql: Sql, settings: DataSettings): Promise<void> {
  if (settings.cim_hmac_key === undefined) return;
  const value = cimKeyCheck(settings.cim_hmac_key);
  await sql`insert into pocketgate_settings (name, value) values ('cim_key_check', ${value}) on conflict (name) do nothing`;
  const [row] = await sql<{ value: string }[]>`select value from pocketgate_settings where name = 'cim_key_check'`;
  if (row !== undefined && row.value !== value) throw mismatch('PostgreSQL', 'cim_key_check', row.value, value);
}

export interface SettingsWatchOptions {
  readonly interval_ms: number;
  /** `adopt` once the process may write its settings (a gateway: once PostgreSQL's were checked), `check` before. */
  readonly mode: () => SettingsMode;
  /** Told once, then the watch stops: the process must stop serving. */
  readonly onMismatch: (err: SettingsMismatch) => void;
}

export const settings_watch_interval_ms = 1_000;

/**
 * A running process's settings kept beside Redis's data after its start, every interval: a Redis
 * that restarted empty gets them again (adopt), so that `npm run rebuild` run with another SHARDS
 * refuses to lay it out for that while this process serves with its own; and settings written
 * meanwhile by another (rebuild adopting first) are found, and this process stops: once the next
 * interval reads the same mismatch again (settings another wrote stay; a reading garbled by a
 * connection dropped under it does not stop a gateway). A Redis down, loading or refusing writes
 * is the readiness probe's to tell: the next interval tries again.
 */
export function watchRedisSettings(redis: RedisClient, settings: DataSettings, options: SettingsWatchOptions): () => void {
  if (!(options.interval_ms > 0)) throw new RangeError('watchRedisSettings: interval_ms must be positive');
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let seen: string | undefined;
  const tick = async () => {
    try {
      await checkRedisSettings(redis, settings, options.mode());
      seen = undefined;
    } catch (err) {
      const mismatch = err instanceof SettingsMismatch ? err.message : undefined;
      if (mismatch !== undefined && mismatch === seen && !stopped) {
        stopped = true;
        return options.onMismatch(err as SettingsMismatch);
      }
      seen = mismatch;
    }
    schedule();
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void tick(), options.interval_ms);
    timer.unref();
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
