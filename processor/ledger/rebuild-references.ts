// Rebuild, the hot window's part: the references of the transactions of the last
// REPLY_TTL_SECONDS as hot/references.ts keeps them (each record in the hash of its period, which
// expires when it would have), and what refunds, reversals and redemptions did to originals
// (`v:` states), so that replays, refunds and reversals within the window go on as before.
//
// A reference's claim holds the claim hash of the request that took it, which the ledger keeps
// since migration 008 (`request_hash`): claims are rebuilt for those transactions, so a different
// body under a reference of the window is refused again (409). Transactions recorded before 008
// have none: a repeated request then takes the claim again and its shard script finds the record.

import { shardOf } from '../../core/ids.ts';
import { claimValue, rememberLateOriginal } from '../claim.ts';
import { stateKey } from '../hot/keys.ts';
import type { OriginalState } from '../hot/original.ts';
import { recordGraceMs, referenceSlot, rewards_terminal } from '../hot/references.ts';
import { undoneReferralReference } from '../referrals.ts';
import { openIntoRewards, rewardsIntoOpen } from './originals.ts';
import type { TransactionSql } from 'postgres';
import type { ProcessorConfig, RedisClient, Sql } from '../stores.ts';

const kind_letters: Record<string, string> = { purchase: 'p', spend: 's', redemption: 'r', refund: 'f', reversal: 'v', award: 'a', expiry: 'x' };

/** A record's value as lib.lua's commit writes it: '<id without txn_>|<kind letter>|amounts…', zeros empty, trailing ones left out. */
export function recordValue(id: string, kind: string, amounts: readonly number[]): string {
  const letter = kind_letters[kind];
  if (letter === undefined) throw new Error(`transaction ${id} has a kind no script records: ${kind}`);
  const last = amounts.findLastIndex((v) => v !== 0);
  return [id.slice(4), letter, ...amounts.slice(0, last + 1).map((v) => (v === 0 ? '' : String(v)))].join('|');
}

interface WindowRow {
  readonly id: string;
  readonly kind: string;
  readonly amount: number;
  readonly contact_id: string;
  readonly terminal_id: string | null;
  readonly reference: string;
  readonly request_hash: string | null;
  readonly created_ms: number;
  readonly reply: string | null;
  readonly body: string | null;
  /** A purchase's or award's postings from rewards into open (its instant_redeem awards); null for other kinds. */
  readonly to_open: number | null;
}

/** The amounts a record keeps after its kind (lib.lua's recordOf calls). */
function recordAmounts(t: WindowRow): number[] {
  switch (t.kind) {
    case 'purchase': {
      const reply = JSON.parse(t.reply ?? '{}') as Record<string, unknown>;
      const body = JSON.parse(t.body ?? '{}') as Record<string, unknown>;
      // What of the entry the reply did not carry is in body (writer.ts).
      const field = <T>(k: string): T | undefined => ((k in body ? body[k] : reply[k]) ?? undefined) as T | undefined;
      const awards = field<{ kind: string; amount: number }[]>('awards') ?? [];
      const awarded = awards.reduce((s, a) => (a.kind === 'instant_discount' ? s : s + a.amount), 0);
      // The sixth is left 0: where records written before 2026-12-04 held a fee.
      return [t.amount, awarded, field<number>('paid_from_wallet') ?? 0, field<number>('discount') ?? 0, 0, t.to_open ?? 0];
    }
    case 'award':
      return [t.amount, t.amount, 0, 0, 0, t.to_open ?? 0];
    default:
      return [t.amount];
  }
}

/** When a hash written at `at_ms` expires: one window after its period ends (references.ts). */
export function windowExpiry(config: Pick<ProcessorConfig, 'reply_ttl_seconds'>, at_ms: number): number {
  const window_ms = config.reply_ttl_seconds * 1000;
  const period_ms = Math.ceil(window_ms / 2);
  return (Math.floor(at_ms / period_ms) + 1) * period_ms + window_ms;
}

/** The earliest time a record still in Redis can have been written at `now_ms`: the start of the period two before. */
export function windowStart(config: Pick<ProcessorConfig, 'reply_ttl_seconds'>, now_ms: number): number {
  const period_ms = Math.ceil((config.reply_ttl_seconds * 1000) / 2);
  return (Math.floor(now_ms / period_ms) - 2) * period_ms;
}

export interface Counted {
  records: number;
  states: number;
}

const batch_rows = 1_000;

