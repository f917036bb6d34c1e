// The ledger writer: drains every shard's journal stream through a consumer group into
// PostgreSQL, a batch per transaction, and acknowledges entries only after the commit.
//
// Exactly once, through crashes of any process:
// - an entry is XACKed only after the PostgreSQL transaction holding it committed;
// - inserts are idempotent (ON CONFLICT DO NOTHING on the transaction id, postings only for
//   transactions this statement inserted, in the same statement), so an entry written but not
//   acknowledged, or written by two writers at once, is recorded once: of two transactions
//   inserting one id, the second waits on the first's uncommitted row and then skips it (or
//   inserts it, postings and all, if the first rolled back); test/writer-takeover.test.ts holds
//   one open to check. This, not the leases below, is what makes a double record impossible;
// - the stream is trimmed only below the oldest entry not yet acknowledged.
//
// Recovery in seconds, through leases (lease.ts, takeover.ts). Each writer's consumer holds a
// lease, the key `writer:<consumer>` with a time to live of lease_ms (3 s), renewed every
// lease_ms / 3 by a timer, whatever the batch in hand is waiting for. Every lease_ms / 6 a writer
// looks at each shard's consumers (XINFO CONSUMERS): one that holds leases but whose key is gone
// is dead, and its pending entries are claimed at once (XPENDING for that consumer and XCLAIM in
// one script), then the consumer is deleted when it has none left. So a writer's entries are
// written again within about lease_ms + lease_ms / 6 of its death (kill -9 of a gateway or of a
// standalone writer, mid-batch or between COMMIT and XACK), by a writer alive or by its restart.
//
// A writer that lost its lease (frozen by SIGSTOP, its event loop stalled, Redis unreachable)
// stops writing and acknowledging: it checks, by its own clocks, that its key is certainly still
// in Redis before each COMMIT and each XACK, and holds the batch back if not. The key outlives
// that judgement, so a writer that passed the check had not been taken over at that moment; one
// that stalls after the check may commit while another writes the same entries, which the
// idempotent insert makes harmless. A lease once lost stays lost (renewals use SET XX, never
// bringing back a key that expired): the writer drops what it held and carries on under a new
// consumer name, deleting the old key so that its old entries are claimed at once, by itself or
// another. A name is never leased twice, so "no key" is final, and claiming needs no lock over
// both keys (one key per command: a Redis Cluster serves it).
//
// Consumers of older writers hold no lease: their entries are claimed (XAUTOCLAIM) once idle for
// claim_idle_ms (30 s), as are a live writer's that sat that long (a batch stuck that long is
// written by another; the insert being idempotent, the stuck one finding it done is harmless).

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { deadLetterKey, journal_group, journalKey, transactionKey } from '../hot/keys.ts';
import { rewards_terminal } from '../hot/references.ts';
import { streamEntryFields } from '../journal.ts';
import type { RedisClient, Sql } from '../stores.ts';
import type { Fragment, TransactionSql } from 'postgres';
import { webhooks_channel } from '../webhooks.ts';
import { WriterLease } from './lease.ts';
import { takeOverDead, type StreamEntries } from './takeover.ts';
import { streamGroup } from './stream-group.ts';

export interface WriterOptions {
  readonly shard_count: number;
  /**
   * Unique per running writer: its consumer is `<consumer>@<generation>`, a new generation after
   * each lease lost. Pending entries belong to it until claimed.
   */
  readonly consumer?: string;
  /**
   * Entries taken per shard per round, new, claimed and taken over together; bounds a batch at
   * shard_count × this.
   */
  readonly read_count_max?: number;
  /**
   * How long an entry may sit with a consumer before another writer takes it anyway: the only
   * way for consumers without a lease (older writers); a dead leased one's go after lease_ms.
   */
  readonly claim_idle_ms?: number;
  /** The liveness lease's time to live (module comment); renewed every third of it. */
  readonly lease_ms?: number;
  /**
   * Pause after a round that found less than a quarter of a full batch: lets entries gather, so
   * that a trickle of transactions costs one round of reads and one PostgreSQL transaction per
   * pause instead of one per entry. Bounds how long an entry waits for the ledger when idle.
   */
  readonly poll_idle_ms?: number;
  readonly trim_interval_ms?: number;
  /** Test hook: hold each batch this long before committing, to kill a writer mid-batch. */
  readonly commit_delay_ms?: number;
  /** Test hook: hold each batch this long after its commit, before XACK, to kill a writer there. */
  readonly ack_delay_ms?: number;
  readonly onError?: (err: unknown) => void;
  /** After each batch is committed and acknowledged; `items` are its entries (tests keep them). */
  readonly onBatch?: (entries: number, inserted: number, items: readonly JournalRecord[]) => void;
  /** An entry PostgreSQL refused on its own, or one the writer cannot read (transaction id ''), set aside on the shard's dead-letter stream. */
  readonly onDeadLetter?: (transaction_id: string, err: unknown) => void;
  /** The lease of `given_up` was lost: `dropped` entries held back go to whoever claims them; now `consumer`. */
  readonly onLeaseLost?: (given_up: string, consumer: string, dropped: number) => void;
}

