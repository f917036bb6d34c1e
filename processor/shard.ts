// A shard script's outcome (hot/shard-script.ts) as the command's reply, or its refusal; and the
// replies of transactions the hot window remembers.

import { PocketgateError, type ErrorCode } from '../core/errors.ts';
import { journalKey, transactionKey } from './hot/keys.ts';
import { parseRecord, refusalOf, type RecordValue, type ReferenceSlot } from './hot/references.ts';
import type { Committed, ShardCall, ShardOutcome } from './hot/shard-script.ts';
import { recordEntries } from './ledger/writer.ts';
import { InFlight, sharedRead, within } from './in-flight.ts';
import { ledger_read_timeout_ms, posLedgerRead } from './ledger-reads.ts';
import { streamEntryFields } from './journal.ts';
import type { Stores } from './stores.ts';

export interface Reply {
  readonly status: number;
  /** The JSON body, written once; a replay returns the stored bytes unchanged. */
  readonly body: string;
  readonly replayed: boolean;
}

/** A reply to a shard script call: with what the script answered, when this call committed. */
export interface ShardReply<C extends Committed> extends Reply {
  readonly committed?: C;
}

/**
 * DURABILITY=sync's records of one process: bounded apart from the POS path's ledger reads, whose
 * 64 places they took until 2026-12-04 (a burst of sync purchases, or 100 copies of one, answered
 * 503 past the 64th though approved: a review). A transaction being recorded is recorded once: its
 * repeats wait for that insert, not one of their own on its row.
 */
const sync_records_in_flight_max = 4096;

interface SyncRecords {
  readonly in_flight: InFlight;
  readonly by_journal_id: Map<string, Promise<void>>;
}

const sync_records = new WeakMap<Stores, SyncRecords>();

function syncRecordsOf(stores: Stores): SyncRecords {
  let records = sync_records.get(stores);
  if (records === undefined) {
    const refused = () => new PocketgateError('unavailable', 'too many transactions waiting for the ledger');
    records = { in_flight: new InFlight(sync_records_in_flight_max, refused), by_journal_id: new Map() };
    sync_records.set(stores, records);
  }
  return records;
}

/**
 * DURABILITY=sync: record a transaction the script has just committed in PostgreSQL before the
 * reply goes out, through the ledger writer's own idempotent insert (the writer finds it there
 * later and skips it). The entry is read back from the journal by the id the script answered:
 * only this mode pays that round trip, and the script's answer stays as small as in async mode.
 * An entry already gone means the writer recorded it first and trimmed it. If PostgreSQL fails,
 * the caller gets an error although the transaction stands in Redis: the writer records it
 * later, and a retry of the request gets its reply as a replay. Waited for as the POS path's
 * reads of the ledger are (1.5 s, none while the probe finds PostgreSQL down): a PostgreSQL that
 * does not commit held the terminal as long as it did not (40 s seen, a lock held). The insert
 * given up on goes on, and a retry meanwhile waits for it.
 */
async function recordNow(stores: Stores, shard: number, journal_id: string, reply: string): Promise<void> {
  if (stores.postgres_health?.up === false) throw new PocketgateError('unavailable', 'the ledger (PostgreSQL) does not answer now; a retry gets this transaction’s reply');
  const records = syncRecordsOf(stores);
  const key = `${shard}\u0000${journal_id}`;
  let record = records.by_journal_id.get(key);
  if (record === undefined) {
    record = records.in_flight.run(() => insertNow(stores, shard, journal_id, reply)).finally(() => records.by_journal_id.delete(key));
    records.by_journal_id.set(key, record);
  }
  try {
    await within(record, ledger_read_timeout_ms);
  } catch {
    throw new PocketgateError('unavailable', 'the ledger could not record this transaction now; it will, and a retry gets its reply');
  }
}

async function insertNow(stores: Stores, shard: number, journal_id: string, reply: string): Promise<void> {
  const entry = (await journalRecord(stores, shard, journal_id))?.entry;
  if (entry !== undefined) await recordEntries(stores.sql, [{ shard, stream_id: journal_id, entry, reply }]);
}

/** The journal entry and reply (JSON each) under `journal_id` in the shard's journal, in one read; null once trimmed. */
export async function journalRecord(stores: Stores, shard: number, journal_id: string): Promise<{ entry?: string; reply?: string } | null> {
  const found = (await stores.redis.sendCommand(['XRANGE', journalKey(shard), journal_id, journal_id])) as [string, string[]][];
  const fields = found[0]?.[1];
  return fields === undefined ? null : streamEntryFields(fields);
}

/** Reads of recorded replies in flight, by transaction id, per stores (shared by the copies of one request). */
const recorded_reply_reads = new WeakMap<Stores, Map<string, Promise<string>>>();

/**
 * The reply of a transaction the ledger has recorded (the hot path keeps only its record then).
 * PostgreSQL down: 503, and the retry gets it once PostgreSQL is back. Copies of one request
 * arriving together share one read: each was a read of its own, and 100 copies at once (API.md's
 * "100 simultaneous copies") were refused 503 past the POS path's 64 ledger reads in flight
 * (a black-box probe, 2026-12-06).
 */