/** Every record of the window, written into its period's hash with that hash's expiry. */
export async function rebuildRecords(redis: RedisClient, sql: Sql, config: ProcessorConfig, now_ms: number, onRows: (n: number) => void): Promise<number> {
  const start = new Date(windowStart(config, now_ms));
  const cursor = sql<WindowRow[]>`
    select t.id, t.kind, t.amount, t.contact_id, t.terminal_id, t.reference, t.request_hash, (extract(epoch from t.created_at) * 1000)::int8 as created_ms,
      case when t.kind = 'purchase' then t.reply::text end as reply, case when t.kind = 'purchase' then t.body::text end as body,
      case when t.kind in ('purchase', 'award') then (select coalesce(sum(p.amount), 0)::int8 from ledger_postings p
        where p.transaction_id = t.id and ${rewardsIntoOpen(sql)}) end as to_open
    from ledger_transactions t
    where t.created_at >= ${start} and t.contact_id is not null and t.reference is not null`.cursor(batch_rows);
  return writeWindow(redis, cursor, config, now_ms, (t, write) => {
    const slot = referenceSlot(config, t.terminal_id ?? rewards_terminal, t.reference, t.created_ms);
    // A record outlives its claim, as the scripts write it (references.ts recordGraceMs).
    write('hSet', slot.record_keys(shardOf(t.contact_id, config.shard_count))[0]!, slot.field, recordValue(t.id, t.kind, recordAmounts(t)), recordGraceMs(config.reply_ttl_seconds * 1000));
    if (t.request_hash !== null) write('hSet', slot.claim_keys[0]!, slot.field, claimValue(t.request_hash, t.contact_id));
  }, onRows);
}

/**
 * Writes a hash field (HSET, or HSETNX: only where nothing is), the hash to expire as its row's
 * period says, `grace_ms` later; 'if_none': only if it has no expiry yet (a script's PEXPIRE NX
 * on a hash of a period before its own, which keeps the expiry of the records it holds).
 */
type WindowWrite = (command: 'hSet' | 'hSetNX', key: string, field: Buffer, value: Buffer | string, grace_ms?: number, expiry?: 'always' | 'if_none') => void;

/**
 * Rows of the hot window into Redis, a pipeline per batch: `each` writes a row's fields, and every
 * hash it wrote expires when the row's period would have made it (windowExpiry; rows already past
 * it are skipped). Returns how many rows were written.
 */
async function writeWindow<R extends { readonly created_ms: number }>(
  redis: RedisClient, cursor: AsyncIterable<readonly R[]>, config: ProcessorConfig, now_ms: number, each: (row: R, write: WindowWrite) => void, onRows?: (n: number) => void,
): Promise<number> {
  let written = 0;
  for await (const rows of cursor) {
    const pipeline = redis.multi();
    const expiries = new Map<string, number>();
    const expiries_if_none = new Map<string, number>();
    for (const row of rows) {
      const expire_at = windowExpiry(config, row.created_ms);
      if (expire_at <= now_ms) continue;
      each(row, (command, key, field, value, grace_ms = 0, expiry = 'always') => {
        pipeline[command](key, field, value);
        if (expiry === 'always') expiries.set(key, Math.max(expiries.get(key) ?? 0, expire_at + grace_ms));
        // Rows come oldest first: the first write's NX is the one that took.
        else if (!expiries_if_none.has(key)) expiries_if_none.set(key, expire_at + grace_ms);
      });
      written++;
    }
    for (const [key, at] of expiries) pipeline.pExpireAt(key, at);
    // After the others: a hash that has an expiry (its own records', from this batch or before) keeps it.
    for (const [key, at] of expiries_if_none) pipeline.pExpireAt(key, at, 'NX');
    await pipeline.execAsPipeline();
    onRows?.(rows.length);
  }
  return written;
}

interface StateRow extends OriginalState {
  readonly id: string;
  readonly contact_id: string;
  readonly kind: string;
  readonly last_ms: number;
  readonly lots: string | null;
  /** A redemption's `since` where redeem.lua raised it (journal.ts JournalEntry.since), else null. */
  readonly since: string | null;
}

/**
 * The originals the window's refunds, reversals and redemptions touched, with what they did to
 * each. `o.id` takes the "C" collation of `id` (the union with redemptions' ids), while
 * original_id and its index are in the database's: the lookups by original_id compare in the
 * latter, else each is a scan of the whole index (rebuild of 1,000,000 transactions: 194,000
 * originals, hours instead of seconds).
 */
