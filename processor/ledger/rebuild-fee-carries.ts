// The contribution fee carries (lib.lua chargeFee, hot/keys.ts feeCarriesKey) from the ledger: for
// each merchant on each shard, what the floors of its fees left. chargeFee adds (base × rate) mod
// 10,000 of each purchase and spend to the carry and charges a unit whenever it makes one, and
// refunds and reversals leave it alone: so the carry is the sum of those remainders, mod 10,000,
// over the merchant's purchases and spends on the shard. Their base is what chargeFee was given,
// read back from their postings: what the business's rewards funded (cashback and discount,
// settle_on award) or the wallet money paid into the merchant's spends (settle_on spend).
// A merchant's rate is set once, at its creation (API.md has no way to change it).

import { feeCarriesKey } from '../hot/keys.ts';
import { accountId } from '../journal.ts';
import type { RedisClient, Sql } from '../stores.ts';

const carry_units = 10_000;

/** Writes every shard's carries anew (any the Redis held go first); answers how many it wrote. */
export async function rebuildFeeCarries(redis: RedisClient, sql: Sql, shard_count: number): Promise<number> {
  const rows = await sql<{ shard: number; merchant_id: string; currency: string; remainders: string }[]>`
    select t.shard, m.id as merchant_id, t.currency, sum(((b.base % ${carry_units}) * m.contribution_fee_bp) % ${carry_units})::text as remainders
    from ledger_transactions t
    join terminals ter on ter.id = t.terminal_id
    join merchants m on m.id = ter.merchant_id
    cross join lateral (
      select coalesce(sum(p.amount), 0)::int8 as base from ledger_postings p
      where p.transaction_id = t.id
        and case when m.settle_on = 'award' then strpos(p.debit_account, ':rewards:') > 0 else strpos(p.credit_account, ':spends:') > 0 end
    ) b
    where t.kind in ('purchase', 'spend') and m.contribution_fee_bp > 0
    group by t.shard, m.id, t.currency`;
  const multi = redis.multi();
  for (let shard = 0; shard < shard_count; shard++) multi.del(feeCarriesKey(shard));
  let written = 0;
  for (const row of rows) {
    const carry = Number(BigInt(row.remainders) % BigInt(carry_units));
    if (carry === 0) continue;
    multi.hSet(feeCarriesKey(row.shard), accountId(row.merchant_id, 'fees', row.currency), String(carry));
    written++;
  }
  await multi.execAsPipeline();
  return written;
}
