// What each payment-processor callback event was answered (spec/EVENTS.md): the first answer to
// an event id, or to a processor transaction id and event type, is the answer for good. Kept in
// PostgreSQL, not in the hot window: a processor retries for days, and a clearing or a reversal
// may come weeks after the authorization whose purchase it acts on.

import { pruneHourly } from './repeat.ts';
import type { Sql } from './stores.ts';

export type EventStatus = 'processed' | 'ignored' | 'rejected';

/** An event's answer as stored (the reply adds the event id and, on a replay, `replayed`). */
export interface EventOutcome {
  readonly status: EventStatus;
  /** Ours: the transaction made (processed). */
  readonly transaction_id?: string;
  readonly code?: string;
  /** Why, in words (rejected): never a value of the event, so never a card number. */
  readonly message?: string;
}

/** A purchase an event booked: where, and for how much. */
export interface BookedPurchase {
  readonly terminal_id: string;
  readonly amount: number;
}

export interface StoredEvent {
  readonly event_id: string;
  readonly type: string;
  readonly transaction_id: string | null;
  readonly result: EventOutcome;
  readonly purchase: BookedPurchase | null;
}

interface Row {
  event_id: string;
  type: string;
  transaction_id: string | null;
  result: EventOutcome;
  terminal_id: string | null;
  amount: string | null;
}

function stored(r: Row): StoredEvent {
  const purchase = r.terminal_id === null || r.amount === null ? null : { terminal_id: r.terminal_id, amount: Number(r.amount) };
  return { event_id: r.event_id, type: r.type, transaction_id: r.transaction_id, result: r.result, purchase };
}

/** At most one row per event type shares a transaction id, plus the event's own row. */
const history_rows_max = 16;

/** Rows one pruning statement deletes, and statements one sweep runs: bounded work per hour. */
export const prune_rows_max = 10_000;
const prune_statements_max = 100;

export class CallbackEvents {
  constructor(private readonly sql: Sql) {}

  /** The answers already given to this event id and to every event of this processor transaction. */
  async history(processor_id: string, event_id: string, transaction_id: string | undefined): Promise<StoredEvent[]> {
    // Two lookups, each on its own index (the primary key; the transaction's unique index), not
    // one with OR: before PostgreSQL has analysed the table, the OR read the primary key on
    // processor_id alone, every stored event of the processor for each new one (1.4–2.2 ms of
    // PostgreSQL per event in `npm run callback-bench` until autovacuum's analyse).
    const rows = await this.sql<Row[]>`
      (select event_id, type, transaction_id, result, terminal_id, amount from callback_events
        where processor_id = ${processor_id} and event_id = ${event_id})
      union all
      (select event_id, type, transaction_id, result, terminal_id, amount from callback_events
        where processor_id = ${processor_id} and transaction_id = ${transaction_id ?? null} and event_id <> ${event_id}
        limit ${history_rows_max})`;
    return rows.map(stored);
  }

  /**
   * Forgets up to `rows_max` answers stored more than `retention_days` ago, in one short statement
   * (the table stays writable meanwhile); returns how many. What is forgotten is then new again: an
   * event sent again gets a fresh answer, and a refund or reversal of a purchase whose answer is
   * gone is ignored as of an unknown original; so the retention outlasts processors' retries and
   * the card schemes' refund and dispute windows (README "Processor callbacks").
   */
  async prune(retention_days: number, rows_max = prune_rows_max): Promise<number> {
    const [row] = await this.sql<{ n: number }[]>`
      with gone as (
        delete from callback_events where ctid = any(array(
          select ctid from callback_events where created_at < now() - make_interval(days => ${retention_days}) limit ${rows_max}))
        returning 1)
      select count(*)::int4 as n from gone`;
    return row!.n;
  }

  /** Prunes every hour, as long as there is more to forget (at most 10^6 rows an hour), until stopped. */
  startRetention(retention_days: number, onError: (err: unknown) => void): () => void {
    return pruneHourly(() => this.prune(retention_days), prune_rows_max, prune_statements_max, onError);
  }

  /**
   * Keeps the first answer: this one, or the one another request stored first for the same event
   * id or transaction id and type (then `first` is false and the caller answers that one).
   */
  async save(processor_id: string, e: StoredEvent & { readonly terminal_code: string | null }): Promise<{ first: boolean; event: StoredEvent }> {
    const inserted = await this.sql<Row[]>`
      insert into callback_events (processor_id, event_id, type, transaction_id, result, terminal_id, amount, made_transaction_id, terminal_code)
      values (${processor_id}, ${e.event_id}, ${e.type}, ${e.transaction_id}, ${this.sql.json(e.result as never)},
              ${e.purchase?.terminal_id ?? null}, ${e.purchase?.amount ?? null}, ${e.result.transaction_id ?? null}, ${e.terminal_code})
      on conflict do nothing
      returning event_id, type, transaction_id, result, terminal_id, amount`;
    if (inserted[0] !== undefined) return { first: true, event: stored(inserted[0]) };
    const history = await this.history(processor_id, e.event_id, e.transaction_id ?? undefined);
    const earlier = history.find((h) => h.event_id === e.event_id) ?? history.find((h) => h.type === e.type && h.transaction_id === e.transaction_id);
    if (earlier === undefined) throw new Error(`callback event ${e.event_id}: neither stored nor found after a conflict`);
    return { first: false, event: earlier };
  }
}
