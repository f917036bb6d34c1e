// What an offer has awarded: the awards of its purchases and award transactions, in the ledger and
// in the journal entries the ledger does not hold yet, less those of reversed purchases (a
// reversal voids its original "as if it never happened": a `reversal` transaction, in the ledger
// or in the journal, names it as `original_id`). A budget an offer gets later is seeded with it
// (limit-seed.ts) and `npm run rebuild` sets every budget from it (ledger/rebuild.ts): one count.
// A per-contact cap added later is seeded from the same awards, per contact (`awardsByContact`).
//
// The journal is read first, then the ledger, in one statement that leaves out the transactions
// the journal holds (counted from there). An entry committed before the journal was read is in
// it, or the ledger held it already (the writer trims only what it acknowledged after its
// commit): counted once either way. One committed later is counted if the ledger holds it when the
// statement runs: what was awarded after the count began (limit-seed.ts names that window).
// The dead-letter streams are read with the journals: their awards were made, never recorded.
//
// An offer's transactions are found in the ledger through a GIN index over migration 016's
// function when an operator made it (the migration does not: the writer would pay for it on every
// purchase); without it, and for more than indexed_offers_max offers, the ledger is read whole.

import { deadLetterKey, journalKey } from './hot/keys.ts';
import { entryAwards, streamEntryFields, type JournalEntry } from './journal.ts';
import type { Fragment } from 'postgres';
import type { RedisClient, Sql } from './stores.ts';

export interface AwardSource {
  readonly redis: RedisClient;
  readonly sql: Sql;
  readonly shard_count: number;
}

/** One transaction's awards of one offer, and what decides the cap counter they count in. */
export interface OfferAward {
  readonly transaction_id: string;
  readonly offer_id: string;
  readonly contact_id: string;
  readonly kind: string;
  /** An award transaction's reason: 'signup' or 'referral'. */
  readonly reason: string | null;
  /** When its offers were decided: a purchase's occurred_at, else when it was made. */
  readonly at_ms: number;
  /** The venue's timezone (terminal transactions; null for the processor's own). */
  readonly timezone: string | null;
  /** How many awards of the offer it holds, and their sum. */
  readonly count: number;
  readonly amount: number;
  readonly reversed: boolean;
}

/** An offer's awards in a journal entry (the ledger may hold it too, or not yet). */
interface JournalAward extends Omit<OfferAward, 'timezone' | 'reversed'> {
  readonly terminal_id: string | null;
}

/** What the journals hold that the ledger may not: awards of the offers asked about, and reversals. */
interface Unrecorded {
  readonly awards: readonly JournalAward[];
  /** Transactions a reversal in the journal names. */
  readonly reversed: ReadonlySet<string>;
}

/** Stream entries read per XRANGE, ids per statement. */
const page = 1_000;
/**
 * Up to this many offers, a statement names them through migration 016's function, which the GIN
 * index over it answers when an operator made it (the migration does not: the writer would pay
 * for it on every purchase), and which is evaluated per row of a scan otherwise (2.4 s over
 * 1,000,000 transactions). Beyond, it reads the whole ledger once: most transactions match, and `?|` costs each a
 * look-up per offer named (rebuild over loadtest/offer-awarded-bench.ts's 1,000,000 transactions
 * and 1,001 offers: finding them through the index took 11 s, reading the ledger whole 2.7 s).
 */
const indexed_offers_max = 32;

/** What each of `offer_ids` has awarded (integer minor units; 0 for none). */
export async function offersAwarded(source: AwardSource, offer_ids: readonly string[]): Promise<Map<string, number>> {
  const totals = new Map(offer_ids.map((id) => [id, 0]));
  if (offer_ids.length === 0) return totals;
  const unrecorded = await unrecordedAwards(source, new Set(offer_ids));
  const { sql } = source;
  const excluded = unrecorded.awards.map((a) => a.transaction_id);
  // Every award, less those of reversed transactions. One statement: one snapshot.
  const rows = await sql<{ offer_id: string; awarded: number }[]>`
    select w.offer_id, sum(w.amount)::int8 as awarded from (
      select offer_id, amount from (${awardRows(sql, offer_ids, excluded, sql``)}) a
      union all
      select offer_id, -amount from (${awardRows(sql, offer_ids, excluded, sql`and ${isReversed(sql, 't', unrecorded.reversed)}`)}) r
    ) w
    group by 1`;
  for (const r of rows) totals.set(r.offer_id, totals.get(r.offer_id)! + r.awarded);
  const reversed = await withLedgerReversals(source.sql, unrecorded);
  for (const a of unrecorded.awards) if (!reversed.has(a.transaction_id)) totals.set(a.offer_id, totals.get(a.offer_id)! + a.amount);
  return totals;
}

/**
 * Every transaction that awarded `offer_id` (at or after `since_ms`, when given), reversed ones
 * included (flagged: a stale counter of theirs is to be cleared), grouped by contact: each
 * contact's at once, from the ledger and the journal together, one contact at a time.
 */
