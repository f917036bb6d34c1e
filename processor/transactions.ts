// Reading a transaction back: from the ledger once recorded, else from the hot path's reply
// record while the writer has not caught up yet. The walk from one to the other (findTransaction)
// is also where a reversal reads what its purchase counted (purchase-undo.ts).

import { PocketgateError } from '../core/errors.ts';
import type { Page } from '../core/schemas.ts';
import { transactionKey } from './hot/keys.ts';
import { journalRecord } from './shard.ts';
import { iso, type Business } from './network.ts';
import { entryAwards, type JournalEntry } from './journal.ts';
import type { TransactionSql } from 'postgres';
import type { Sql, Stores } from './stores.ts';
import type { PublicAward } from './templates.ts';

export interface TransactionView {
  readonly id: string;
  readonly kind: JournalEntry['kind'];
  readonly reference: string | null;
  readonly terminal_id: string | null;
  /** Who sent it: the terminal itself, the business's admin key for the terminal, a payment processor's callback, or the gateway itself (awards, expiry). */
  readonly made_by: MadeBy;
  readonly contact_id: string | null;
  readonly amount: number;
  readonly currency: string;
  readonly status: 'approved';
  readonly awards: readonly PublicAward[];
  readonly discount: number;
  readonly original_id: string | null;
  readonly created_at: string;
  readonly recorded_at: string | null;
  readonly ledger: 'pending' | 'recorded';
  /**
   * A purchase's sale time (its `occurred_at`, else when it arrived), to the second: what its
   * offers, caps and tier period were decided by; absent for other kinds. `created_at` is when the
   * gateway made it, which statements and settlements date it by: a clearing dated 30 days back
   * showed only today's date (a probe of time, 2026-12-07).
   */
  readonly occurred_at?: string;
  readonly postings?: readonly { debit_account: string; credit_account: string; amount: number }[];
  /**
   * The terminal code a processor's callback named for the transaction it made (display only);
   * absent for every other transaction. Kept in its journal entry and ledger body (older rows:
   * with the callback's answer only, so gone when that is forgotten).
   */
  readonly terminal_code?: string;
}

interface Body {
  readonly kind: JournalEntry['kind'];
  readonly business_id: string;
  readonly reference: string | null;
  readonly terminal_id: string | null;
  readonly made_by?: 'admin' | 'processor' | null;
  readonly contact_id: string | null;
  readonly amount: number;
  readonly currency: string;
  readonly awards?: readonly unknown[];
  readonly discount?: number;
  readonly original_id?: string | null;
  readonly created_at: string;
}

/**
 * A transaction as its journal entry holds it while pending, else as its ledger row does: what
 * reading it back and undoing a reversed purchase (purchase-undo.ts) both start from.
 */
export interface StoredTransaction extends Omit<Body, 'awards'> {
  readonly id: string;
  readonly ledger: 'pending' | 'recorded';
  readonly awards: readonly unknown[];
  /** A purchase's occurred_at: what its offers, caps and tier period were decided by (null: another kind). */
  readonly occurred_at: string | null;
  /** The terminal code a processor's callback named, as the entry, or the ledger, has it. */
  readonly terminal_code?: string;
  /** A purchase's or award's: what of its awards paid commerce debt (journal.ts JournalEntry.settled). */
  readonly settled?: number;
}

/** What a reader makes of a ledger it cannot read now: its error (the caller's 503), or no transaction. */
export type LedgerUnreadable = 'throws' | 'absent';

/** How a caller that must answer in time reads the ledger: bounded in time and in reads waiting (refund.ts). */
export type LedgerRead = <T>(read: () => Promise<T>) => Promise<T>;

/**
 * Transaction `id`: pending in the journal of one of `shards`, else recorded in the ledger;
 * undefined when neither holds it. Pending first, the writer's order reversed (it records, then
 * deletes the pending pointer): a pointer gone means the ledger has it, so one look at each
 * suffices, and a pending transaction is read with PostgreSQL down.
 */
