// A business's contacts' tier units counted from the ledger when a kind of tier comes to it (PUT
// /v1/tiers). The hot path counts a kind's units only while the business has tiers of it (the
// purchase script adds to the kinds it is told of), so the purchases made before a kind came
// counted nothing: a contact who bought 30.00 in a month was not gold at 25 units once the tiers
// came in that month, nor after its next purchase (a rewards probe, 2026-12-06), where API.md
// has "a purchase earns value units equal to its amount in major units; a contact advances at
// once when its period units reach a higher tier". So the contacts with purchases dated in a
// period a tier may still read get their units as the ledger makes them (core/tier.ts TierUnits,
// as `npm run rebuild` makes them), every kind of the business's tiers at once.
//
// Owed as a copy (copies-owed.ts, kind 'tiers'): the PUT that adds a kind owes it in its own
// transaction and pays it once done; cut short (Redis failing, the process killed), the sweep of
// the ledger-writing process makes it again, from the start: it writes what the ledger makes, so
// making it twice or late is never wrong.
//
// A contact's units are written only if no purchase or reversal of it came since its counts were
// read (hot/tier-units.lua; read again otherwise, a few times at most), and read from the ledger
// once it holds what the journals held after that read: with a ledger behind by more than the
// wait, nothing more is counted and the copy stays owed (counted from a ledger without a purchase
// Redis had counted, the contact's units lost it: a review); the PUT answers all the same, and
// the sweep counts them once the ledger has caught up. A reversal whose purchase's units are still to
// be given back (a deferred undo: the ledger could not be read then) is counted as not reversed
// yet, so that the undo, when it comes, takes them off once.
//
// A gateway still on the rewards it had before the PUT (its pub/sub message missed; at most
// offers_ttl_ms, 30 s) counts a purchase without the new kind after its contact was counted here:
// so the PUT owes the count once more after that (offers.ts), which takes it in. Left open: a PUT
// that removes a kind while the sweep counts an earlier one may see that kind's fields written
// back after it forgot them: fields no tier reads, forgotten again before the kind comes back.

import { shardOf } from '../core/ids.ts';
import { TierUnits, type PeriodKind } from '../core/tier.ts';
import { PocketgateError } from '../core/errors.ts';
import { decodeDeferredUndo } from './deferred-undos.ts';
import { contactKey, deferredUndosKey } from './hot/keys.ts';
import { pending_undos_max } from './hot/tier-units.ts';
import { journalMarks, waitForLedger } from './ledger/caught-up.ts';
import type { Sql, Stores } from './stores.ts';

/** Contacts read and written per round. */
const contacts_per_batch = 500;
/**
 * Reads of a contact whose purchases keep coming, at most: then 503 (the copy owed is made again).
 * A round takes the ledger writer's lag (tens of ms): a house card scanned every few seconds is
 * read again once or twice.
 */
const reads_max = 20;
/** How long the ledger is waited for, per round, by default (the sweep's). */
const ledger_wait_ms = 5_000;
/** A year's period and the one before it, with the widest calendars' offsets to spare: purchases dated earlier count in no period a tier reads. */
const periods_read_ms = 2 * 366 * 86_400_000;

export interface PurchaseRow {
  readonly contact_id: string;
  readonly id: string;
  readonly kind: 'purchase' | 'reversal';
  readonly amount: number;
  readonly original_id: string | null;
  readonly at_ms: number;
  readonly timezone: string | null;
}

/**
 * Every contact of `business_id` with purchases in a period still read: its units of `kinds` as
 * the ledger makes them. Whether all were counted: false when the ledger was behind by more than
 * `wait_ms` (those counted before stand; counting again is never wrong).
 */
export async function seedTierUnits(stores: Pick<Stores, 'sql' | 'redis' | 'config' | 'clock'>, business_id: string, kinds: readonly PeriodKind[], wait_ms = ledger_wait_ms): Promise<boolean> {
  if (kinds.length === 0) return true;
  const since = new Date(stores.clock.now() - periods_read_ms);
  if (!(await ledgerCaughtUp(stores, wait_ms))) return false;
  // Through the terminals' index (every purchase has a terminal, a processor's too), made at most
  // a day after its occurred_at is (EVENTS.md dates a clearing up to 35 days back, and created_at
  // is later still, so a day before `since` takes in every purchase dated since).
  const cursor = stores.sql<{ contact_id: string }[]>`
    select distinct contact_id from ledger_transactions
    where terminal_id in (select id from terminals where business_id = ${business_id}) and created_at >= ${new Date(since.getTime() - 86_400_000)}
      and kind = 'purchase' and contact_id is not null`.cursor(contacts_per_batch);
  for await (const rows of cursor) {
    if (!(await seedContacts(stores, rows.map((r) => r.contact_id), kinds, since, wait_ms))) return false;
  }
  return true;
}

/** Whether the ledger holds, within `wait_ms`, what every journal held when asked. */
async function ledgerCaughtUp(stores: Pick<Stores, 'redis' | 'config'>, wait_ms: number): Promise<boolean> {
  return waitForLedger(stores.redis, await journalMarks(stores.redis, stores.config.shard_count), wait_ms);
}