interface Item extends JournalRecord {
  readonly id: string;
}

/** A journal entry the shard scripts write starts with its id (their templates are written so). */
const entry_id = /^\{"id":"([A-Za-z0-9_]{1,64})"/;

/** A stream entry that is not a journal entry the writer can read: no `e` field, or no id. */
interface Unreadable {
  readonly shard: number;
  readonly stream_id: string;
  readonly fields: readonly string[];
}

/**
 * Entries per statement: a batch of more (a writer catching up reads up to 256 per shard) is
 * several statements in one transaction. One statement of 256 costs PostgreSQL no more per entry
 * than eight of 32 (measured side by side), and is one round trip instead of ten.
 */
export const statement_entries_max = 256;

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint): the data, not the database. */
function isDataError(err: unknown): boolean {
  if (err instanceof UnstorableEntry) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/** An entry the ledger refuses before PostgreSQL sees it, as PostgreSQL refuses bad data. */
class UnstorableEntry extends Error {}

/** The journal entry's id, or undefined if it does not start with one. */
function entryId(entry: string): string | undefined {
  return entry_id.exec(entry)?.[1];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** XREADGROUP's entries, stream by stream: node-redis answers a map of stream → entries (RESP3 style), older servers an array of pairs. */
function streamEntries(reply: Record<string, StreamEntries> | [string, StreamEntries][] | null): StreamEntries[] {
  if (reply === null) return [];
  return Array.isArray(reply) ? reply.map((r) => r[1]) : Object.values(reply);
}

/** What must hold, or the writer's own code is wrong: the round fails, loudly, rather than go on. */
function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`ledger writer: broken invariant: ${message}`);
}

