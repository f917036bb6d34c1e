// Reports read from the PostgreSQL ledger: a contact's statement and merchant settlement.
// Balances are sums of postings; nothing here reads Redis. Sums are read as text and kept as
// ExactAmount (core/money.ts): a settlement's total across thousands of contacts may pass 2^53,
// where a bigint read as a number failed the report (500) and a float would be wrong.

import { PocketgateError } from '../../core/errors.ts';
import { exactAbs, exactAmount, exactDifference, exactSum, type ExactAmount } from '../../core/money.ts';
import { utcTimestamp, type Page } from '../../core/schemas.ts';
import { accountId } from '../journal.ts';
import { iso, type Business } from '../network.ts';
import type { Sql } from '../stores.ts';
import { madeBy, type TransactionSummary } from '../transactions.ts';

const statement_lines_max = 10_000; // a statement is for a person to read: page by `from`/`to` beyond this

const far_past = '1970-01-01T00:00:00Z';
const far_future = '9999-12-31T23:59:59Z';

const latest_bound_ms = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * A period's bound as the ledger compares it: the instant given, to the millisecond the ledger
 * holds each transaction's time in (a finer fraction rounded up, so that [from, to) holds exactly
 * the transactions in it). The API shows times in whole seconds, but a back office that reads
 * its clock and then makes a purchase finds it in a period from then: before 2026-12-03 a bound
 * inside a second counted from the next one, which left that purchase out.
 */
function ledgerBound(bound: string): string {
  const sub_ms = /\.\d{3}(\d*)/.exec(bound)?.[1] ?? '';
  const ms = Date.parse(bound.toUpperCase()) + (/[1-9]/.test(sub_ms) ? 1 : 0);
  return new Date(Math.min(ms, latest_bound_ms)).toISOString();
}

/** A period's bound as a reply gives it back: in UTC, as every timestamp the contract answers. */
function utcBound(bound: string | undefined): string | null {
  return bound === undefined ? null : utcTimestamp(bound);
}