export async function findTransaction(stores: Stores, shards: readonly number[], id: string, ledger_unreadable: LedgerUnreadable = 'throws', ledger_read: LedgerRead = (read) => read()): Promise<StoredTransaction | undefined> {
  const pending = await pendingTransaction(stores, shards, id);
  if (pending !== undefined) return pending;
  try {
    const [row] = await ledger_read(() => recordedRows(stores.sql, [id]));
    return row === undefined ? undefined : recordedEntry(row);
  } catch (err) {
    if (ledger_unreadable === 'absent') return undefined;
    throw err;
  }
}

/**
 * Transaction `id` while its journal entry is pending on one of `shards`: the shard script keeps
 * a pointer from the id to the entry until the writer has recorded it.
 */
async function pendingTransaction(stores: Stores, shards: readonly number[], id: string): Promise<StoredTransaction | undefined> {
  const pointers = await Promise.all(shards.map((s) => stores.redis.get(transactionKey(s, id))));
  const at = pointers.findIndex((p) => p !== null);
  if (at < 0) return undefined;
  // Trimmed since we read the pointer: recorded by now (the ledger has it).
  const { entry, reply } = (await journalRecord(stores, shards[at]!, pointers[at]!)) ?? {};
  if (entry === undefined) return undefined;
  const e = JSON.parse(entry) as JournalEntry;
  return { ...e, ledger: 'pending', awards: entryAwards(e, reply), occurred_at: e.occurred_at ?? null };
}

/**
 * Transaction `id` of `business` as `GET /v1/transactions/{id}` shows it. `ledger_up` false:
 * PostgreSQL is known down (the gateway's probe), so only the journal is read.
 */
export async function readTransaction(stores: Stores, business: Business, id: string, ledger_up = true): Promise<TransactionView> {
  if (!ledger_up) return pendingWithoutLedger(stores, business, id, new PocketgateError('unavailable', 'PostgreSQL does not answer; try again shortly'));
  // The ledger first (not findTransaction's order): it holds most of what is read back, and once
  // it holds a transaction the answer is 'recorded', postings and all, even before the writer
  // deletes its pending pointer.
  let recorded: TransactionView | undefined;
  try {
    recorded = await readRecorded(stores, business, id);
  } catch (err) {
    // PostgreSQL failed under the call before the probe saw it go: as when it is known down.
    return pendingWithoutLedger(stores, business, id, err);
  }
  if (recorded !== undefined) return recorded;
  // Not in the ledger yet, unless the writer recorded it since. The id does not say which shard,
  // so ask all of them (admin path, rare).
  const found = await findTransaction(stores, allShards(stores), id);
  if (found === undefined || found.business_id !== business.id) throw new PocketgateError('not_found', `transaction ${id} not found`);
  if (found.ledger === 'recorded') {
    // Recorded between our two looks: without reading it again it could answer 404, or a
    // recorded transaction without its postings.
    const late = await readRecorded(stores, business, id);
    if (late !== undefined) return late;
    throw new PocketgateError('not_found', `transaction ${id} not found`);
  }
  return view(id, found, 'pending', null, { terminal_code: found.terminal_code ?? (await calledTerminalCode(stores.sql, id)) });
}

/**
 * Transaction `id` while the ledger cannot be read (API.md: `ledger` is "pending" until the ledger
 * holds it): one the journal still holds is pending and read from there, its whole view in Redis;
 * any other may be recorded, so `ledger_error` (503) stands rather than a 404; so it does for
 * another business's.
 */
async function pendingWithoutLedger(stores: Stores, business: Business, id: string, ledger_error: unknown): Promise<TransactionView> {
  const found = await pendingTransaction(stores, allShards(stores), id);
  // Another business's is answered as one the journal does not hold (API.md: exactly as ids that
  // do not exist): a 404 would tell that it exists, where an unknown id cannot be told from a recorded one.
  if (found === undefined || found.business_id !== business.id) throw ledger_error;
  // Its terminal code is the entry's: the callback answers that older entries need are in PostgreSQL.
  return view(id, found, 'pending', null, { terminal_code: found.terminal_code ?? null });
}

