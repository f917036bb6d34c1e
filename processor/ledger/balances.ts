// A contact's open and commerce balances as each store holds them: Redis (the hot path's
// truth) and the ledger (the sums of the contact's accounts' postings). Exactly (ExactAmount,
// core/money.ts), whatever their size: a balance past 2^53 made reconcile fail to run.

import { shardOf } from '../../core/ids.ts';
import { exactAmount, type ExactAmount } from '../../core/money.ts';
import { contactKey, lotsKey } from '../hot/keys.ts';
import { accountId } from '../journal.ts';
import type { RedisClient, Sql } from '../stores.ts';

export interface Balances {
  readonly open: ExactAmount;
  readonly commerce: ExactAmount;
}

/**
 * What Redis holds of a contact's balances: `o`, the lots less the claw-back debt (`md`), and the
 * `m` field the scripts keep equal to that (a difference between the two is reported too).
 */
export interface RedisBalances extends Balances {
  /** The contact hash's `m` field. */
  readonly commerce_field: ExactAmount;
}

export async function redisBalances(redis: RedisClient, shard_count: number, contact_id: string): Promise<RedisBalances> {
  const shard = shardOf(contact_id, shard_count);
  const [[o, m, md], lots] = await Promise.all([redis.hmGet(contactKey(shard, contact_id), ['o', 'm', 'md']), redis.hVals(lotsKey(shard, contact_id))]);
  const in_lots = lots.reduce((sum, v) => sum + BigInt(v), 0n);
  return { open: exactAmount(o ?? '0'), commerce: exactAmount(in_lots - BigInt(md ?? '0')), commerce_field: exactAmount(m ?? '0') };
}

export function sameRedisBalances(a: RedisBalances, b: RedisBalances): boolean {
  return a.open === b.open && a.commerce === b.commerce && a.commerce_field === b.commerce_field;
}

export interface LedgerContact {
  readonly id: string;
  readonly currency: string;
}

/**
 * The ledger's balance of each contact's open and commerce accounts (credits less debits), in
 * one statement for a page of contacts, through the partial indexes on contacts' accounts.
 */
export async function ledgerBalances(sql: Sql, contacts: readonly LedgerContact[]): Promise<Map<string, Balances>> {
  const accounts = contacts.flatMap((c) => [accountId(c.id, 'open', c.currency), accountId(c.id, 'commerce', c.currency)]);
  const rows = await sql<{ account: string; balance: string }[]>`
    select account, sum(amount)::text as balance from (
      select credit_account as account, amount from ledger_postings
      where credit_account = any(${accounts}) and credit_account like 'con\\_%'
      union all
      select debit_account, -amount from ledger_postings
      where debit_account = any(${accounts}) and debit_account like 'con\\_%'
    ) p group by account`;
  const sums = new Map(rows.map((r) => [r.account, exactAmount(r.balance)]));
  return new Map(
    contacts.map((c) => [
      c.id,
      { open: sums.get(accountId(c.id, 'open', c.currency)) ?? 0, commerce: sums.get(accountId(c.id, 'commerce', c.currency)) ?? 0 },
    ]),
  );
}

export interface Difference {
  readonly balance: 'open' | 'commerce';
  readonly redis: ExactAmount;
  readonly ledger: ExactAmount;
}

/** Where Redis and the ledger differ: the open balance, the commerce balance (lots less debt, or the `m` field). ExactAmounts: `!==` compares them exactly. */
export function differences(redis: RedisBalances, ledger: Balances): Difference[] {
  const out: Difference[] = [];
  if (redis.open !== ledger.open) out.push({ balance: 'open', redis: redis.open, ledger: ledger.open });
  if (redis.commerce !== ledger.commerce) out.push({ balance: 'commerce', redis: redis.commerce, ledger: ledger.commerce });
  else if (redis.commerce_field !== ledger.commerce) out.push({ balance: 'commerce', redis: redis.commerce_field, ledger: ledger.commerce });
  return out;
}