export async function statement(sql: Sql, business: Business, contact_id: string, from?: string, to?: string, lines_max = statement_lines_max) {
  const [contact] = await sql`select 1 from contacts where id = ${contact_id} and business_id = ${business.id}`;
  if (contact === undefined) throw new PocketgateError('not_found', `contact ${contact_id} not found`);
  const open = accountId(contact_id, 'open', business.currency);
  const commerce = accountId(contact_id, 'commerce', business.currency);
  const start = from === undefined ? far_past : ledgerBound(from);
  const end = to === undefined ? far_future : ledgerBound(to);
  // Every posting touching the contact's two accounts, as signed deltas per transaction, with
  // the transaction's place in its shard's journal: the order the shard script ran them in. A
  // contact's transactions all run on its shard, one at a time; created_at is when the gateway
  // took the request, which two concurrent requests (or two in one millisecond) can have the
  // other way round, and then the running balances were ones the wallet never held.
  // The `like` repeats the predicate of the partial indexes on contacts' accounts (migration
  // 006), so that the planner may use them for any contact id it is given.
  const movements = sql`
    select t.id, t.kind, t.created_at,
      split_part(t.journal_id, '-', 1)::int8 as journal_ms, split_part(t.journal_id, '-', 2)::int8 as journal_seq,
      sum(case when p.credit_account = ${open} then p.amount when p.debit_account = ${open} then -p.amount else 0 end)::int8 as open_delta,
      sum(case when p.credit_account = ${commerce} then p.amount when p.debit_account = ${commerce} then -p.amount else 0 end)::int8 as commerce_delta
    from ledger_postings p join ledger_transactions t on t.id = p.transaction_id
    where (p.debit_account in (${open}, ${commerce}) and p.debit_account like 'con\\_%')
      or (p.credit_account in (${open}, ${commerce}) and p.credit_account like 'con\\_%')
    group by t.id, t.kind, t.created_at, t.journal_id`;
  // Opening and closing from sums, not from the lines (those stop at lines_max), in one snapshot
  // with the lines: the writer commits between two statements.
  return sql.begin('isolation level repeatable read read only', async (sql) => {
    // Planned once per connection, not once per call: PostgreSQL kept re-planning these for
    // every contact (it judges a plan for any contact dearer than one for a given contact), and
    // planning was half of a statement's CPU. Any contact's postings are few: one plan fits all.
    await sql`set local plan_cache_mode = force_generic_plan`;
    const [totals] = await sql<{ opening_open: string; opening_commerce: string; closing_open: string; closing_commerce: string }[]>`
      select coalesce(sum(open_delta) filter (where created_at < ${start}), 0)::text as opening_open,
        coalesce(sum(commerce_delta) filter (where created_at < ${start}), 0)::text as opening_commerce,
        coalesce(sum(open_delta) filter (where created_at < ${end}), 0)::text as closing_open,
        coalesce(sum(commerce_delta) filter (where created_at < ${end}), 0)::text as closing_commerce
      from (${movements}) m`;
    const rows = await sql<{ id: string; kind: string; created_at: Date; open_delta: string; commerce_delta: string }[]>`
      select id, kind, created_at, open_delta::text, commerce_delta::text from (${movements}) m where created_at >= ${start} and created_at < ${end}
      order by journal_ms, journal_seq limit ${lines_max + 1}`;
    const has_more = rows.length > lines_max;
    let open_balance = exactAmount(totals!.opening_open);
    let commerce_balance = exactAmount(totals!.opening_commerce);
    const lines = rows.slice(0, lines_max).map((r) => {
      const open_delta = exactAmount(r.open_delta);
      const commerce_delta = exactAmount(r.commerce_delta);
      open_balance = exactSum(open_balance, open_delta);
      commerce_balance = exactSum(commerce_balance, commerce_delta);
      return { transaction_id: r.id, kind: r.kind, at: iso(r.created_at), open_delta, commerce_delta, open_balance, commerce_balance };
    });
    return {
      contact_id,
      currency: business.currency,
      from: utcBound(from),
      to: utcBound(to),
      opening: { open: exactAmount(totals!.opening_open), commerce: exactAmount(totals!.opening_commerce) },
      closing: { open: exactAmount(totals!.closing_open), commerce: exactAmount(totals!.closing_commerce) },
      lines,
      // More lines in the period than one statement holds: ask for shorter periods.
      has_more,
    };
  });
}

/** A transaction of a contact's latest: its summary, and what it moved on the contact's two balances. */
export interface ContactTransaction extends TransactionSummary {
  readonly open_delta: number;
  readonly commerce_delta: number;
}

/**
 * The contact's latest `limit` transactions, newest first, from the ledger: every one that names
 * it (a purchase that awarded nothing too, which its statement has no line for), through the
 * (contact_id, created_at) index (migration 025). Ties in created_at (two requests in one ms) go
 * by the shard's journal, the order its script ran them in, as the statement's lines do.
 */