function recordedReply(stores: Stores, id: string): Promise<string> {
  let reads = recorded_reply_reads.get(stores);
  if (reads === undefined) recorded_reply_reads.set(stores, (reads = new Map()));
  return sharedRead(reads, id, () => readRecordedReply(stores, id));
}

async function readRecordedReply(stores: Stores, id: string): Promise<string> {
  let rows: { reply: string | null }[];
  try {
    // Bounded as every POS read of the ledger: a repeat waited as long as PostgreSQL did not
    // answer (up to 10 s seen with it stopped; a lock held, for as long as it was held).
    rows = await posLedgerRead(stores)(() => stores.sql<{ reply: string | null }[]>`select reply::text as reply from ledger_transactions where id = ${id}`);
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

/** The refusal `code` again, for a repeat of the request it refused (lib.lua refuse). */
export function replayedRefusal(code: ErrorCode): PocketgateError {
  const err = new PocketgateError(code);
  err.replayed = true;
  return err;
}

/**
 * The reply of the transaction a reference names on `shard`, if it was approved; its refusal
 * again (thrown) if the script refused it; undefined otherwise.
 */
export async function replayOf(stores: Stores, shard: number, slot: ReferenceSlot): Promise<Reply | undefined> {
  const raw = await readRecord(stores, shard, slot);
  const refused = refusalOf(raw);
  if (refused !== undefined) throw replayedRefusal(refused);
  const record: RecordValue | undefined = parseRecord(raw);
  if (record === undefined) return undefined;
  const journal_id = await stores.redis.get(transactionKey(shard, record.id));
  const pending = journal_id === null ? undefined : (await journalRecord(stores, shard, journal_id))?.reply;
  if (pending === undefined) return { status: 201, body: await recordedReply(stores, record.id), replayed: true };
  // As the script's replay: in DURABILITY=sync, answered once PostgreSQL has it.
  if (stores.config.durability === 'sync') await recordNow(stores, shard, journal_id!, pending);
  return { status: 201, body: pending, replayed: true };
}

/** `outcome`, noting in `answer` what the shard script answered once it does. */
export function answered<T extends { readonly outcome: string }>(outcome: Promise<T>, answer: { outcome?: string }): Promise<T> {
  return outcome.then((o) => {
    answer.outcome = o.outcome;
    return o;
  });
}

/**
 * Whether the budgets reserved for a shard script's awards may go back after its call failed:
 * only if it answered and did not commit ('ok' is a commit). A call with no answer may have
 * committed: its budgets stay reserved, an offer may then stop awarding a little before its
 * budget, never after it (API.md: never exceeded).
 */
export function mayGiveBack(answer: { readonly outcome?: string }): boolean {
  return answer.outcome !== undefined && answer.outcome !== 'ok';
}

/**
 * The reply of a shard script call on `shard` that answers `outcome`, or its refusal. A refusal
 * the script remembered under the request's reference it journaled for the ledger itself (lib.lua
 * refuse), the first time only: a repeat is refused as replayed.
 */
export function shardReply<C extends Committed>(stores: Stores, call: Pick<ShardCall<string>, 'shard'>, outcome: Promise<ShardOutcome<C>>): Promise<ShardReply<C>> {
  return outcome.then((o) => replyOf(stores, call.shard, o));
}

async function replyOf<C extends Committed>(stores: Stores, shard: number, o: ShardOutcome<C>): Promise<ShardReply<C>> {
  switch (o.outcome) {
    case 'ok':
      if (stores.config.durability === 'sync') await recordNow(stores, shard, o.journal_id, o.reply);
      return { status: 201, body: o.reply, replayed: false, committed: o };
    case 'empty':
      // The script found nothing to do (an award transaction whose every award was refused).
      return { status: 204, body: '', replayed: false };
    case 'replay':
      // Its first answer may still be waiting for PostgreSQL: a repeat is no earlier an approval.
      if (stores.config.durability === 'sync') await recordNow(stores, shard, o.journal_id, o.reply);
      return { status: 201, body: o.reply, replayed: true };
    case 'recorded':
      return { status: 201, body: await recordedReply(stores, o.id), replayed: true };
    case 'contact_not_found':
      throw new PocketgateError('contact_not_found', 'no contact has this CIM in this business');
    case 'unavailable':
      throw new PocketgateError('unavailable', 'the ledger is behind; try again shortly');
    case 'refused':
      if (o.replayed === true) throw replayedRefusal(o.code);
      throw new PocketgateError(o.code);
    case 'no_template':
      // A bug in the caller, refused before the script wrote anything.
      throw new Error('shard script called without its reply or journal entry template');
    case 'stale':
      // A bug in the caller too: a reversal reads its original again before it gets here.
      throw new Error('a shard script’s stale answer was not read again');
  }
}