export async function* awardsByContact(source: AwardSource, offer_id: string, since_ms: number | null): AsyncGenerator<{ contact_id: string; awards: OfferAward[] }> {
  const unrecorded = await unrecordedAwards(source, new Set([offer_id]));
  const reversed = await withLedgerReversals(source.sql, unrecorded);
  const timezones = await venueTimezones(source.sql, unrecorded.awards.map((a) => a.terminal_id));
  const journal = new Map<string, OfferAward[]>();
  for (const { terminal_id, ...a } of unrecorded.awards) {
    if (since_ms !== null && a.at_ms < since_ms) continue;
    const award = { ...a, timezone: terminal_id === null ? null : (timezones.get(terminal_id) ?? null), reversed: reversed.has(a.transaction_id) };
    const list = journal.get(a.contact_id);
    if (list === undefined) journal.set(a.contact_id, [award]);
    else list.push(award);
  }
  let current: { contact_id: string; awards: OfferAward[] } | undefined;
  for await (const rows of ledgerAwards(source.sql, offer_id, since_ms, unrecorded)) {
    for (const r of rows) {
      if (current !== undefined && current.contact_id !== r.contact_id) yield withJournal(current, journal);
      if (current?.contact_id !== r.contact_id) current = { contact_id: r.contact_id, awards: [] };
      current.awards.push({ ...r, offer_id });
    }
  }
  if (current !== undefined) yield withJournal(current, journal);
  for (const [contact_id, awards] of journal) yield { contact_id, awards };
}

function withJournal(c: { contact_id: string; awards: OfferAward[] }, journal: Map<string, OfferAward[]>): { contact_id: string; awards: OfferAward[] } {
  const more = journal.get(c.contact_id);
  journal.delete(c.contact_id);
  return more === undefined ? c : { contact_id: c.contact_id, awards: [...c.awards, ...more] };
}

type LedgerAward = Omit<OfferAward, 'offer_id'>;

/** The offer's transactions in the ledger, ordered by contact, a page at a time. */
function ledgerAwards(sql: Sql, offer_id: string, since_ms: number | null, unrecorded: Unrecorded): AsyncIterable<LedgerAward[]> {
  const excluded = unrecorded.awards.map((a) => a.transaction_id);
  return sql<LedgerAward[]>`
    with w as (${awardRows(sql, [offer_id], excluded, sql``)})
    select w.id as transaction_id, w.contact_id, w.kind, w.reason,
      (extract(epoch from w.at) * 1000)::int8 as at_ms, v.timezone,
      count(*)::int4 as count, sum(w.amount)::int8 as amount,
      bool_or(${isReversed(sql, 'w', unrecorded.reversed)}) as reversed
    from w
    left join terminals te on te.id = w.terminal_id
    left join venues v on v.id = te.venue_id
    where ${since_ms === null ? sql`true` : sql`w.at >= ${new Date(since_ms)}`}
    group by w.id, w.contact_id, w.kind, w.reason, w.at, v.timezone
    order by w.contact_id`.cursor(page);
}

/**
 * Each award of `offer_ids` in the ledger's purchases and award transactions (those `only` admits
 * of them), one row per award with what the counts need of its transaction, but those of
 * `excluded` (the journal's, counted from there). `ledger_awarded_offers(...) ?| ...` is what the
 * index of migration 016 answers. Conditions on nothing are left out: a statement without them
 * may run in parallel workers (rebuild's scan of the whole ledger).
 */
function awardRows(sql: Sql, offer_ids: readonly string[], excluded: readonly string[], only: Fragment) {
  const ids = offer_ids as string[];
  return sql`
    select t.id, t.contact_id, t.kind, t.terminal_id, t.reply->>'reason' as reason, coalesce(t.occurred_at, t.created_at) as at,
      a.value->>'offer_id' as offer_id, (a.value->>'amount')::int8 as amount
    from ledger_transactions t
    cross join lateral json_array_elements(case
      when json_typeof(t.body->'awards') = 'array' then t.body->'awards'
      when json_typeof(t.reply->'awards') = 'array' then t.reply->'awards'
      else '[]'::json end) a
    where t.kind in ('purchase', 'award')
      ${ids.length <= indexed_offers_max ? sql`and ledger_awarded_offers(t.reply, t.body) ?| ${ids}::text[]` : sql``}
      and a.value->>'offer_id' = any(${ids}::text[])
      ${excluded.length === 0 ? sql`` : sql`and t.id not in (select unnest(${excluded as string[]}::text[]))`}
      ${only}`;
}

/**
 * Whether the transaction `t` (an alias) is reversed: named by a reversal in the ledger or in the
 * journal. Ids are collated "C" and original_id as the database is: compared in the latter, so
 * that the original_id index answers (partial: `is not null` says it may). PostgreSQL probes it
 * per transaction, or reads it whole into a hash when the transactions are many.
 */