function allShards(stores: Stores): number[] {
  return Array.from({ length: stores.config.shard_count }, (_, s) => s);
}

/**
 * The terminal code of a transaction a processor's callback made before its journal entry carried
 * it (journal entries written before that keep it only with the callback's answer).
 */
async function calledTerminalCode(sql: Sql, id: string): Promise<string | null> {
  const [made] = await sql<{ terminal_code: string }[]>`
    select terminal_code from callback_events where made_transaction_id = ${id} and terminal_code is not null limit 1`;
  return made?.terminal_code ?? null;
}

interface RecordedRow extends Omit<Body, 'created_at' | 'awards' | 'discount'> {
  readonly id: string;
  readonly created_at: Date;
  readonly recorded_at: Date;
  readonly occurred_at: Date | null;
  readonly reply_awards: unknown[] | null;
  readonly reply_discount: number | null;
  readonly terminal_code: string | null;
  /** What of the journal entry the reply does not carry (migration 006): null for most. */
  readonly body: { awards?: unknown[] | null; discount?: number | null; settled?: number } | null;
}

/**
 * How long PostgreSQL may take over a transaction read back: a point read, bounded by the server
 * itself, so that a lock held on the ledger (a migration, a VACUUM FULL) answers 503 in time
 * rather than when the lock ends, and leaves no query waiting in the pool (a black-box probe,
 * 2026-12-05: 23.7 s under a 25 s ACCESS EXCLUSIVE lock).
 */
const transaction_read_timeout_ms = 2_000;

async function readRecorded(stores: Stores, business: Business, id: string): Promise<TransactionView | undefined> {
  return stores.sql.begin('read only', async (tx) => {
    await tx.unsafe(`set local statement_timeout = ${transaction_read_timeout_ms}`);
    return (await recordedViews(tx, [id], business.id)).get(id);
  });
}

type Posting = NonNullable<TransactionView['postings']>[number];

/**
 * Transactions the ledger holds, as `GET /v1/transactions/{id}` shows them, by id (those of
 * `business_id` only, when given); ids it does not hold are absent. Two statements whatever the
 * count: webhooks out (processor/webhook-outbox.ts) read a claimed batch's at once, and send
 * exactly this view as a transaction.approved event's data.
 */
export async function recordedViews(sql: Sql | TransactionSql, ids: readonly string[], business_id?: string): Promise<Map<string, TransactionView>> {
  const out = new Map<string, TransactionView>();
  if (ids.length === 0) return out;
  const rows = await recordedRows(sql, ids, business_id);
  if (rows.length === 0) return out;
  const postings = await sql<(Posting & { transaction_id: string })[]>`
    select transaction_id, debit_account, credit_account, amount from ledger_postings
    where transaction_id = any(${rows.map((r) => r.id)}) order by transaction_id, n`;
  const by_transaction = new Map<string, Posting[]>();
  for (const { transaction_id, ...p } of postings) {
    const list = by_transaction.get(transaction_id);
    if (list === undefined) by_transaction.set(transaction_id, [p]);
    else list.push(p);
  }
  for (const row of rows) {
    const entry = recordedEntry(row);
    out.set(row.id, view(row.id, entry, 'recorded', iso(row.recorded_at), { postings: by_transaction.get(row.id) ?? [], terminal_code: entry.terminal_code ?? null }));
  }
  return out;
}

/**
 * The ledger's rows of `ids` (of `business_id` only, when given), in one statement. The callback's
 * terminal code is looked up in callback_events_made, in the database's collation while ids are
 * "C": compared as they were (`made_transaction_id = t.id`), the index could not serve, and each
 * row a POS or admin made (no terminal code in its body) scanned the callbacks (found beside a
 * rebuild probe's, 2026-12-06).
 */
