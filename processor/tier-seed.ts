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
// once it holds what the journals held after that read. What the ledger cannot be waited for
// (its writer behind by more than ledger_wait_ms) is counted as the ledger holds it then.

import { shardOf } from '../core/ids.ts';
import { TierUnits, type PeriodKind } from '../core/tier.ts';
import { PocketgateError } from '../core/errors.ts';
import { contactKey } from './hot/keys.ts';
import { journalMarks, waitForLedger } from './ledger/caught-up.ts';
import type { Sql, Stores } from './stores.ts';

/** Contacts read and written per round. */
const contacts_per_batch = 500;
/** Reads of a contact whose purchases keep coming, at most: then 503 (the copy owed is made again). */
const reads_max = 5;
/** How long the ledger is waited for, per round. */
const ledger_wait_ms = 5_000;
/** A year's period and the one before it, with the widest calendars' offsets to spare: purchases dated earlier count in no period a tier reads. */
const periods_read_ms = 2 * 366 * 86_400_000;

interface PurchaseRow {
  readonly contact_id: string;
  readonly id: string;
  readonly kind: 'purchase' | 'reversal';
  readonly amount: number;
  readonly original_id: string | null;
  readonly at_ms: number;
  readonly timezone: string | null;
}

/** Every contact of `business_id` with purchases in a period still read: its units of `kinds` as the ledger makes them. */
export async function seedTierUnits(stores: Pick<Stores, 'sql' | 'redis' | 'config' | 'clock'>, business_id: string, kinds: readonly PeriodKind[]): Promise<void> {
  if (kinds.length === 0) return;
  const since = new Date(stores.clock.now() - periods_read_ms);
  await waitForLedger(stores.redis, await journalMarks(stores.redis, stores.config.shard_count), ledger_wait_ms);
  const cursor = stores.sql<{ contact_id: string }[]>`
    select distinct contact_id from ledger_transactions
    where business_id = ${business_id} and kind = 'purchase' and contact_id is not null and coalesce(occurred_at, created_at) >= ${since}`.cursor(contacts_per_batch);
  for await (const rows of cursor) await seedContacts(stores, rows.map((r) => r.contact_id), kinds, since);
}

async function seedContacts(stores: Pick<Stores, 'sql' | 'redis' | 'config'>, contact_ids: readonly string[], kinds: readonly PeriodKind[], since: Date): Promise<void> {
  const { redis, config } = stores;
  let pending = contact_ids;
  for (let read = 1; pending.length > 0; read++) {
    if (read > reads_max) throw new PocketgateError('unavailable', `tier units of ${pending.length} contacts could not be counted: their purchases kept coming; try again`);
    const counts = await Promise.all(pending.map((id) => redis.hmGet(contactKey(shardOf(id, config.shard_count), id), ['fp', 'rv'])));
    await waitForLedger(redis, await journalMarks(redis, config.shard_count), ledger_wait_ms);
    const histories = await purchaseHistories(stores.sql, pending, since);
    const written = await Promise.all(
      pending.map((contact_id, i) => {
        const [purchases, reversals] = counts[i]!;
        const units = unitsOf(histories.get(contact_id) ?? [], kinds);
        return redis.tierUnitsScript({ shard: shardOf(contact_id, config.shard_count), contact_id, purchases: purchases ?? '', reversals: reversals ?? '', units });
      }),
    );
    pending = pending.filter((_, i) => written[i] === 'stale');
  }
}

/** The units fields of `kinds` after `history` (in the order its shard applied it): '' for a kind with none. */
export function unitsOf(history: readonly PurchaseRow[], kinds: readonly PeriodKind[]): { field: string; value: string }[] {
  const units = new TierUnits(kinds);
  const purchases = new Map<string, PurchaseRow>();
  for (const t of history) {
    if (t.kind === 'purchase') {
      purchases.set(t.id, t);
      units.purchased(t.amount, t.at_ms, t.timezone ?? 'UTC');
    } else {
      // A reversal of a purchase dated before the periods read (or of a spend or redemption): nothing to take back.
      const p = t.original_id === null ? undefined : purchases.get(t.original_id);
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
