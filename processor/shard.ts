// Running a shard script: the keys and arguments every one of them takes (see hot/lib.lua), and
// the translation of its answer into a reply or a refusal.

import { PocketgateError, type ErrorCode } from '../core/errors.ts';
import { contactKey, journalKey, lotsKey, transactionKey } from './hot/keys.ts';
import { parseRecord, type RecordValue, type ReferenceSlot } from './hot/references.ts';
import type { Script } from './hot/script.ts';
import { recordEntries } from './ledger/writer.ts';
import type { Stores } from './stores.ts';

export interface Reply {
  readonly status: number;
  /** The JSON body, written once; a replay returns the stored bytes unchanged. */
  readonly body: string;
  readonly replayed: boolean;
  /** What a script answered beyond its reply (a purchase: first purchase, awards accepted). */
  readonly extra?: readonly string[];
}

/** A backstop only: the ledger writer deletes the pending entry as soon as it is recorded. */
export const pending_entry_ttl_seconds = '86400';

export interface ShardCall {
  readonly business_id: string;
  /** Where the request's reference is remembered (the one its claim used). */
  readonly slot: ReferenceSlot;
  readonly contact_id: string;
  readonly shard: number;
  readonly id: string;
  readonly now_ms: number;
  /** The reply, with \u0001name\u0001 holes the script fills (balances after, amounts it decided). */
  readonly reply: string;
  /** The journal entry, with holes like the reply's. */
  readonly entry: string;
  readonly keys?: readonly string[];
  readonly args: readonly (string | Buffer)[];
}

/**
 * DURABILITY=sync: record a transaction the script has just committed in PostgreSQL before the
 * reply goes out, through the ledger writer's own idempotent insert (the writer finds it there
 * later and skips it). The entry is read back from the journal by the id the script answered:
 * only this mode pays that round trip, and the script's answer stays as small as in async mode.
 * An entry already gone means the writer recorded it first and trimmed it. If PostgreSQL fails,
 * the caller gets an error although the transaction stands in Redis: the writer records it
 * later, and a retry of the request gets its reply as a replay.
 */
async function recordNow(stores: Stores, shard: number, journal_id: string, reply: string): Promise<void> {
  const entry = await journalEntry(stores, shard, journal_id);
  if (entry === null) return;
  try {
    await recordEntries(stores.sql, [{ shard, stream_id: journal_id, entry, reply }]);
  } catch {
    throw new PocketgateError('unavailable', 'the ledger could not record this transaction now; it will, and a retry gets its reply');
  }
}

/** The journal entry (JSON) under `journal_id` in the shard's journal, or null once trimmed. */
export async function journalEntry(stores: Stores, shard: number, journal_id: string): Promise<string | null> {
  const found = (await stores.redis.sendCommand(['XRANGE', journalKey(shard), journal_id, journal_id])) as [string, string[]][];
  const fields = found[0]?.[1];
  if (fields === undefined) return null;
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'e') return fields[i + 1]!;
  return null;
}

/**
 * The reply of a transaction the ledger has recorded (the hot path keeps only its record then).
 * PostgreSQL down: 503, and the retry gets it once PostgreSQL is back.
 */
async function recordedReply(stores: Stores, id: string): Promise<string> {
  let rows: { reply: string | null }[];
  try {
    rows = await stores.sql<{ reply: string | null }[]>`select reply::text as reply from ledger_transactions where id = ${id}`;
  } catch {
    throw new PocketgateError('unavailable', 'the ledger holds this reference’s reply and cannot be read now; try again');
  }
  const reply = rows[0]?.reply;
  if (reply === null || reply === undefined) throw new PocketgateError('unavailable', `transaction ${id} is neither in the journal nor in the ledger`);
  return reply;
}

/** The record a reference has on `shard` in the hot window: raw ('!': reversed before it came). */
export async function readRecord(stores: Stores, shard: number, slot: ReferenceSlot): Promise<string | undefined> {
  const found = await Promise.all(slot.record_keys(shard).map((key) => stores.redis.sendCommand(['HGET', key, slot.field]) as Promise<string | null>));
  return found.find((v) => v !== null) ?? undefined;
}

/** The reply of the transaction a reference names on `shard`, if it was approved. */
export async function replayOf(stores: Stores, shard: number, slot: ReferenceSlot): Promise<Reply | undefined> {
  const record: RecordValue | undefined = parseRecord(await readRecord(stores, shard, slot));
  if (record === undefined) return undefined;
  const journal_id = await stores.redis.get(transactionKey(shard, record.id));
  const pending = journal_id === null ? null : await journalReply(stores, shard, journal_id);
  return { status: 201, body: pending ?? (await recordedReply(stores, record.id)), replayed: true };
}

async function journalReply(stores: Stores, shard: number, journal_id: string): Promise<string | null> {
  const found = (await stores.redis.sendCommand(['XRANGE', journalKey(shard), journal_id, journal_id])) as [string, string[]][];
  const fields = found[0]?.[1];
  if (fields === undefined) return null;
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'r') return fields[i + 1]!;
  return null;
}

/** A hole the script fills: `name` of letters and digits only (lib.lua's fill matches %w+, no '_'). */
export function hole(name: string): string {
  return `\u0001${name}\u0001`;
}

/** How every reply ends: the wallet after the transaction, filled in by the script's commit. */
export const wallet_tail = `"wallet":{"open":${hole('open')},"commerce":${hole('commerce')}}}`;

export async function runShard(stores: Stores, script: Script, call: ShardCall): Promise<Reply> {
  const { config, redis } = stores;
  const s = call.shard;
  const result = await script.run<string[]>(
    redis,
    [contactKey(s, call.contact_id), lotsKey(s, call.contact_id), ...call.slot.record_keys(s), transactionKey(s, call.id), journalKey(s), ...(call.keys ?? [])],
    [call.slot.field, call.business_id, call.id, String(call.now_ms), String(call.slot.ttl_ms), String(config.journal_length_max), pending_entry_ttl_seconds, call.reply, call.entry, ...call.args],
  );
  switch (result[0]) {
    case 'ok':
      if (config.durability === 'sync') await recordNow(stores, s, result[2]!, result[1]!);
      return { status: 201, body: result[1]!, replayed: false, extra: result.slice(3) };
    case 'empty':
      // The script found nothing to do (an award transaction whose every award was refused).
      return { status: 204, body: '', replayed: false };
    case 'replay':
      return { status: 201, body: result[1]!, replayed: true };
    case 'recorded':
      return { status: 201, body: await recordedReply(stores, result[1]!), replayed: true };
    case 'conflict':
      throw new PocketgateError('idempotency_conflict', 'this reference was used for a different request');
    case 'contact_not_found':
      throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
    case 'unavailable':
      throw new PocketgateError('unavailable', 'the ledger is behind; try again shortly');
    case 'refused':
      throw new PocketgateError(result[1] as ErrorCode);
    case 'no_template':
      // A bug in the caller, refused before the script wrote anything.
      throw new Error('shard script called without its reply or journal entry template');
    default:
      throw new Error(`unexpected shard script reply ${String(result[0])}`);
  }
}