export async function contactTransactions(sql: Sql, business: Business, contact_id: string, page: { readonly limit: number; readonly starting_after?: string | undefined }): Promise<Page<ContactTransaction>> {
  const [contact] = await sql`select 1 from contacts where id = ${contact_id} and business_id = ${business.id}`;
  if (contact === undefined) throw new PocketgateError('not_found', `contact ${contact_id} not found`);
  const after = page.starting_after;
  if (after !== undefined) {
    const [found] = await sql`select 1 from ledger_transactions where id = ${after} and contact_id = ${contact_id}`;
    if (found === undefined) throw new PocketgateError('validation_failed', `starting_after: no transaction ${after} of this contact`, [{ path: 'starting_after', message: "must be the id of one of the contact's transactions" }]);
  }
  // The list's order as a row, compared in PostgreSQL (created_at in microseconds).
  const order = (t: string) => sql.unsafe(`${t}.created_at, split_part(${t}.journal_id, '-', 1)::int8, split_part(${t}.journal_id, '-', 2)::int8, ${t}.id`);
  const before = after === undefined ? sql`` : sql`and (${order('lt')}) < (select ${order('c')} from ledger_transactions c where c.id = ${after})`;
  const limit = page.limit + 1; // one more than the page, to say whether there is more
  const open = accountId(contact_id, 'open', business.currency);
  const commerce = accountId(contact_id, 'commerce', business.currency);
  const rows = await sql<(Omit<ContactTransaction, 'created_at' | 'made_by'> & { created_at: Date; made_by: 'admin' | 'processor' | null })[]>`
    select t.id, t.kind, t.made_by, t.reference, t.terminal_id, t.contact_id, t.amount, t.currency, t.original_id, t.created_at,
      (select coalesce(sum((a->>'amount')::int8), 0)::int8 from json_array_elements(case when json_typeof(w.awards) = 'array' then w.awards else '[]'::json end) a) as awarded,
      d.open_delta, d.commerce_delta
    from (
      select * from ledger_transactions lt where lt.contact_id = ${contact_id} ${before}
      order by lt.created_at desc, split_part(lt.journal_id, '-', 1)::int8 desc, split_part(lt.journal_id, '-', 2)::int8 desc, lt.id desc limit ${limit}
    ) t
    cross join lateral (select coalesce(t.body->'awards', t.reply->'awards') as awards) w
    cross join lateral (
      select coalesce(sum(case when p.credit_account = ${open} then p.amount when p.debit_account = ${open} then -p.amount else 0 end), 0)::int8 as open_delta,
        coalesce(sum(case when p.credit_account = ${commerce} then p.amount when p.debit_account = ${commerce} then -p.amount else 0 end), 0)::int8 as commerce_delta
      from ledger_postings p where p.transaction_id = t.id
    ) d
    order by t.created_at desc, split_part(t.journal_id, '-', 1)::int8 desc, split_part(t.journal_id, '-', 2)::int8 desc, t.id desc`;
  const data = rows.slice(0, page.limit).map((r) => ({ ...r, made_by: madeBy(r.made_by, r.terminal_id), created_at: iso(r.created_at) }));
  return { object: 'list', data, has_more: rows.length > page.limit };
}

/**
 * The contribution fee of a period: its percent (basis points) of the period's base, the awards
 * the merchant's customers were awarded or the wallet money it accepted (settle_on), in whole
 * minor units towards zero (a period of refunds alone gives back what a sale's would charge).
 * What DESIGN.md says the fee is, whichever shards the customers are on: the sum of the fees the
 * ledger books with each transaction (carried per merchant and shard, lib.lua chargeFee) fell a
 * unit short of it for each shard but one the customers were on (eight customers awarded 100 at
 * 2.5%: 18, not 20; a settlements probe).
 */
export function periodFee(base: ExactAmount, fee_bp: number): ExactAmount {
  return exactAmount((BigInt(base) * BigInt(fee_bp)) / 10_000n);
}

type MerchantSums = Record<'awards_funded' | 'discounts' | 'spends', ExactAmount>;