export function statesQuery(sql: Sql | TransactionSql, start_ms: number) {
  return sql<StateRow[]>`
    with touched as (
      select original_id as id, max(created_at) as last_at from ledger_transactions
      where created_at >= ${new Date(start_ms)} and kind in ('refund', 'reversal') and original_id is not null group by original_id
      union all
      select id, created_at from ledger_transactions where created_at >= ${new Date(start_ms)} and kind = 'redemption'
    ), originals as (select id, max(last_at) as last_at from touched group by id)
    select o.id, t.contact_id, t.kind, (extract(epoch from o.last_at) * 1000)::int8 as last_ms,
      case when t.kind = 'redemption' then (t.body->'lots')::text end as lots,
      case when t.kind = 'redemption' then t.body->>'since' end as since,
      coalesce(r.refunded, 0)::int8 as refunded, coalesce(r.clawed, 0)::int8 as clawed, coalesce(r.returned, 0)::int8 as returned,
      coalesce(r.reversed, false) as reversed, coalesce(f.discount_returned, 0)::int8 as discount_returned,
      coalesce(f.clawed_open, 0)::int8 as clawed_open
    from originals o join ledger_transactions t on t.id = o.id
    left join lateral (
      select sum(x.amount) filter (where x.kind = 'refund') as refunded,
        sum((x.reply->>'clawed_back')::int8 + coalesce((x.reply->>'award_expired')::int8, 0)) filter (where x.kind = 'refund') as clawed,
        sum((x.reply->>'returned_to_wallet')::int8) filter (where x.kind = 'refund') as returned,
        bool_or(x.kind = 'reversal') as reversed
      from ledger_transactions x where x.original_id = (o.id collate "default") and x.kind in ('refund', 'reversal')
    ) r on true
    left join lateral (
      select sum(p.amount) filter (where strpos(p.debit_account, ':discounts:') > 0) as discount_returned,
        sum(p.amount) filter (where ${openIntoRewards(sql)}) as clawed_open
      from ledger_transactions x join ledger_postings p on p.transaction_id = x.id
      where x.original_id = (o.id collate "default") and x.kind = 'refund'
    ) f on true
    where t.contact_id is not null`;
}

/**
 * The `v:` state of every original a refund, reversal or redemption of the window touched (what
 * refunds took of it, whether it is reversed, a redemption's lots), from all its refunds and
 * reversals in the ledger, expiring a window after the period of the last of them.
 */
export async function rebuildStates(redis: RedisClient, sql: Sql, config: ProcessorConfig, now_ms: number): Promise<number> {
  let states = 0;
  const cursor = statesQuery(sql, windowStart(config, now_ms)).cursor(batch_rows);
  for await (const rows of cursor) {
    const pipeline = redis.multi();
    for (const s of rows) {
      // An original's state lives as long as its record (the scripts give both record_ttl_ms).
      const expire_at = windowExpiry(config, s.last_ms) + recordGraceMs(config.reply_ttl_seconds * 1000);
      if (expire_at <= now_ms) continue;
      const key = stateKey(shardOf(s.contact_id, config.shard_count), s.id);
      const fields: Record<string, string> = {};
      // As refund.lua leaves them (HINCRBY: every field once any refund was made), reversal.lua ('rv') and redeem.lua ('lots', 'since').
      if (s.refunded > 0) Object.assign(fields, { rf: String(s.refunded), cw: String(s.clawed), cp: String(s.returned), dr: String(s.discount_returned) });
      if (s.clawed_open > 0) fields.co = String(s.clawed_open);
      if (s.reversed) fields.rv = '1';
      if (s.lots !== null) fields.lots = s.lots;
      if (s.since !== null) fields.since = s.since;
      if (Object.keys(fields).length === 0) continue;
      pipeline.hSet(key, fields);
      pipeline.pExpireAt(key, expire_at);
      states++;
    }
    await pipeline.execAsPipeline();
  }
  return states;
}

interface RefusalRow {
  readonly code: string;
  readonly terminal_id: string;
  readonly reference: string;
  readonly request_hash: string;
  readonly contact_id: string;
  readonly original_reference: string | null;
  readonly created_ms: number;
}