export function recordedRows(sql: Sql | TransactionSql, ids: readonly string[], business_id?: string) {
  // The entry's fields are columns; its awards and discount are the reply's, unless `body` holds
  // them. Awards go through jsonb, as they read back before 006 stored the reply as sent: the
  // same view, key for key, whether the ledger recorded the transaction before or after. The
  // terminal code of a transaction a processor's callback made is in its body, or, recorded
  // before entries carried it, with the callback's answer: one index probe (callback_events_made).
  return sql<RecordedRow[]>`
    select t.id, t.kind, t.business_id, t.reference, t.terminal_id, t.made_by, t.contact_id, t.amount, t.currency, t.original_id, t.created_at, t.recorded_at, t.occurred_at,
      (t.reply->'awards')::jsonb as reply_awards, (t.reply->>'discount')::int8 as reply_discount, t.body::jsonb as body,
      coalesce(t.body->>'terminal_code',
        (select c.terminal_code from callback_events c where c.made_transaction_id = (t.id collate "default") and c.terminal_code is not null limit 1)) as terminal_code
    from ledger_transactions t where t.id = any(${ids as string[]}) ${business_id === undefined ? sql`` : sql`and t.business_id = ${business_id}`}`;
}

/** A ledger row as the entry it recorded: awards and discount from `body` when it holds them, else from the reply. */
function recordedEntry(row: RecordedRow): StoredTransaction {
  const body = row.body ?? {};
  const { id, kind, business_id, reference, terminal_id, made_by, contact_id, amount, currency, original_id } = row;
  return {
    id, kind, business_id, reference, terminal_id, made_by, contact_id, amount, currency, original_id,
    ledger: 'recorded',
    created_at: row.created_at.toISOString(),
    occurred_at: row.occurred_at?.toISOString() ?? null,
    awards: ('awards' in body ? body.awards : row.reply_awards) ?? [],
    discount: ('discount' in body ? body.discount : row.reply_discount) ?? undefined,
    ...(row.terminal_code === null ? {} : { terminal_code: row.terminal_code }),
    ...(typeof body.settled === 'number' ? { settled: body.settled } : {}),
  };
}

/** What the ledger and the callbacks add to the entry: postings (recorded only) and a terminal code (last, as the API has always shown it). */
interface ViewExtras {
  readonly postings?: TransactionView['postings'];
  readonly terminal_code: string | null;
}

/** The one view of a transaction: `GET /v1/transactions/{id}` answers it, a transaction.approved event carries it. */
function view(id: string, b: Body & { readonly occurred_at?: string | null }, ledger: 'pending' | 'recorded', recorded_at: string | null, extras: ViewExtras): TransactionView {
  return {
    id,
    kind: b.kind,
    reference: b.reference,
    terminal_id: b.terminal_id,
    made_by: madeBy(b.made_by, b.terminal_id),
    contact_id: b.contact_id,
    amount: b.amount,
    currency: b.currency,
    status: 'approved',
    // As the reply wrote them (templates.ts publicAward), read back from JSON.
    awards: (b.awards ?? []) as readonly PublicAward[],
    discount: b.discount ?? 0,
    original_id: b.original_id ?? null,
    created_at: iso(b.created_at),
    recorded_at,
    ledger,
    ...(typeof b.occurred_at === 'string' ? { occurred_at: iso(b.occurred_at) } : {}),
    ...(extras.postings === undefined ? {} : { postings: extras.postings }),
    ...(extras.terminal_code === null ? {} : { terminal_code: extras.terminal_code }),
  };
}

export type MadeBy = 'terminal' | 'admin' | 'processor' | 'system';

/**
 * Who sent a transaction, as every view of it shows it: the business's admin key for a terminal
 * or a payment processor's callback (`made_by` kept), the terminal itself, or the gateway itself
 * (awards, expiry: no terminal). The contact's transactions list said 'terminal' for a sign-up
 * award that `GET /v1/transactions/{id}` said was the gateway's (a black-box probe, 2026-12-05).
 */