/** The contacts' reversals whose purchase's units are still to be given back (deferred-undos.ts), by contact. */
async function pendingUndos(redis: Stores['redis'], shard_count: number, contact_ids: readonly string[]): Promise<Map<string, string[]>> {
  const shards = [...new Set(contact_ids.map((id) => shardOf(id, shard_count)))];
  const wanted = new Set(contact_ids);
  const pending = new Map<string, string[]>();
  for (const deferred of await Promise.all(shards.map((shard) => redis.hGetAll(deferredUndosKey(shard))))) {
    for (const [reversal, value] of Object.entries(deferred)) {
      const d = decodeDeferredUndo(value);
      if (d === undefined || !wanted.has(d.contact_id)) continue;
      pending.set(d.contact_id, [...(pending.get(d.contact_id) ?? []), reversal]);
    }
  }
  return pending;
}

/** The contacts' units written; false when the ledger was behind (none of them written). */
async function seedContacts(stores: Pick<Stores, 'sql' | 'redis' | 'config'>, contact_ids: readonly string[], kinds: readonly PeriodKind[], since: Date, wait_ms: number): Promise<boolean> {
  const { redis, config } = stores;
  let pending = contact_ids;
  for (let read = 1; pending.length > 0; read++) {
    if (read > reads_max) throw new PocketgateError('unavailable', `tier units of ${pending.length} contacts could not be counted: their purchases kept coming; try again`);
    const counts = await Promise.all(pending.map((id) => redis.hmGet(contactKey(shardOf(id, config.shard_count), id), ['fp', 'rv'])));
    const undos = await pendingUndos(redis, config.shard_count, pending);
    const crowded = pending.find((id) => (undos.get(id)?.length ?? 0) > pending_undos_max);
    if (crowded !== undefined) throw new PocketgateError('unavailable', `contact ${crowded} has more than ${pending_undos_max} reversals still to be given back: its units are counted once they are`);
    if (!(await ledgerCaughtUp(stores, wait_ms))) return false;
    const histories = await purchaseHistories(stores.sql, pending, since);
    const written = await Promise.all(
      pending.map((contact_id, i) => {
        const [purchases, reversals] = counts[i]!;
        const not_yet = undos.get(contact_id) ?? [];
        const units = unitsOf(histories.get(contact_id) ?? [], kinds, new Set(not_yet));
        const call = { shard: shardOf(contact_id, config.shard_count), contact_id, purchases: purchases ?? '', reversals: reversals ?? '', pending: not_yet.map((reversal) => ({ reversal })), units };
        return redis.tierUnitsScript(call);
      }),
    );
    pending = pending.filter((_, i) => written[i] === 'stale');
  }
  return true;
}

/**
 * The units fields of `kinds` after `history` (in the order its shard applied it): '' for a kind
 * with none. The reversals `not_yet` (their purchase's units still to be given back by a deferred
 * undo) take nothing off.
 */
export function unitsOf(history: readonly PurchaseRow[], kinds: readonly PeriodKind[], not_yet: ReadonlySet<string> = new Set()): { field: string; value: string }[] {
  const units = new TierUnits(kinds);
  const purchases = new Map<string, PurchaseRow>();
  for (const t of history) {
    if (t.kind === 'purchase') {
      purchases.set(t.id, t);
      units.purchased(t.amount, t.at_ms, t.timezone ?? 'UTC');
    } else {
      // A reversal of a purchase dated before the periods read (or of a spend or redemption): nothing to take back.
      const p = t.original_id === null || not_yet.has(t.id) ? undefined : purchases.get(t.original_id);
      if (p !== undefined) units.reversed(p.amount, p.at_ms, p.timezone ?? 'UTC');
    }
  }
  const fields = new Map(units.fields());
  return kinds.map((kind) => ({ field: `u${kind}`, value: fields.get(`u${kind}`) ?? '' }));
}

/** The contacts' purchases dated since `since` and their reversals, each contact's in the order its shard applied them (as rebuild reads them). */
async function purchaseHistories(sql: Sql, contact_ids: readonly string[], since: Date): Promise<Map<string, PurchaseRow[]>> {
  const rows = await sql<PurchaseRow[]>`
    select t.contact_id, t.id, t.kind, t.amount, t.original_id,
      (extract(epoch from coalesce(t.occurred_at, t.created_at)) * 1000)::int8 as at_ms, v.timezone
    from ledger_transactions t
    left join terminals te on te.id = t.terminal_id
    left join venues v on v.id = te.venue_id
    where t.contact_id = any(${contact_ids as string[]}) and (t.kind = 'reversal' or (t.kind = 'purchase' and coalesce(t.occurred_at, t.created_at) >= ${since}))
    order by t.contact_id collate "C", nullif(split_part(t.journal_id, '-', 1), '')::int8, nullif(split_part(t.journal_id, '-', 2), '')::int8, t.id`;
  const histories = new Map<string, PurchaseRow[]>();
  for (const r of rows) {
    const history = histories.get(r.contact_id) ?? [];
    history.push({ ...r, amount: Number(r.amount), at_ms: Number(r.at_ms) });
    histories.set(r.contact_id, history);
  }
  return histories;
}