/**
 * The refusals of the window (processor/refusals.ts), remembered again as the hot path left them:
 * the claim of the request's reference (its hash, and its contact, or none when its original was
 * not found), a script's refusal in the contact's record ('-<code>'), a reversal's mark on the
 * original it found missing ('!<hash>': refused if it arrives), and a referral undo's on the award
 * it found not made (markUnmadeAward). Written after the transactions and
 * only where nothing is (HSETNX), oldest first: never over a transaction's claim or record, and a
 * mark is the first reversal's, as claim.lua keeps it. Then the originals that came after their
 * reversal (lateOriginals). Returns how many.
 */
export async function rebuildRefusals(redis: RedisClient, sql: Sql, config: ProcessorConfig, now_ms: number): Promise<number> {
  const start = new Date(windowStart(config, now_ms));
  const cursor = sql<RefusalRow[]>`
    select code, terminal_id, reference, request_hash, contact_id, original_reference, (extract(epoch from created_at) * 1000)::int8 as created_ms
    from ledger_refusals where created_at >= ${start} order by created_at, id`.cursor(batch_rows);
  const written = await writeWindow(redis, cursor, config, now_ms, (r, write) => {
    if (isLateOriginal(r)) return;
    const slot = referenceSlot(config, r.terminal_id, r.reference, r.created_ms);
    write('hSetNX', slot.claim_keys[0]!, slot.field, claimValue(r.request_hash, r.contact_id));
    if (r.contact_id !== '') write('hSetNX', slot.record_keys(shardOf(r.contact_id, config.shard_count))[0]!, slot.field, `-${r.code}`, recordGraceMs(config.reply_ttl_seconds * 1000));
    if (r.original_reference !== null) {
      const original = referenceSlot(config, r.terminal_id, r.original_reference, r.created_ms);
      write('hSetNX', original.claim_keys[0]!, original.field, Buffer.from(`!${r.request_hash}`, 'latin1'));
    }
    markUnmadeAward(config, r, write);
  });
  // Counted above, with the refusals of the window (as their rows).
  await rebuildLateOriginals(redis, sql, config, start);
  return written;
}

/**
 * A referral's undo that found no award to reverse (processor/referral-undo.ts: its budget was
 * spent, say, or the award not made yet) was refused original_not_found, and its script marked the
 * award's reference reversed ('!', reversal.lua), so that the award is refused if it comes: in the
 * record hashes of the undo's period and the one before (an award made a moment before the period
 * turned looks there). Until 2026-12-06 rebuild wrote the undo's refusal and not the mark (the
 * rebuild model, seeds 11, 22 and 33 at 400 steps). The hash of the period before keeps the
 * expiry it has (the script's PEXPIRE NX); one the mark makes expires with the undo's period's.
 */
function markUnmadeAward(config: ProcessorConfig, r: RefusalRow, write: WindowWrite): void {
  const award = r.terminal_id === rewards_terminal && r.code === 'original_not_found' ? undoneReferralReference(r.reference) : undefined;
  if (award === undefined) return;
  const slot = referenceSlot(config, rewards_terminal, award, r.created_ms);
  const [current, before] = slot.record_keys(shardOf(r.contact_id, config.shard_count));
  const grace_ms = recordGraceMs(config.reply_ttl_seconds * 1000);
  write('hSetNX', current!, slot.field, '!', grace_ms);
  write('hSetNX', before!, slot.field, '!', grace_ms, 'if_none');
}

/** An original refused at its claim, its reversal having come first (processor/claim.ts lateOriginal). */
function isLateOriginal(r: RefusalRow): boolean {
  return r.code === 'already_reversed' && r.contact_id === '';
}

/**
 * Each original refused for its reversal's mark: its claim hash written after the mark again, as
 * claim.lua wrote it (so its repeat is answered as replayed, another body 409), by claim.lua
 * itself, where the mark is and has no hash after it yet; oldest first, so the first to come
 * keeps it. The mark is the reversal's refusal's, rebuilt before; one gone (its reversal before
 * the window's start, its period ending) is not made again: the reference is free, as it would
 * have been.
 */
async function rebuildLateOriginals(redis: RedisClient, sql: Sql, config: ProcessorConfig, start: Date): Promise<void> {
  const cursor = sql<RefusalRow[]>`
    select code, terminal_id, reference, request_hash, contact_id, original_reference, (extract(epoch from created_at) * 1000)::int8 as created_ms
    from ledger_refusals where created_at >= ${start} and code = 'already_reversed' and contact_id = '' order by created_at, id`.cursor(batch_rows);
  for await (const rows of cursor) {
    for (const r of rows) await rememberLateOriginal({ redis }, referenceSlot(config, r.terminal_id, r.reference, r.created_ms), r.request_hash);
  }
}