export function madeBy(made_by: 'admin' | 'processor' | null | undefined, terminal_id: string | null): MadeBy {
  return made_by ?? (terminal_id === null ? 'system' : 'terminal');
}

/** A transaction as the feed and the latest-transactions list show it. */
export interface TransactionSummary {
  readonly id: string;
  readonly kind: JournalEntry['kind'];
  readonly made_by: MadeBy;
  readonly reference: string | null;
  readonly terminal_id: string | null;
  readonly contact_id: string | null;
  readonly amount: number;
  readonly currency: string;
  readonly awarded: number;
  readonly original_id: string | null;
  readonly created_at: string;
}

/**
 * The summary of a journal entry (the live feed's events); `reply`, the reply kept beside it, has
 * the awards of a purchase (whose entry leaves them to it: templates.ts).
 */
export function summaryOf(e: JournalEntry, reply?: string): TransactionSummary {
  const awarded = entryAwards(e, reply).reduce<number>((sum, a) => sum + Number((a as { amount?: number }).amount ?? 0), 0);
  return {
    id: e.id,
    kind: e.kind,
    made_by: madeBy(e.made_by, e.terminal_id),
    reference: e.reference,
    terminal_id: e.terminal_id,
    contact_id: e.contact_id,
    amount: e.amount,
    currency: e.currency,
    awarded,
    original_id: e.original_id ?? null,
    created_at: e.created_at.replace(/\.\d{3}Z$/, 'Z'),
  };
}

/**
 * How far back latestTransactions looks, in turn, until it has `limit` transactions: a busy
 * business has them within the first, a quiet one within a later one, and the last has no bound.
 */
const latest_windows_ms = [60_000, 3_600_000, 86_400_000, 32 * 86_400_000, 366 * 86_400_000, Number.POSITIVE_INFINITY];

/**
 * The business's latest transactions at its terminals, newest first, from the ledger: through
 * the (terminal_id, created_at) index, the latest few of each terminal, merged. Each terminal's
 * are read only within a window back from now, widened until the list is full: without one, a
 * business of 20,000 terminals read up to `limit` transactions of every terminal (two million
 * rows at the limit of 100) to show 100. A list filled within a window is the list without one:
 * every transaction it left out is older than the window, so older than every one it holds.
 */
export async function latestTransactions(stores: Stores, business: Business, page: { readonly limit: number; readonly starting_after?: string | undefined }): Promise<Page<TransactionSummary>> {
  const cursor = page.starting_after === undefined ? undefined : await latestCursor(stores.sql, business, page.starting_after);
  // One more than the page, to say whether there is more.
  const rows = await latestBefore(stores, business, page.limit + 1, cursor);
  return { object: 'list', data: rows.slice(0, page.limit), has_more: rows.length > page.limit };
}

/** A page's cursor: the transaction `id` of the business, else 400 (as every list's). */
async function latestCursor(sql: Sql, business: Business, id: string): Promise<Cursor> {
  const [row] = await sql<{ created_at: Date }[]>`select created_at from ledger_transactions where id = ${id} and business_id = ${business.id}`;
  if (row === undefined) throw new PocketgateError('validation_failed', `starting_after: no transaction ${id} of this business`, [{ path: 'starting_after', message: "must be the id of a transaction of the list" }]);
  return { id, at_ms: row.created_at.getTime() };
}

/** The transaction a page starts after, and when it was made (ms: the windows' origin only; rows compare in PostgreSQL). */
interface Cursor {
  readonly id: string;
  readonly at_ms: number;
}

