// The original of a refund or reversal older than the hot window: the ledger has it, with every
// refund and reversal made of it, and from those what the hot path would have remembered.

import type { OriginalState } from '../hot/original.ts';
import type { TransactionSql } from 'postgres';
import type { Sql } from '../stores.ts';

/** The original's facts, and what refunds and reversals did to it as hot/lib.lua's originalState holds it. */
export interface LedgerOriginal extends OriginalState {
  readonly id: string;
  readonly kind: string;
  readonly contact_id: string;
  readonly amount: number;
  readonly awarded: number;
  readonly paid: number;
  readonly discount: number;
  /** Of a purchase's awards, what went into the open balance (instant_redeem): its postings from rewards to open. */
  readonly to_open: number;
  /** A redemption's lots (JSON: [[lot field, amount]…]), '' for the others. */
  readonly lots: string;
  /** A redemption's `since` (journal.ts JournalEntry.since), null where it is its id's time. */
  readonly since: string | null;
  /** A purchase's awards, as its reply has them: its claw-back takes their lots first (awards.ts awardLots). */
  readonly awards: readonly unknown[];
  /** What of a purchase's awards paid commerce debt (its body's `settled`, journal.ts; 0: none). */
  readonly settled: number;
}

interface Stored {
  readonly id: string;
  readonly kind: string;
  readonly contact_id: string;
  readonly amount: number;
  readonly reply: string | null;
  readonly body: string | null;
  /** Of its postings (one per account pair), the sum debited from discount accounts. */
  readonly discounts: number;
  /** Of its postings, the sum from rewards into the contact's open balance. */
  readonly to_open: number;
  /** Of its postings, the sum from the contact's open balance back to rewards: a claw-back's from open. */
  readonly from_open: number;
}

/**
 * The entry's fields the reply carries (awards, discount, payment) and its lots: the reply's,
 * unless `body` holds the field (what of the entry the reply lacks, migration 007).
 */
function entryFields(t: Stored): { awards?: readonly { kind: string; amount: number }[]; discount?: number; paid_from_wallet?: number; lots?: unknown; since?: string; settled?: number } {
  const reply = JSON.parse(t.reply ?? '{}') as Record<string, unknown>;
  const body = JSON.parse(t.body ?? '{}') as Record<string, unknown>;
  const field = (k: string) => ((k in body ? body[k] : reply[k]) ?? undefined) as never;
  return { awards: field('awards'), discount: field('discount'), paid_from_wallet: field('paid_from_wallet'), lots: body.lots ?? undefined, since: typeof body.since === 'string' ? body.since : undefined, settled: typeof body.settled === 'number' ? body.settled : undefined };
}

/** Of postings `p`, those from the business's rewards into a contact's open balance: a purchase's instant_redeem awards. */
export const rewardsIntoOpen = (sql: Sql) => sql`strpos(p.debit_account, ':rewards:') > 0 and strpos(p.credit_account, ':open:') > 0`;

/** Of postings `p`, those from a contact's open balance back to the business's rewards: a refund's claw-back from open. */
export const openIntoRewards = (sql: Sql | TransactionSql) => sql`strpos(p.debit_account, ':open:') > 0 and strpos(p.credit_account, ':rewards:') > 0`;

/** A transaction's columns, reply, body and the debits of its postings the original's state needs. */
const stored = (sql: Sql) => sql`
  t.id, t.kind, t.contact_id, t.amount, t.reply::text as reply, t.body::text as body,
  coalesce(sum(p.amount) filter (where strpos(p.debit_account, ':discounts:') > 0), 0)::int8 as discounts,
  coalesce(sum(p.amount) filter (where ${rewardsIntoOpen(sql)}), 0)::int8 as to_open,
  coalesce(sum(p.amount) filter (where ${openIntoRewards(sql)}), 0)::int8 as from_open`;

/**
 * The latest transaction a terminal made under `reference`, from the ledger: a purchase, spend or
 * redemption, or a refund or reversal, which the scripts then refuse as no original, as they do
 * its record within the hot window (not as a missing one: an ISO 8583 advice of it is 12, never
 * acknowledged 00 for a void that did not happen).
 */
export async function ledgerOriginal(sql: Sql, business_id: string, terminal_id: string, reference: string): Promise<LedgerOriginal | undefined> {
  const [row] = await sql<Stored[]>`
    select ${stored(sql)} from ledger_transactions t left join ledger_postings p on p.transaction_id = t.id
    where t.id = (
      select id from ledger_transactions
      where terminal_id = ${terminal_id} and reference = ${reference} and business_id = ${business_id}
        and kind in ('purchase', 'spend', 'redemption', 'refund', 'reversal')
      order by created_at desc, id desc limit 1)
    group by t.id`;
  return row === undefined ? undefined : originalOf(sql, business_id, row);
}

/** A referrer's award made under `reference` (processor/referral-undo.ts), from the ledger, as ledgerOriginal reads a terminal's transaction. */
export async function ledgerAward(sql: Sql, business_id: string, contact_id: string, reference: string): Promise<LedgerOriginal | undefined> {
  const [row] = await sql<Stored[]>`
    select ${stored(sql)} from ledger_transactions t left join ledger_postings p on p.transaction_id = t.id
    where t.id = (
      select id from ledger_transactions
      where contact_id = ${contact_id} and reference = ${reference} and business_id = ${business_id} and terminal_id is null and kind = 'award'
      order by created_at desc, id desc limit 1)
    group by t.id`;
  return row === undefined ? undefined : originalOf(sql, business_id, row);
}

/** The original `row` with what refunds and reversals did to it. */
async function originalOf(sql: Sql, business_id: string, row: Stored): Promise<LedgerOriginal> {
  const later = await sql<Stored[]>`
    select ${stored(sql)} from ledger_transactions t left join ledger_postings p on p.transaction_id = t.id
    where t.original_id = ${row.id} and t.business_id = ${business_id} and t.kind in ('refund', 'reversal')
    group by t.id`;
  let refunded = 0, clawed = 0, returned = 0, discount_returned = 0, clawed_open = 0, reversed = false;
  for (const t of later) {
    if (t.kind === 'reversal') {
      reversed = true;
      continue;
    }
    const reply = JSON.parse(t.reply ?? '{}') as { clawed_back?: number; award_expired?: number; returned_to_wallet?: number };
    refunded += t.amount;
    // The state's clawed back counts the share that had expired too (refund.lua's cw).
    clawed += (reply.clawed_back ?? 0) + (reply.award_expired ?? 0);
    returned += reply.returned_to_wallet ?? 0;
    discount_returned += t.discounts;
    clawed_open += t.from_open;
  }
  const entry = entryFields(row);
  const awarded = (entry.awards ?? []).reduce((sum, a) => (a.kind === 'instant_discount' ? sum : sum + a.amount), 0);
  return {
    id: row.id,
    kind: row.kind,
    contact_id: row.contact_id,
    amount: row.amount,
    awarded,
    paid: entry.paid_from_wallet ?? 0,
    discount: entry.discount ?? 0,
    to_open: row.kind === 'purchase' || row.kind === 'award' ? row.to_open : 0,
    refunded,
    clawed,
    returned,
    discount_returned,
    clawed_open,
    reversed,
    lots: entry.lots === undefined ? '' : JSON.stringify(entry.lots),
    since: entry.since ?? null,
    awards: row.kind === 'purchase' || row.kind === 'award' ? (entry.awards ?? []) : [],
    settled: entry.settled ?? 0,
  };
}