/** Every read settled before failing: entries a successful one delivered are in the round's items. */
async function settle(reads: Promise<void>[]): Promise<void> {
  const failed = (await Promise.allSettled(reads)).find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

export class LedgerWriter {
  private readonly lease: WriterLease;
  private readonly read_count_max: number;
  private readonly claim_idle_ms: number;
  private readonly poll_idle_ms: number;
  private readonly trim_interval_ms: number;
  private running = false;
  private loop: Promise<void> | undefined;
  private last_claim_ms = 0;
  private last_takeover_ms = 0;
  private last_trim_ms = 0;
  private groups_ready = false;
  /**
   * Entries of a round that failed, or held back for want of a lease: pending for this writer's
   * consumer. Retried first, before anything new is read, which also bounds them to a batch;
   * dropped if the lease is lost (whoever claims the old consumer's entries writes them).
   */
  private unwritten: Item[] = [];
  /**
   * Set when a round failed. A read Redis ran but whose answer never came back (the connection
   * cut under it, Redis frozen past the client's patience) delivered entries to this consumer
   * that the writer never saw. Pending on a consumer that is alive, no takeover returns them, and
   * the idle claim only after claim_idle_ms (30 s), all that time out of the ledger: so the next
   * round that reads starts with this consumer's own pending entries (XREADGROUP … 0).
   */
  private own_pending_unknown = false;
  /** Entries written since start: the tests and /metrics read it. */
  written = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly sql: Sql,
    private readonly options: WriterOptions,
  ) {
    this.lease = new WriterLease(redis, options.consumer ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`, options.lease_ms ?? 3_000);
    this.read_count_max = options.read_count_max ?? 256;
    this.claim_idle_ms = options.claim_idle_ms ?? 30_000;
    this.poll_idle_ms = options.poll_idle_ms ?? 10;
    this.trim_interval_ms = options.trim_interval_ms ?? 1_000;
  }

  /** The consumer this writer reads and claims as: a new one after each lease lost. */
  get consumer(): string {
    return this.lease.consumer;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lease.start();
    this.loop = this.run();
  }

  /** Finish the batch in hand, then stop, giving up the lease: what is left pending goes to others at once. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.lease.release().catch((err: unknown) => this.options.onError?.(err));
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        const n = await this.drainOnce();
        failures = 0;
        if (n < this.read_count_max / 4) await sleep(this.poll_idle_ms);
      } catch (err) {
        this.options.onError?.(err);
        // Back off while a store is down, bounded so that recovery is noticed within a second.
        failures++;
        await sleep(Math.min(10 * 2 ** failures, 1_000));
      }
    }
  }

  private async ensureGroups(): Promise<void> {
    if (this.groups_ready) return;
    await Promise.all(
      this.shards().map((s) =>
        this.redis.sendCommand(['XGROUP', 'CREATE', journalKey(s), journal_group, '0', 'MKSTREAM']).catch((err: Error) => {
          if (!String(err.message).startsWith('BUSYGROUP')) throw err;
        }),
      ),
    );
    this.groups_ready = true;
  }

  private shards(): number[] {
    return Array.from({ length: this.options.shard_count }, (_, i) => i);
  }

  /** One round: read (and claim) entries from every shard, write them, acknowledge them. */
  async drainOnce(): Promise<number> {
    await this.ensureGroups();
    await this.ensureLease();
    const now = Date.now();
    const items = this.unwritten;
    this.unwritten = [];
    try {
      if (items.length === 0) {
        const unreadable: Unreadable[] = [];
        // Set aside even when a pass failed: entries XAUTOCLAIM dropped as deleted are named once.
        await this.read(now, items, unreadable).finally(() => this.setAsideUnreadable(unreadable));
      }
      if (items.length > 0) {
        if (this.options.commit_delay_ms !== undefined) await sleep(this.options.commit_delay_ms);
        // Neither written nor acknowledged without the lease: they may be another writer's now.
        if (!this.lease.held()) return this.holdBack(items);
        const inserted = await this.writeOrSetAside(items);
        if (this.options.ack_delay_ms !== undefined) await sleep(this.options.ack_delay_ms);
        if (!this.lease.held()) return this.holdBack(items);
        await this.acknowledge(items);
        this.written += items.length;
        this.options.onBatch?.(items.length, inserted, items);
      }
    } catch (err) {
      this.unwritten = items;
      this.own_pending_unknown = true;
      // The group went with its stream (Redis lost its data, or the key was deleted) and the hot
      // path's next XADD made a stream without one: without creating the groups again (from 0,
      // so nothing appended since is skipped) this writer would fail every round from now on.
      if (err instanceof Error && err.message.startsWith('NOGROUP')) this.groups_ready = false;
      throw err;
    }
    if (now - this.last_trim_ms >= this.trim_interval_ms) {
      this.last_trim_ms = now;
      await this.trim();
    }
    return items.length;
  }

  /**
   * The lease, renewed or taken. Lost (the writer was frozen, or cut off from Redis, past it):
   * what this writer held back is dropped, since whoever claims the old consumer's entries writes
   * them, and the next takeover pass runs at once (the old consumer's entries are this writer's to
   * claim as much as any other's).
   */
  private async ensureLease(): Promise<void> {
    const before = this.consumer;
    try {
      await this.lease.ensure();
    } finally {
      // Even if taking the new lease failed: what was held under the old name is not this writer's.
      if (this.consumer !== before) {
        const dropped = this.unwritten.length;
        this.unwritten = [];
        this.last_takeover_ms = 0;
        this.options.onLeaseLost?.(before, this.consumer, dropped);
      }
    }
  }

  /** Entries not written or not acknowledged for want of the lease: kept until the next round decides. */
  private holdBack(items: Item[]): number {
    this.unwritten = items;
    return 0;
  }

  /**
   * A round's entries, at most read_count_max of each shard whatever their source: first those of
   * dead leased consumers (every lease_ms / 6), then those any consumer left pending past
   * claim_idle_ms, then new ones, each pass given only the room the passes before it left on the
   * shard. Claims go first because they run out (a dead consumer gets no new entries, one claimed
   * is this writer's until written) while new entries may fill every round of a writer catching
   * up: read first, they would keep a dead writer's entries pending for as long as that lasts.
   * What a pass has no room for stays as it is, pending or not yet delivered, for a later round.
   */
  private async read(now: number, items: Item[], unreadable: Unreadable[]): Promise<void> {
    const taken = this.shards().map(() => 0);
    const room = (shard: number) => this.read_count_max - taken[shard]!;
    const collect = (shard: number, entries: StreamEntries) => {
      // Kept even past the bound: delivered, they are this writer's to write (the round fails, and
      // the next writes what it holds).
      this.collect(shard, entries, items, unreadable);
      taken[shard]! += entries.length;
      assert(taken[shard]! <= this.read_count_max, `shard ${shard}: ${taken[shard]} entries taken in a round of at most ${this.read_count_max}`);
    };
    if (this.own_pending_unknown) {
      this.own_pending_unknown = false;
      // Once every shard's own pending entries fit in the room this round had, there are no more.
      await settle(this.shards().map(async (shard) => {
        if (!(await this.readOwnPending(shard, room(shard), collect))) this.own_pending_unknown = true;
      }));
      // (Read so, they are delivered again: their idle time starts over, so the idle claim below
      // does not take them a second time.)
    }
    if (now - this.last_takeover_ms >= this.lease.lease_ms / 6) {
      this.last_takeover_ms = now;
      const claimed = await takeOverDead(this.redis, this.options.shard_count, this.consumer, room, collect);
      // A full pass may have left more: the next round looks again.
      if (claimed > 0) this.last_takeover_ms = 0;
    }
    if (now - this.last_claim_ms >= Math.min(this.claim_idle_ms, 1_000)) {
      this.last_claim_ms = now;
      // A shard the takeover filled is claimed from in the next round, not a claim interval later.
      if (this.shards().some((s) => room(s) === 0)) this.last_claim_ms = 0;
      const deleted = (shard: number, stream_id: string) => void unreadable.push({ shard, stream_id, fields: [] });
      await settle(this.shards().filter((s) => room(s) > 0).map((shard) => this.claimIdle(shard, room(shard), collect, deleted)));
    }
    // COUNT 0 would read without a limit: a full shard is not read at all.
    await settle(this.shards().filter((s) => room(s) > 0).map((shard) => this.readNew(shard, room(shard), collect)));
  }

  /**
   * Entries of `shard` any consumer left pending past claim_idle_ms, up to `count`; and those
   * deleted from the stream while pending, which XAUTOCLAIM (Redis 7) drops from the group
   * whatever their idle time and names in its third element: handed to `deleted`, to be on record.
   */
  private async claimIdle(shard: number, count: number, collect: (shard: number, entries: StreamEntries) => void, deleted: (shard: number, stream_id: string) => void): Promise<void> {
    const reply = (await this.redis.sendCommand([
      'XAUTOCLAIM', journalKey(shard), journal_group, this.consumer, String(this.claim_idle_ms), '0-0', 'COUNT', String(count),
    ])) as [string, StreamEntries, string[]?];
    collect(shard, reply[1]);
    for (const stream_id of reply[2] ?? []) deleted(shard, stream_id);
  }

  /** Entries of `shard` delivered to this consumer and not acknowledged, up to `count`; whether that was all of them. */
  private async readOwnPending(shard: number, count: number, collect: (shard: number, entries: StreamEntries) => void): Promise<boolean> {
    const reply = (await this.redis.sendCommand([
      'XREADGROUP', 'GROUP', journal_group, this.consumer, 'COUNT', String(count), 'STREAMS', journalKey(shard), '0',
    ])) as Record<string, StreamEntries> | [string, StreamEntries][] | null;
    let read = 0;
    for (const entries of streamEntries(reply)) {
      collect(shard, entries);
      read += entries.length;
    }
    return read < count;
  }

  /** Entries of `shard` never delivered to the group, up to `count`. */
  private async readNew(shard: number, count: number, collect: (shard: number, entries: StreamEntries) => void): Promise<void> {
    const reply = (await this.redis.sendCommand([
      'XREADGROUP', 'GROUP', journal_group, this.consumer, 'COUNT', String(count), 'STREAMS', journalKey(shard), '>',
    ])) as Record<string, StreamEntries> | [string, StreamEntries][] | null;
    for (const entries of streamEntries(reply)) collect(shard, entries);
  }

  /**
   * Write the batch; if PostgreSQL refuses its data (a value it cannot store, a constraint), write
   * the entries one by one and set aside on the shard's dead-letter stream only those it refuses
   * alone, so that one bad entry never stops the ledger. Anything else (PostgreSQL down) throws
   * and the batch is retried whole.
   */
  private async writeOrSetAside(items: Item[]): Promise<number> {
    try {
      return await recordBatch(this.sql, items);
    } catch (err) {
      if (!isDataError(err)) throw err;
    }
    let inserted = 0;
    for (const item of items) {
      try {
        inserted += await recordBatch(this.sql, [item]);
      } catch (err) {
        if (!isDataError(err)) throw err;
        // Under the field it came in (a refusal's is x): set aside as it was written.
        const fields = item.refused === true ? ['x', item.entry] : ['e', item.entry, 'r', item.reply];
        await this.redis.sendCommand(['XADD', deadLetterKey(item.shard), '*', ...fields, 'journal_id', item.stream_id, 'error', String((err as Error).message)]);
        this.options.onDeadLetter?.(item.id, err);
      }
    }
    return inserted;
  }

  private collect(shard: number, entries: StreamEntries, items: Item[], unreadable: Unreadable[]): void {
    for (const [stream_id, fields] of entries) {
      // An entry deleted from the stream while pending (XDEL or XTRIM by hand: the writer trims
      // only below what it acknowledged) comes back with nil fields from a re-read of this
      // consumer's pending entries. Skipped, it would stay pending and hold the trim point for
      // ever; set aside, the loss is on record and the journal goes on.
      if (fields === null || fields === undefined) {
        unreadable.push({ shard, stream_id, fields: [] });
        continue;
      }
      const { entry, reply = '', refusal } = streamEntryFields(fields);
      const text = entry ?? refusal;
      const id = text === undefined ? undefined : entryId(text);
      if (text === undefined || id === undefined) unreadable.push({ shard, stream_id, fields });
      else items.push(entry === undefined ? { shard, stream_id, id, entry: text, reply: '', refused: true } : { shard, stream_id, id, entry, reply });
    }
  }

  /**
   * Entries no shard script could have written (a bug, never expected) and entries deleted while
   * pending (their nil fields: nothing left to write) go to the dead-letter
   * stream like entries PostgreSQL refuses, and are acknowledged: left pending, one would hold
   * the stream's trim point for ever, and the shard would refuse every transaction once its
   * journal reached its maximum length. Acknowledged only once set aside.
   */
  private async setAsideUnreadable(unreadable: readonly Unreadable[]): Promise<void> {
    for (const u of unreadable) {
      const err = new Error(u.fields.length === 0 ? `journal entry ${u.stream_id} of shard ${u.shard} was deleted from the journal before the ledger recorded it` : `journal entry ${u.stream_id} of shard ${u.shard} has no entry the ledger can read`);
      await this.redis.sendCommand(['XADD', deadLetterKey(u.shard), '*', ...u.fields, 'journal_id', u.stream_id, 'error', err.message]);
      await this.redis.sendCommand(['XACK', journalKey(u.shard), journal_group, u.stream_id]);
      this.options.onDeadLetter?.('', err);
    }
  }

  private async acknowledge(items: Item[]): Promise<void> {
    const by_shard = new Map<number, Item[]>();
    for (const i of items) {
      const list = by_shard.get(i.shard);
      if (list === undefined) by_shard.set(i.shard, [i]);
      else list.push(i);
    }
    // The pending record (read back by id) has served its purpose once the ledger holds it.
    await Promise.all(
      [...by_shard].flatMap(([shard, list]) => [
        this.redis.sendCommand(['XACK', journalKey(shard), journal_group, ...list.map((i) => i.stream_id)]),
        this.redis.sendCommand(['DEL', ...list.map((i) => transactionKey(shard, i.id))]),
      ]),
    );
  }

  /** Trim each stream below its oldest unacknowledged entry (or below all it delivered). */
  private async trim(): Promise<void> {
    await Promise.all(
      this.shards().map(async (shard) => {
        const key = journalKey(shard);
        // Read last-delivered first, pending second: an entry delivered in between has a larger
        // id than last-delivered, so it is never below the trim point.
        const group = await streamGroup(this.redis, key, journal_group);
        if (group === undefined) return;
        const [ms, seq] = String(group['last-delivered-id']).split('-');
        let min_id = `${ms}-${Number(seq) + 1}`;
        const pending = (await this.redis.sendCommand(['XPENDING', key, journal_group])) as [number, string | null, string | null, unknown];
        if (pending[0] > 0 && pending[1] !== null && compareIds(pending[1], min_id) < 0) min_id = pending[1];
        await this.redis.sendCommand(['XTRIM', key, 'MINID', min_id]);
      }),
    );
  }
}

/** A journal entry as the shard script wrote it, with where it came from. */
export interface JournalRecord {
  readonly shard: number;
  /** The Redis stream entry id; '' when written before the stream was read (DURABILITY=sync). */
  readonly stream_id: string;
  /** The journal entry and the reply, as the shard script wrote them (JSON text). */
  readonly entry: string;
  readonly reply: string;
  /** A refusal (processor/refusals.ts) in `entry`, and no reply: no transaction, a row of ledger_refusals. */
  readonly refused?: true;
}

/**
 * One statement for the batch, so one PostgreSQL transaction and one round trip, without BEGIN
 * and COMMIT: the ledger's rows (ledgerInserts) and the webhook outbox (webhookOutbox), then a
 * NOTIFY. The statement text never changes (its fragments are constant text), so it is prepared
 * once per connection. Idempotent: a transaction already recorded (by another writer, or by a
 * DURABILITY=sync reply) is skipped, postings and events included; an entry twice in one batch
 * (delivered again) is written once. Returns how many transactions this call was first to record.
 */
export async function recordEntries(sql: Sql | TransactionSql, items: readonly JournalRecord[]): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    with ${ledgerInserts(sql, batchDocument(items))},
    ${webhookOutbox(sql)}
    -- Wakes the delivery workers of every gateway, at commit (LISTEN in processor/webhooks).
    select (select count(*) from fresh)::int4 as n,
      (select count(*) from (select pg_notify(${webhooks_channel}, '') from (select 1 from deliveries limit 1) d) x)::int4 as notified`;
  return row!.n;
}

/** A batch as PostgreSQL reads it: the entries' JSON document and their replies, place by place. */
interface BatchDocument {
  readonly entries: string;
  readonly replies: string;
}

/**
 * Between two replies in BatchDocument.replies: a control character, which JSON text never holds
 * raw (in a string it is escaped), so it cannot be part of a reply.
 */
const reply_separator = '\x1e';

/**
 * The entries as one JSON document, each the journal entry with its shard, stream id and place
 * spliced in front of its fields: PostgreSQL reads every field into its column in one pass
 * (json_to_recordset). The replies travel beside it, joined by `reply_separator` in the same
 * places: inside the document PostgreSQL would parse each reply (the larger part of a purchase's
 * row) as JSON structure only to store it as the text it is; beside it, it is checked once, as it
 * is stored. A second copy of an entry (same id) is left out.
 */
function batchDocument(items: readonly JournalRecord[]): BatchDocument {
  const seen = new Set<string>();
  const parts: string[] = [];
  const replies: string[] = [];
  for (const i of items) {
    // Only an entry with an id can be a second copy (one without is refused: id is not null).
    const id = entryId(i.entry);
    if (id !== undefined && seen.has(id)) continue;
    if (id !== undefined) seen.add(id);
    // A reply holding the separator would shift every reply after it onto another transaction:
    // refused as bad data, so that the writer sets that entry aside alone (writeOrSetAside).
    if (i.reply.includes(reply_separator)) throw new UnstorableEntry(`journal entry ${i.stream_id}: its reply holds a raw control character, which JSON text cannot`);
    replies.push(i.reply);
    // "@" names no entry field; the entry's own fields come after, so none can be overridden.
    parts.push(`{"@shard":${i.shard},"@journal_id":"${i.stream_id}","@n":${replies.length},${i.entry.slice(1)}`);
  }
  // Each reply followed by the separator, so that an empty one (an entry without: stored null)
  // is still an element where PostgreSQL splits them.
  return { entries: `[${parts.join(',')}]`, replies: replies.join(reply_separator) + reply_separator };
}

/**
 * The statement's first part: `batch` (the document read into columns), `fresh` (the ids of the
 * transactions this statement inserted; ON CONFLICT DO NOTHING skips the others) and their
 * postings. Rows go in in id order: two writers recording the same entries at once (one claimed
 * what the other still held) wait for each other in one order, not in a circle (a deadlock
 * PostgreSQL would break by failing one batch, to be retried).
 *
 * A transaction's postings are recorded one per account pair, amounts summed: a purchase with
 * five awards from the business's rewards account to the contact's commerce balance is one
 * posting of their sum (the awards one by one are in the reply). n is the pair's first place in
 * the entry's postings: the order a transaction's postings read back in.
 *
 * The entry's awards, discount and payment are the reply's too, and are stored once, there; only
 * if the reply does not carry the same do they go into `body` as well, with a redemption's lots
 * (the reply has none) and its `since` where raised, a claw-back's lots and what it noted owed, what a purchase's or award's
 * awards paid of commerce debt (`settled`), and a processor's terminal code. A purchase's entry has no awards at all (they are its reply's: templates.ts), which is
 * the reply's same. Fields of an entry that have no
 * column here are not stored: a new one needs a column or a place in `body`
 * (test/ledger-writer.test.ts fails on one it does not know).
 */
function ledgerInserts(sql: Sql | TransactionSql, document: BatchDocument): Fragment {
  return sql`
    batch as (
      select e.*, nullif(r.reply, '')::json as "@reply"
      from json_to_recordset(${document.entries}::text::json) as e("@shard" int4, "@journal_id" text, "@n" int8,
        id text, kind text, business_id text, terminal_id text, made_by text, reference text, request_hash text, contact_id text, amount int8, currency text,
        original_id text, created_at timestamptz, occurred_at timestamptz, awards json, discount int8, paid_from_wallet int8, lots json, owed int8, instead json, postings json,
        terminal_code text, settled int8, since text)
      join unnest(string_to_array(${document.replies}::text, ${reply_separator}::text)) with ordinality as r(reply, n) on r.n = e."@n"
    ),
    fresh as (
      insert into ledger_transactions (amount, created_at, shard, id, business_id, kind, currency, terminal_id, reference,
        contact_id, original_id, journal_id, reply, body, request_hash, occurred_at, made_by)
      select amount, created_at, "@shard", id, business_id, kind, currency, terminal_id, reference,
        contact_id, original_id, "@journal_id", "@reply",
        -- A processor's terminal code (display only) is in the body, with no column of its own;
        -- without one, the body is as it always was. The reply is compared only with an entry
        -- that carries awards (written before they were the reply's alone) or has no reply: an
        -- entry written now carries no awards, and what it does carry of its reply fills the same
        -- hole of both (a purchase's discount and payment, templates.ts), so it is the reply's.
        -- Parsing every reply here was a third of the statement's CPU.
        case
          when (awards is not null or "@reply" is null)
              and ((awards is not null and awards::text is distinct from ("@reply"->'awards')::text)
                or discount is distinct from ("@reply"->>'discount')::int8 or paid_from_wallet is distinct from ("@reply"->>'paid_from_wallet')::int8)
            then case when terminal_code is null and settled is null
              then json_build_object('awards', coalesce(awards, "@reply"->'awards'), 'discount', discount, 'paid_from_wallet', paid_from_wallet, 'lots', lots)
              when settled is null
              then json_build_object('awards', coalesce(awards, "@reply"->'awards'), 'discount', discount, 'paid_from_wallet', paid_from_wallet, 'lots', lots, 'terminal_code', terminal_code)
              -- (No entry written now carries both awards and what they settled: kept all the same.)
              else json_build_object('awards', coalesce(awards, "@reply"->'awards'), 'discount', discount, 'paid_from_wallet', paid_from_wallet, 'lots', lots, 'settled', settled, 'terminal_code', terminal_code) end
          -- A purchase's or award's that paid commerce debt: what it paid (its claw-backs share over the rest).
          when settled is not null
            then json_strip_nulls(json_build_object('settled', settled, 'terminal_code', terminal_code))
          -- A claw-back's (refund, reversal): what it noted owed and took instead, with its lots (null: none).
          when owed is not null
            then json_strip_nulls(json_build_object('lots', lots, 'owed', owed, 'instead', instead, 'terminal_code', terminal_code))
          -- A redemption's: its lots, and its since where redeem.lua raised it (null: absent).
          when lots is not null
            then case when terminal_code is null and since is null then json_build_object('lots', lots)
              else json_strip_nulls(json_build_object('lots', lots, 'since', since, 'terminal_code', terminal_code)) end
          when terminal_code is not null then json_build_object('terminal_code', terminal_code)
        end,
        request_hash, occurred_at, made_by
      from batch
      order by id
      on conflict (id) do nothing
      returning id
    ),
    postings as (
      insert into ledger_postings (amount, n, transaction_id, debit_account, credit_account)
      select sum((p.v->>2)::int8), min(p.n) - 1, b.id, p.v->>0, p.v->>1
      from batch b join fresh f on f.id = b.id, json_array_elements(b.postings) with ordinality p(v, n)
      group by b.id, p.v->>0, p.v->>1
      returning 1
    )`;
}

/**
 * The statement's second part, webhooks out (processor/webhooks.ts, README "Webhooks"): an outbox
 * committed with the ledger. Events only for transactions this statement inserted (`fresh`), so
 * a redelivered entry never makes one twice; only of types an enabled endpoint of the business
 * takes; one delivery per such endpoint. Which endpoints take which event is decided once, in
 * `subscribed`, over the enabled endpoints of the batch's businesses, read once (`enabled`, by the
 * index webhook_endpoints_enabled). Most businesses have none: `hooked` leaves their transactions
 * out before their events are even listed. An event and its deliveries are matched on its
 * business and type as well as its id, so that two transactions whose event ids coincide (ids
 * the shard scripts never make: `txn_X` and `X`) cannot send one business's event to another's
 * endpoint.
 */
function webhookOutbox(sql: Sql | TransactionSql): Fragment {
  return sql`
    enabled as (
      select w.id, w.business_id, w.events from webhook_endpoints w
      where w.status = 'enabled' and w.business_id in (select business_id from batch)
    ),
    hooked as (
      select b.id, b.business_id, b.kind, b.amount, coalesce(b.awards, b."@reply"->'awards') as awards
      from batch b join fresh f on f.id = b.id
      where b.business_id in (select business_id from enabled)
    ),
    candidates as (
      select 'evt_' || regexp_replace(h.id, '^txn_', '') || t.suffix as id, h.business_id, t.type, h.id as transaction_id, t.n
      from hooked h cross join lateral (
        select 'transaction.approved' as type, null::int4 as n, '' as suffix
        union all
        select 'award.created', a.n::int4 - 1, '_a' || (a.n - 1)
        from json_array_elements(case when json_typeof(h.awards) = 'array' then h.awards else '[]' end) with ordinality a(v, n)
        union all
        select 'award.expired', null, '_x' where h.kind = 'expiry' and h.amount > 0
      ) t
    ),
    subscribed as (
      select c.id as event_id, c.business_id, c.type, w.id as endpoint_id
      from candidates c join enabled w on w.business_id = c.business_id and (c.type = any(w.events) or '*' = any(w.events))
    ),
    events as (
      insert into webhook_events (id, business_id, type, transaction_id, n)
      select c.id, c.business_id, c.type, c.transaction_id, c.n
      from candidates c
      where exists (select 1 from subscribed s where s.event_id = c.id and s.business_id = c.business_id and s.type = c.type)
      order by 1
      on conflict (id) do nothing
      returning id, business_id, type
    ),
    deliveries as (
      insert into webhook_deliveries (endpoint_id, event_id)
      select s.endpoint_id, e.id
      from events e join subscribed s on s.event_id = e.id and s.business_id = e.business_id and s.type = e.type
      order by e.id, s.endpoint_id
      on conflict (endpoint_id, event_id) do nothing
      returning 1
    )`;
}

/**
 * The batch in one transaction: one statement, or several past `statement_entries_max` entries
 * or with refusals (rare: their own statement). Returns how many transactions it was first to record.
 */
export async function recordBatch(sql: Sql, items: readonly JournalRecord[]): Promise<number> {
  const refusals = items.filter((i) => i.refused === true);
  const entries = refusals.length === 0 ? items : items.filter((i) => i.refused !== true);
  if (refusals.length === 0 && items.length <= statement_entries_max) return recordEntries(sql, items);
  return sql.begin(async (tx) => {
    for (let i = 0; i < refusals.length; i += statement_entries_max) await recordRefusals(tx, refusals.slice(i, i + statement_entries_max));
    let inserted = 0;
    for (let i = 0; i < entries.length; i += statement_entries_max) inserted += await recordEntries(tx, entries.slice(i, i + statement_entries_max));
    return inserted;
  });
}

/**
 * Refusals into ledger_refusals, one row a request (terminal, reference, claim hash; migration
 * 023): a refusal replaces the row of an earlier window's (its reference free again) or is itself
 * again (delivered again); a repeat's (processor/refusals.ts) goes in only where there is none.
 * Two statements, the repeats' last: one command cannot insert a row and meet it as a conflict.
 */
async function recordRefusals(sql: Sql | TransactionSql, items: readonly JournalRecord[]): Promise<void> {
  const document = `[${items.map((i) => i.entry).join(',')}]`;
  await sql`
    insert into ledger_refusals (id, business_id, terminal_id, reference, request_hash, contact_id, code, original_reference, created_at)
    select distinct on (terminal_id, reference, request_hash) ${refusalColumns(sql, document)} where repeat is not true
    order by terminal_id, reference, request_hash, created_at desc, id
    on conflict (terminal_id, reference, request_hash) do update set
      id = excluded.id, business_id = excluded.business_id, contact_id = excluded.contact_id, code = excluded.code,
      original_reference = excluded.original_reference, created_at = excluded.created_at`;
  await sql`
    insert into ledger_refusals (id, business_id, terminal_id, reference, request_hash, contact_id, code, original_reference, created_at)
    select ${refusalColumns(sql, document)} where repeat
    order by id
    on conflict do nothing`;
}

/**
 * A refusal's columns from `document`, a JSON array of refusals (processor/refusals.ts Refusal).
 * The processor's own transactions (a referral award refused as its referral was undone first, an
 * undo that found no award) name no terminal and no claim: theirs is the rewards terminal's
 * reference slot (awards.ts rewards_terminal), as rebuild-references.ts places their records.
 */
function refusalColumns(sql: Sql | TransactionSql, document: string) {
  return sql`id, business_id, coalesce(terminal_id, ${rewards_terminal}) as terminal_id, reference, coalesce(request_hash, '') as request_hash, contact_id, code, original_reference, created_at
    from json_to_recordset(${document}::text::json) as r(id text, business_id text, terminal_id text, reference text, request_hash text,
      contact_id text, code text, original_reference text, created_at timestamptz, repeat boolean)`;
}

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am < bm ? -1 : am > bm ? 1 : as < bs ? -1 : as > bs ? 1 : 0;
}

/**
 * Entries not yet in the ledger, over all shards: 0 means the ledger has caught up. Counted in
 * Redis, one shard at one instant each (hot/backlog.lua), not taken from XINFO GROUPS' `lag`,
 * which Redis 7.0 does not restore from a rewritten AOF (it read 80,686 over empty streams). No
 * entry comes back: counted here with XRANGE before 2026-12-03, a long outage's backlog cost
 * /readyz and /metrics 10,000 entries of each shard at every call (about 10 MB a shard).
 */
export async function journalBacklog(redis: RedisClient, shard_count: number): Promise<number> {
  const counts = await Promise.all(Array.from({ length: shard_count }, (_, shard) => redis.backlogScript({ shard })));
  return counts.reduce((sum, c) => sum + c.entries, 0);
}
