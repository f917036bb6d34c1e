// The contribution fee carries (lib.lua chargeFee, returnFee; hot/keys.ts feeCarriesKey) from the
// ledger: for each merchant on each shard, what the floors of its fees left. chargeFee adds each
// purchase's and spend's remainder, (base × rate) mod 10,000, to the carry; a refund takes back
// its share of it, returnFee (what the proportion of the refunded total adds, so all of a sale's
// refunds take the proportion of their total), and a reversal the rest. So the carry is, mod
// 10,000, the sum over the merchant's purchases and spends on the shard of what of their
// remainders stands: none of one reversed, R less what its refunds gave back in 1/10,000ths beyond
// whole units of one refunded (core/refund.ts feeGivenBack: the refunded share of the fee, 10,000 ×
// whole + R, floored, less 10,000 × the refunded share of whole, floored). The
// base is what chargeFee was given, read back from the sale's postings: what the business's
// rewards funded (cashback and discount, settle_on award) or the wallet money paid into the
// merchant's spends (settle_on spend). A merchant's rate and settle_on are set once, at its
// creation (API.md has no way to change them).

import type { TransactionSql } from 'postgres';
import { feeCarriesKey } from '../hot/keys.ts';
import { accountId } from '../journal.ts';
import type { RedisClient, Sql } from '../stores.ts';

const carry_units = 10_000;

/** Writes every shard's carries anew (any the Redis held go first); answers how many it wrote. */
export async function rebuildFeeCarries(redis: RedisClient, sql: Sql, shard_count: number): Promise<number> {
  const carries = await ledgerFeeCarries(sql);
  const multi = redis.multi();
  for (let shard = 0; shard < shard_count; shard++) multi.del(feeCarriesKey(shard));
  for (const c of carries) multi.hSet(feeCarriesKey(c.shard), c.account, String(c.carry));
  await multi.execAsPipeline();
  return carries.length;
}

/** Every merchant's carry on every shard, as the ledger says it stands (none of 0); changes nothing. */
export async function ledgerFeeCarries(sql: Sql): Promise<{ shard: number; account: string; carry: number }[]> {
  const rows = await feeCarriesQuery(sql);
  const carries: { shard: number; account: string; carry: number }[] = [];
  for (const row of rows) {
    // A refund may give back more than its sale's remainder (what its share of the whole units left, feeGivenBack): a sum below 0 is taken mod 10,000 upwards.
    const carry = Number(((BigInt(row.remainders) % BigInt(carry_units)) + BigInt(carry_units)) % BigInt(carry_units));
    if (carry !== 0) carries.push({ shard: row.shard, account: accountId(row.merchant_id, 'fees', row.currency), carry });
  }
  return carries;
}

/**
 * The sum of what stands of each sale's remainder, per shard, merchant and currency. Each sale's
 * refunds and reversals are looked up in the original_id index, which is in the database's
 * collation while ids are "C": compared as they were (`x.original_id = t.id`), the index could
 * not serve, and PostgreSQL scanned the ledger once per sale (a rebuild probe, 2026-12-06: 940 s
 * on 79,000 transactions, 23 ms a sale and growing with the ledger, the POS path 503 throughout;
 * rebuild-references.ts states alike since 2026-12-01).
 */
export function feeCarriesQuery(sql: Sql | TransactionSql) {
  return sql<{ shard: number; merchant_id: string; currency: string; remainders: string }[]>`
    select t.shard, m.id as merchant_id, t.currency,
      sum(case when u.reversed then 0 else r.rem - (div(r.fee * u.refunded, t.amount) - ${carry_units} * div(div(r.fee, ${carry_units}) * u.refunded, t.amount)) end)::text as remainders
    from ledger_transactions t
    join terminals ter on ter.id = t.terminal_id
    join merchants m on m.id = ter.merchant_id
    cross join lateral (
      select coalesce(sum(p.amount), 0)::int8 as base from ledger_postings p
      where p.transaction_id = t.id
        and case when m.settle_on = 'award' then strpos(p.debit_account, ':rewards:') > 0 else strpos(p.credit_account, ':spends:') > 0 end
    ) b
    cross join lateral (select b.base::numeric * m.contribution_fee_bp as fee, mod(b.base::numeric * m.contribution_fee_bp, ${carry_units}) as rem) r
    cross join lateral (
      select coalesce(sum(x.amount) filter (where x.kind = 'refund'), 0)::int8 as refunded, bool_or(x.kind = 'reversal') is true as reversed
      from ledger_transactions x where x.original_id = (t.id collate "default") and x.kind in ('refund', 'reversal')
    ) u
    where t.kind in ('purchase', 'spend') and m.contribution_fee_bp > 0 and t.amount > 0 and (r.rem > 0 or u.refunded > 0)
    group by t.shard, m.id, t.currency`;
}