function isReversed(sql: Sql, t: 't' | 'w', journal_reversed: ReadonlySet<string>): Fragment {
  const in_journal = journal_reversed.size === 0 ? sql`` : sql`or ${sql(t)}.id = any(${[...journal_reversed]}::text[])`;
  return sql`(exists (select 1 from ledger_transactions rv
    where rv.original_id = (${sql(t)}.id collate "default") and rv.original_id is not null and rv.kind = 'reversal') ${in_journal})`;
}

/** The journal's reversed transactions, and those of its awards a reversal in the ledger names. */
async function withLedgerReversals(sql: Sql, unrecorded: Unrecorded): Promise<Set<string>> {
  const reversed = new Set(unrecorded.reversed);
  const ids = [...new Set(unrecorded.awards.map((a) => a.transaction_id))].filter((id) => !reversed.has(id));
  for (let i = 0; i < ids.length; i += page) {
    const rows = await sql<{ original_id: string }[]>`
      select original_id from ledger_transactions where kind = 'reversal' and original_id = any(${ids.slice(i, i + page)}::text[])`;
    for (const r of rows) reversed.add(r.original_id);
  }
  return reversed;
}

/** Every shard's journal and dead-letter stream, each up to where it ended when its read began. */
async function unrecordedAwards(source: AwardSource, offer_ids: ReadonlySet<string>): Promise<Unrecorded> {
  const found = { awards: [] as JournalAward[], reversed: new Set<string>() };
  for (let shard = 0; shard < source.shard_count; shard++) {
    for (const key of [journalKey(shard), deadLetterKey(shard)]) {
      for await (const entries of streamPages(source.redis, key)) for (const [, fields] of entries) collect(fields, offer_ids, found);
    }
  }
  return found;
}

/** A stream entry's awards of `offer_ids` (one per offer: count and sum), or the transaction it reverses. */
function collect(fields: readonly string[] | null, offer_ids: ReadonlySet<string>, found: { awards: JournalAward[]; reversed: Set<string> }): void {
  const { entry, reply } = streamEntryFields(fields ?? []);
  // Most entries neither reverse nor award: only those that may are parsed.
  if (entry === undefined || !(entry.includes('"reversal"') || entry.includes('"offer_id"') || (reply ?? '').includes('"offer_id"'))) return;
  let e: JournalEntry;
  let awards: readonly { offer_id?: unknown; amount?: unknown }[];
  let reason: string | null;
  try {
    e = JSON.parse(entry) as JournalEntry;
    awards = entryAwards(e, reply) as typeof awards;
    reason = e.kind === 'award' ? replyReason(reply) : null;
  } catch {
    return; // unreadable: the writer sets it aside for a person, who finds it there
  }
  if (e.kind === 'reversal' && typeof e.original_id === 'string') found.reversed.add(e.original_id);
  if ((e.kind !== 'purchase' && e.kind !== 'award') || e.contact_id === null) return;
  const of_offer = new Map<string, { count: number; amount: number }>();
  for (const a of awards) {
    if (typeof a.offer_id !== 'string' || !offer_ids.has(a.offer_id)) continue;
    const sum = of_offer.get(a.offer_id) ?? { count: 0, amount: 0 };
    of_offer.set(a.offer_id, { count: sum.count + 1, amount: sum.amount + Number(a.amount) });
  }
  if (of_offer.size === 0) return;
  const at_ms = Date.parse(e.occurred_at ?? e.created_at);
  for (const [offer_id, sum] of of_offer) {
    found.awards.push({ transaction_id: e.id, offer_id, contact_id: e.contact_id, kind: e.kind, reason, at_ms, terminal_id: e.terminal_id, ...sum });
  }
}

function replyReason(reply: string | undefined): string | null {
  const reason = reply === undefined || reply === '' ? undefined : (JSON.parse(reply) as { reason?: unknown }).reason;
  return typeof reason === 'string' ? reason : null;
}

/** The timezone of each terminal's venue. */
async function venueTimezones(sql: Sql, terminal_ids: readonly (string | null)[]): Promise<Map<string, string>> {
  const ids = [...new Set(terminal_ids)].filter((id): id is string => id !== null);
  const out = new Map<string, string>();
  for (let i = 0; i < ids.length; i += page) {
    const rows = await sql<{ id: string; timezone: string }[]>`
      select te.id, v.timezone from terminals te join venues v on v.id = te.venue_id where te.id = any(${ids.slice(i, i + page)}::text[])`;
    for (const r of rows) out.set(r.id, r.timezone);
  }
  return out;
}

async function* streamPages(redis: RedisClient, key: string): AsyncGenerator<[string, string[] | null][]> {
  const last = (await redis.sendCommand(['XREVRANGE', key, '+', '-', 'COUNT', '1'])) as [string, unknown][];
  if (last.length === 0) return;
  const end = last[0]![0];
  for (let start = '-'; ; ) {
    const entries = (await redis.sendCommand(['XRANGE', key, start, end, 'COUNT', String(page)])) as [string, string[] | null][];
    yield entries;
    if (entries.length < page) return;
    start = `(${entries[entries.length - 1]![0]}`;
  }
}