/** The period's awards funded, discounts given and spends accepted at each merchant's terminals (one merchant's, or all). */
async function merchantSums(sql: Sql, business: Business, merchant_id: string | undefined, start: string, end: string): Promise<Map<string, MerchantSums>> {
  const rewards = accountId(business.id, 'rewards', business.currency);
  const discounts = accountId(business.id, 'discounts', business.currency);
  const spends_suffix = `:spends:${business.currency}`;
  // Every merchant's sums in one query, grouped by merchant: a query per merchant read the period's
  // ledger (or every terminal) once per merchant, 1.9 s at 2,000 merchants
  // (test/big-business.test.ts). From the business's terminals (ledger_transactions has no index
  // by business since migration 007): for one merchant, or a business with a small share of the
  // ledger, PostgreSQL reads each terminal's transactions of the period by its (terminal_id,
  // created_at) index (1–9 ms over 403,000 transactions); for a business with a fifth of the
  // ledger it scans the ledger instead (78 ms for a month, 464 ms for all time; the review of
  // 2026-12-02). A merchant's own accounts are its id and the kind, as accountId names them.
  //
  // A refund's or reversal's share of an award that had expired (its reply's award_expired, README)
  // moved no posting: the expiry had taken it back into the rewards account already. A sale voided
  // or refunded funds no award, expired or not, so that share is unfunded as a claw-back is: the
  // second part of the union, the same statement over the same rows (refunds and reversals only).
  const at_merchants = sql`term.business_id = ${business.id} and term.merchant_id is not null ${merchant_id === undefined ? sql`` : sql`and term.merchant_id = ${merchant_id}`}
      and t.created_at >= ${start} and t.created_at < ${end}`;
  const sums = await sql<{ merchant_id: string; awards_funded: string; discounts: string; spends: string }[]>`
    select merchant_id, sum(awards_funded)::text as awards_funded, sum(discounts)::text as discounts, sum(spends)::text as spends
    from (
      select term.merchant_id,
        coalesce(sum(case when p.debit_account = ${rewards} then p.amount when p.credit_account = ${rewards} then -p.amount else 0 end), 0) as awards_funded,
        coalesce(sum(case when p.credit_account = ${discounts} then p.amount when p.debit_account = ${discounts} then -p.amount else 0 end), 0) as discounts,
        coalesce(sum(case when p.credit_account = term.merchant_id || ${spends_suffix} then p.amount when p.debit_account = term.merchant_id || ${spends_suffix} then -p.amount else 0 end), 0) as spends
      from ledger_transactions t
      join terminals term on term.id = t.terminal_id
      join ledger_postings p on p.transaction_id = t.id
      where ${at_merchants}
      group by term.merchant_id
      union all
      select term.merchant_id, -sum((t.reply->>'award_expired')::int8), 0, 0
      from ledger_transactions t
      join terminals term on term.id = t.terminal_id
      where ${at_merchants} and t.kind in ('refund', 'reversal') and (t.reply->>'award_expired')::int8 > 0
      group by term.merchant_id
    ) s
    group by merchant_id`;
  return new Map(sums.map((r) => [r.merchant_id, { awards_funded: exactAmount(r.awards_funded), discounts: exactAmount(r.discounts), spends: exactAmount(r.spends) }]));
}

/**
 * What the business and each merchant owe each other over a period, from the ledger: awards the
 * business funded at the merchant's terminals (net of claw-backs), the contribution fees the
 * merchant owes, and the wallet spends and instant discounts it accepted (money the business owes it).
 */
export async function settlement(sql: Sql, business: Business, merchant_id?: string, from?: string, to?: string) {
  const merchants = await sql<{ id: string; code: string; name: string; contribution_fee_bp: number; settle_on: string }[]>`
    select id, code, name, contribution_fee_bp, settle_on from merchants
    where business_id = ${business.id} ${merchant_id === undefined ? sql`` : sql`and id = ${merchant_id}`} order by created_at, id`;
  if (merchant_id !== undefined && merchants.length === 0) throw new PocketgateError('not_found', `merchant ${merchant_id} not found`);
  const start = from === undefined ? far_past : ledgerBound(from);
  const end = to === undefined ? far_future : ledgerBound(to);
  const by_merchant = await merchantSums(sql, business, merchant_id, start, end);
  const none: MerchantSums = { awards_funded: 0, discounts: 0, spends: 0 };
  const result = [];
  for (const m of merchants) {
    const row = by_merchant.get(m.id) ?? none;
    const fees = periodFee(m.settle_on === 'spend' ? row.spends : row.awards_funded, m.contribution_fee_bp);
    // An instant discount is an award the business funds and the customer takes at the merchant's
    // till at once: the merchant collected that much less, so the business owes it, as it owes
    // the wallet money the merchant accepted.
    const net = exactDifference(exactSum(row.spends, row.discounts), fees);
    result.push({
      merchant_id: m.id,
      code: m.code,
      name: m.name,
      currency: business.currency,
      contribution_fee_percent: m.contribution_fee_bp / 100,
      settle_on: m.settle_on,
      awards_funded: row.awards_funded,
      contribution_fees: fees,
      spends_accepted: row.spends,
      discounts_given: row.discounts,
      // Positive: the business pays the merchant; negative: the merchant pays the business.
      net_owed_to_merchant: net,
      owed_by: net > 0 ? 'business' : net < 0 ? 'merchant' : null,
      net_amount: exactAbs(net),
    });
  }
  return { from: utcBound(from), to: utcBound(to), currency: business.currency, merchants: result };
}
