// The original of a refund or reversal older than the hot window: the ledger has it, with every
// refund and reversal made of it, and from those what the hot path would have remembered.

import type { Sql } from '../stores.ts';

export interface LedgerOriginal {
  readonly id: string;
  readonly kind: string;
  readonly contact_id: string;
  readonly amount: number;
  readonly awarded: number;
  readonly paid: number;
  readonly discount: number;
  readonly fee: number;
  /** What refunds and reversals did to it, as the state hash of hot/lib.lua's originalState holds it. */
  readonly refunded: number;
  readonly clawed: number;
  readonly returned: number;
  readonly fee_returned: number;
  readonly discount_returned: number;
  readonly reversed: boolean;
  /** A redemption's lots (JSON: [[lot field, amount]…]), '' for the others. */
  readonly lots: string;
}

interface Body {
  readonly contact_id: string;
  readonly amount: number;
  readonly awards?: readonly { kind: string; amount: number }[];
  readonly discount?: number;
  readonly paid_from_wallet?: number;
  readonly lots?: unknown;
  readonly postings: readonly (readonly [string, string, number])[];
}

/** Sum of the postings whose debit account is of `kind` (':<kind>:' in the account id). */
function debited(postings: Body['postings'], kind: string): number {
  return postings.reduce((sum, p) => (p[0].includes(`:${kind}:`) ? sum + p[2] : sum), 0);
}

/** The latest purchase, spend or redemption a terminal made under `reference`, from the ledger. */
export async function ledgerOriginal(sql: Sql, business_id: string, terminal_id: string, reference: string): Promise<LedgerOriginal | undefined> {
  const [row] = await sql<{ id: string; kind: string; body: string }[]>`
    select id, kind, body::text as body from ledger_transactions
    where terminal_id = ${terminal_id} and reference = ${reference} and business_id = ${business_id}
      and kind in ('purchase', 'spend', 'redemption')
    order by created_at desc, id desc limit 1`;
  if (row === undefined) return undefined;
  const body = JSON.parse(row.body) as Body;
  const later = await sql<{ kind: string; body: string; reply: string | null }[]>`
    select kind, body::text as body, reply::text as reply from ledger_transactions
    where original_id = ${row.id} and business_id = ${business_id} and kind in ('refund', 'reversal')`;
  let refunded = 0, clawed = 0, returned = 0, fee_returned = 0, discount_returned = 0, reversed = false;
  for (const t of later) {
    if (t.kind === 'reversal') {
      reversed = true;
      continue;
    }
    const refund = JSON.parse(t.body) as Body;
    const reply = JSON.parse(t.reply ?? '{}') as { clawed_back?: number; returned_to_wallet?: number };
    refunded += refund.amount;
    clawed += reply.clawed_back ?? 0;
    returned += reply.returned_to_wallet ?? 0;
    fee_returned += debited(refund.postings, 'fee_income');
    discount_returned += debited(refund.postings, 'discounts');
  }
  const awarded = (body.awards ?? []).reduce((sum, a) => (a.kind === 'instant_discount' ? sum : sum + a.amount), 0);
  return {
    id: row.id,
    kind: row.kind,
    contact_id: body.contact_id,
    amount: body.amount,
    awarded,
    paid: body.paid_from_wallet ?? 0,
    discount: body.discount ?? 0,
    fee: debited(body.postings, 'fees'),
    refunded,
    clawed,
    returned,
    fee_returned,
    discount_returned,
    reversed,
    lots: body.lots === undefined ? '' : JSON.stringify(body.lots),
  };
}