async function latestBefore(stores: Stores, business: Business, limit: number, cursor: Cursor | undefined): Promise<TransactionSummary[]> {
  // From the cursor back, or from now: a window back from now would skip nothing, only read more.
  const now_ms = cursor?.at_ms ?? stores.clock.now();
  // Read once a window came back empty: the windows that do not reach back to the business's
  // newest transaction hold none, and are not read (each reads every terminal's index: a quiet
  // business of 20,000 terminals whose history was all two years old read five empty ones, 66–69
  // ms each, before the read without a bound).
  let newest_ms: number | undefined;
  for (const window_ms of latest_windows_ms) {
    const since_ms = window_ms === Number.POSITIVE_INFINITY ? undefined : now_ms - window_ms;
    if (since_ms !== undefined && newest_ms !== undefined && since_ms > newest_ms) continue;
    if (since_ms === undefined && newest_ms === Number.NEGATIVE_INFINITY) return [];
    const rows = await latestSince(stores.sql, business, limit, since_ms === undefined ? undefined : new Date(since_ms), cursor?.id);
    if (rows.length === limit || since_ms === undefined) return rows;
    if (rows.length === 0 && newest_ms === undefined) newest_ms = await newestAt(stores.sql, business, cursor?.id);
  }
  throw new Error('unreachable: the last window has no bound');
}

/**
 * When the business's newest transaction was made (ms; -Infinity: none), before the page's
 * cursor if there is one (else no window of a later page was ever skipped: a review): each
 * terminal's newest by its index, and its own (no terminal) by theirs.
 */
async function newestAt(sql: Sql, business: Business, before_id: string | undefined): Promise<number> {
  const before = beforeCursor(sql, before_id);
  const [row] = await sql<{ newest: Date | null }[]>`
    select greatest(
      (select max(t.created_at) from terminals term
        cross join lateral (select lt.created_at from ledger_transactions lt where lt.terminal_id = term.id ${before} order by lt.created_at desc limit 1) t
        where term.business_id = ${business.id}),
      (select max(lt.created_at) from ledger_transactions lt where lt.business_id = ${business.id} and lt.terminal_id is null ${before})) as newest`;
  return row?.newest == null ? Number.NEGATIVE_INFINITY : row.newest.getTime();
}

/**
 * The rows (alias `lt`) before the page's cursor in the list's order: its time compared in
 * PostgreSQL, in microseconds, which a JavaScript Date would cut to milliseconds.
 */
function beforeCursor(sql: Sql, before_id: string | undefined) {
  return before_id === undefined ? sql`` : sql`and (lt.created_at, lt.id) < (select created_at, id from ledger_transactions where id = ${before_id})`;
}

async function latestSince(sql: Sql, business: Business, limit: number, since: Date | undefined, before_id: string | undefined): Promise<TransactionSummary[]> {
  const before = beforeCursor(sql, before_id);
  const window = since === undefined ? sql`` : sql`and lt.created_at >= ${since}`;
  const rows = await sql<(Omit<TransactionSummary, 'created_at' | 'made_by'> & { created_at: Date; made_by: 'admin' | 'processor' | null })[]>`
    select t.id, t.kind, t.made_by, t.reference, t.terminal_id, t.contact_id, t.amount, t.currency, t.original_id, t.created_at,
      (select coalesce(sum((a->>'amount')::int8), 0)::int8 from json_array_elements(case when json_typeof(w.awards) = 'array' then w.awards else '[]'::json end) a) as awarded
    from (
      select lt.* from terminals term
      cross join lateral (
        -- The outer order, ties included: else a terminal's tie at its limit keeps one the list would not.
        select * from ledger_transactions lt where lt.terminal_id = term.id ${window} ${before}
        order by lt.created_at desc, lt.id desc limit ${limit}
      ) lt
      where term.business_id = ${business.id}
      union all
      -- The gateway's own (sign-up and referral awards, expiries: no terminal), as the live feed
      -- shows them: a console probe saw one in the feed, then gone from the list on a reload.
      (select * from ledger_transactions lt where lt.business_id = ${business.id} and lt.terminal_id is null ${window} ${before}
        order by lt.created_at desc, lt.id desc limit ${limit})
    ) t
    cross join lateral (select coalesce(t.body->'awards', t.reply->'awards') as awards) w
    order by t.created_at desc, t.id desc limit ${limit}`;
  return rows.map((r) => ({ ...r, made_by: madeBy(r.made_by, r.terminal_id), created_at: iso(r.created_at) }));
}
