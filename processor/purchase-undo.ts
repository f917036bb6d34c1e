// What a reversal of a purchase gives back besides money (API.md: it voids the purchase "as if it
// never happened"): the cap counts of its awards, the purchase itself in the contact's count (the
// next purchase may be the first again), its tier units (all three in reversal.lua's
// undoPurchase, atomically with the reversal) and the budgets its awards used (after the script,
// here: budgets live in keys of their own slot).
//
// What the purchase counted is read from its journal entry while the ledger has not recorded
// it, else from its ledger row (transactions.ts findTransaction, which reading a transaction back
// shares); the offers' limits are taken as they are now, as rebuild's replay takes them
// (processor/ledger/replay.ts unpurchased derives the same from the ledger).

import { tierKeysAt, type PeriodKind } from '../core/tier.ts';
import { capFieldAt } from './awards.ts';
import { budgetKey } from './hot/keys.ts';
import type { PurchaseUndo } from './hot/reversal.ts';
import type { Rewards } from './offers.ts';
import { tierUnits } from './purchase.ts';
import type { Stores } from './stores.ts';
import { findTransaction, type LedgerRead, type StoredTransaction } from './transactions.ts';

/** What a purchase counted, as its journal entry or ledger row holds it. */
export interface CountedPurchase {
  readonly id: string;
  readonly amount: number;
  /** Its occurred_at: what its offers, caps and tier period were decided by. */
  readonly at_ms: number;
  /** Its awards, as its reply has them: what they counted, and the lots they went into (awards.ts awardLots). */
  readonly awards: readonly CountedAward[];
  /** What of its awards paid commerce debt (journal.ts JournalEntry.settled; 0: none). */
  readonly settled: number;
}

export interface CountedAward {
  readonly offer_id: string;
  readonly kind: string;
  readonly amount: number;
  readonly pool: string | null;
  readonly expires_at: string | null;
}

/**
 * The purchase `id` of the contact on `shard`: from the journal while it is pending there, else
 * from the ledger. Undefined when neither can be read now (PostgreSQL down after the ledger
 * recorded it): the reversal then gives back the purchase alone, and, for a business whose
 * rewards count (`undoNeedsCounted`), defers the rest until the ledger answers (deferred-undos.ts).
 */
export async function readCountedPurchase(stores: Stores, shard: number, id: string, ledger_read: LedgerRead): Promise<CountedPurchase | undefined> {
  const purchase = await findTransaction(stores, [shard], id, 'absent', ledger_read);
  return purchase === undefined ? undefined : countedOf(purchase);
}

function countedOf(t: StoredTransaction): CountedPurchase {
  const awards = t.awards as { offer_id?: unknown; kind?: unknown; amount?: unknown; pool?: unknown; expires_at?: unknown }[];
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    id: t.id,
    amount: t.amount,
    at_ms: Date.parse(t.occurred_at ?? t.created_at),
    settled: t.settled ?? 0,
    awards: awards.flatMap((a) =>
      typeof a.offer_id === 'string' && typeof a.amount === 'number' ? [{ offer_id: a.offer_id, kind: text(a.kind) ?? '', amount: a.amount, pool: text(a.pool), expires_at: text(a.expires_at) }] : [],
    ),
  };
}

/**
 * The script's part of the undoing: the purchase `original` was read for, and what `counted`
 * (undefined: not readable now) counted by the business's limits and tiers as they are now,
 * at the venue in `timezone`.
 */
export function undoOf(original: string, counted: CountedPurchase | undefined, rewards: Rewards, timezone: string): PurchaseUndo {
  if (counted === undefined) return { original, caps: [], units: 0, periods: [] };
  const caps = counted.awards.map((a) => capFieldAt(a.offer_id, rewards.limits.get(a.offer_id)?.per_contact, counted.at_ms, timezone)).filter((f) => f !== '');
  const keys = tierKeysAt(counted.at_ms, timezone);
  const kinds = [...new Set(rewards.tiers.map((t) => t.period[0] as PeriodKind))];
  return { original, caps, units: tierUnits(counted.amount, rewards), periods: kinds.map((kind) => ({ kind, current: keys[kind].current, next: keys[kind].next })) };
}

/**
 * Whether undoing a purchase of a business with these rewards needs what it counted: caps,
 * budgets (limits) or tier units. Without it, a reversal would leave them counted, the purchase
 * not voided "as if it never happened" (API.md), and Redis apart from what rebuild derives.
 */
export function undoNeedsCounted(rewards: Rewards): boolean {
  return rewards.limits.size > 0 || rewards.tiers.length > 0;
}

/** Give back the budgets `counted`'s awards used, by the business's budgets as they are now. */
export async function giveBackBudgets(stores: Stores, counted: CountedPurchase, rewards: Rewards): Promise<void> {
  const budgeted = counted.awards.filter((a) => rewards.limits.get(a.offer_id)?.budget !== undefined && a.amount > 0);
  await Promise.all(budgeted.map((a) => stores.redis.decrBy(budgetKey(a.offer_id), a.amount)));
}
