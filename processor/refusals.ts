// Refusals a request earned on its merits (a shard script's: lib.lua refuse; a refund's or a
// reversal's original not found), which the hot window remembers under the request's reference so
// that its repeat is refused the same way (API.md, Idempotency). Redis alone forgets them with its
// data; the ledger keeps them too (`ledger_refusals`, migration 018) so that `npm run rebuild`
// remembers them again (OPERATIONS.md: every reply of the window replays unchanged).
//
// They travel as transactions do: appended to the shard's journal before the refusal is answered
// (a script's in the call that refuses, as a transaction is committed with its entry), recorded by
// the ledger writer. In an entry of their own, field `x` and no `e`: the live feed and the offers'
// counts, which read `e`, never see them. The ledger keeps one row a request (terminal, reference,
// claim hash): a repeat journals its refusal again where the first may never have been journaled.

import type { ErrorCode } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { journalKey } from './hot/keys.ts';
import type { ReferenceSlot } from './hot/references.ts';
import { pruneHourly } from './repeat.ts';
import type { Sql, Stores } from './stores.ts';

/** The stream entry field a refusal is written in (a transaction's are `e` and `r`). */
export const refusal_field = 'x';

/** A refusal as the journal carries it and the ledger keeps it. */
export interface Refusal {
  readonly id: string;
  readonly code: ErrorCode;
  readonly business_id: string;
  readonly terminal_id: string;
  readonly reference: string;
  /** The reference's claim hash (claim.ts claimHash). */
  readonly request_hash: string;
  /** '' when the request named no contact (its original was not found). */
  readonly contact_id: string;
  /** When its reference was claimed (its slot's time, to the millisecond: it decides the period). */
  readonly created_at: string;
  /** A reversal's whose original had not arrived: the original's reference, refused if it comes. */
  readonly original_reference?: string;
  /** Journaled by a repeat of the request (see RefusedRequest): recorded only if the ledger has none for its request. */
  readonly repeat?: true;
}

/** Who was refused: the request's business, reference slot, claim hash and contact. */
export interface RefusedRequest {
  readonly business_id: string;
  readonly slot: ReferenceSlot;
  readonly request_hash: string;
  readonly contact_id: string;
  readonly original_reference?: string;
  /**
   * Whether it is a repeat of a refusal remembered before: journaled again, in case the first was
   * claimed and never journaled (a kill between the two), which the ledger tells apart by request.
   */
  readonly repeat?: boolean;
}

/** The refusal of `request` with `code`, as the ledger is to keep it. */
export function refusalEntry(request: RefusedRequest, code: ErrorCode): Refusal {
  const { slot } = request;
  return {
    id: newId('rfs'),
    code,
    business_id: request.business_id,
    terminal_id: slot.terminal_id,
    reference: slot.reference,
    request_hash: request.request_hash,
    contact_id: request.contact_id,
    created_at: new Date(slot.at_ms).toISOString(),
    ...(request.original_reference === undefined ? {} : { original_reference: request.original_reference }),
    ...(request.repeat === true ? { repeat: true as const } : {}),
  };
}

/**
 * Append the refusal to `shard`'s journal; awaited before the refusal is answered, so that every
 * refusal a client was told reaches the ledger. Should Redis fail here, the request gets 503 (the
 * refusal stands in the hot window: its repeat gets it, replayed).
 */
export async function journalRefusal(stores: Pick<Stores, 'redis'>, shard: number, refusal: Refusal): Promise<void> {
  await stores.redis.sendCommand(['XADD', journalKey(shard), '*', refusal_field, JSON.stringify(refusal)]);
}

/**
 * Remember a refusal decided outside a shard script for a request that named its contact (a
 * purchase's payment code: wallet.ts rememberPaymentRefusal) as a script's refusal is (lib.lua
 * refuse): '-<code>' in the contact's record under the reference, then journaled on its shard.
 * Only where no record is (HSETNX): a copy of the request approved meanwhile by its shard script
 * keeps its record (a blind write made its refunds and reversals find a refused request: the
 * review of 2026-12-06). Whether it was written. Past the journal's bound it is remembered in
 * the hot window only; a kill between the two leaves it remembered and not journaled.
 */
export async function rememberOnShard(stores: Pick<Stores, 'redis' | 'config'>, shard: number, request: RefusedRequest, code: ErrorCode): Promise<boolean> {
  const { slot } = request;
  const record_key = slot.record_keys(shard)[0]!;
  if (!(await stores.redis.hSetNX(record_key, slot.field, `-${code}`))) return false;
  const multi = stores.redis.multi().pExpire(record_key, slot.record_ttl_ms, 'NX');
  if ((await stores.redis.xLen(journalKey(shard))) < stores.config.journal_length_max) {
    multi.addCommand(['XADD', journalKey(shard), '*', refusal_field, JSON.stringify(refusalEntry(request, code))]);
  }
  await multi.exec();
  return true;
}

/**
 * Journal a refusal decided at its reference's claim, not by a shard script (a refund's or a
 * reversal's original not found; an original its reversal came before): on the shard its
 * reference's field picks, since it has no contact's. Its claim and this are two calls: a repeat
 * is journaled again (`repeat`), since a kill between the first's two left it claimed and never
 * journaled; the ledger keeps one row a request. A shard script journals nothing past the
 * journal's bound (lib.lua prologue); neither does this, which no script guards: past it the
 * refusal is remembered in the hot window only.
 */
export async function journalClaimRefusal(stores: Pick<Stores, 'redis' | 'config'>, request: RefusedRequest, code: ErrorCode): Promise<void> {
  const shard = request.slot.field[0]! % stores.config.shard_count;
  if ((await stores.redis.xLen(journalKey(shard))) >= stores.config.journal_length_max) return;
  await journalRefusal(stores, shard, refusalEntry(request, code));
}

/** Refusals one pruning statement forgets, and statements one hourly run makes. */
export const prune_refusals_max = 10_000;
const prune_statements_max = 100;

/**
 * Forgets up to `rows_max` refusals older than two hot windows (rebuild reads at most one and a
 * half back: the window's first period); returns how many.
 */
export async function pruneRefusals(sql: Sql, reply_ttl_seconds: number, rows_max = prune_refusals_max): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    with gone as (
      delete from ledger_refusals where id = any(array(
        select id from ledger_refusals where created_at < now() - make_interval(secs => ${2 * reply_ttl_seconds}) limit ${rows_max}))
      returning 1)
    select count(*)::int4 as n from gone`;
  return row!.n;
}

/** Prunes every hour, as long as there is more to forget, until stopped (run by the ledger-writing process). */
export function startRefusalRetention(sql: Sql, reply_ttl_seconds: number, onError: (err: unknown) => void): () => void {
  return pruneHourly(() => pruneRefusals(sql, reply_ttl_seconds), prune_refusals_max, prune_statements_max, onError);
}
