// `npm run offer-awarded-bench -- [--transactions 1000000] [--offers 1000] [--runs 5] [--reuse]`: what counting
// one offer's awards costs over a large ledger (processor/offer-awarded.ts: a PATCH that adds a
// budget or a per-contact cap, and rebuild's budgets), without and with migration 016's index.
//
// Fills a database of its own (`offer_awarded_bench`) with purchases made in SQL: 60% award one
// of `--offers` offers (about 600 purchases each at the defaults), 30% the one wide offer as well,
// 1% of the transactions are reversals of an earlier purchase. Then, index dropped and built
// again: the statement rebuild used before (the whole ledger), offersAwarded for a narrow and the
// wide offer, awardsByContact (a lifetime cap's seed) and rebuild's count of every offer. Wall
// times, median of `--runs` after one warm-up, on a Redis database whose journals are empty.

import { parseArgs } from 'node:util';
import { migrate } from '../processor/ledger/migrate.ts';
import { awardsByContact, offersAwarded, type AwardSource } from '../processor/offer-awarded.ts';
import { connectPostgres, connectRedis, type Sql } from '../processor/stores.ts';
import { median } from './measure.ts';

const { values: opt } = parseArgs({
  options: {
    transactions: { type: 'string', default: '1000000' },
    offers: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '5' },
    /** The database the last run filled, as it is: its index dropped and built again. */
    reuse: { type: 'boolean', default: false },
  },
});
const transactions_n = Number(opt.transactions);
const offers_n = Number(opt.offers);
const runs = Number(opt.runs);
const say = (line: string) => process.stdout.write(line + '\n');
const database = 'offer_awarded_bench';
const narrow = 'off_0017';
const wide = 'off_wide';

async function benchDatabase(fresh: boolean): Promise<Sql> {
  if (fresh) {
    const admin = connectPostgres(process.env.DATABASE_URL!, 1);
    await admin.unsafe(`drop database if exists ${database}`);
    await admin.unsafe(`create database ${database}`);
    await admin.end();
  }
  const url = new URL(process.env.DATABASE_URL!);
  url.pathname = `/${database}`;
  // One connection, planning each statement for its values: as rebuild (once per process) and a
  // PATCH run them. Prepared again and again on one connection, PostgreSQL may settle on a generic
  // plan, which for rebuild's 1,001 offers looks each award's offer up in the list one by one.
  const sql = connectPostgres(url.toString(), 1);
  await migrate(sql);
  await sql`set plan_cache_mode = force_custom_plan`;
  return sql;
}

/** Purchases from..to (and a reversal for every hundredth), made in SQL: replies shaped as templates.ts writes them. */
async function fill(sql: Sql, from: number, to: number): Promise<void> {
  await sql`
    insert into ledger_transactions (amount, created_at, occurred_at, shard, id, business_id, kind, currency, terminal_id, reference, contact_id, original_id, journal_id, reply)
    select x.amount, x.at, x.at, x.i % 16, x.id, 'biz_bench', x.kind, 'EUR', 'ter_' || (x.i % 50), 'P' || x.i, x.contact_id, x.original_id, x.i || '-0',
      case when x.kind = 'reversal'
        then json_build_object('id', x.id, 'status', 'approved', 'reference', 'P' || x.i, 'original_id', x.original_id, 'original_kind', 'purchase', 'contact_id', x.contact_id, 'currency', 'EUR', 'created_at', x.at, 'wallet', json_build_object('open', 0, 'commerce', 0))
        else json_build_object('id', x.id, 'status', 'approved', 'reference', 'P' || x.i, 'contact_id', x.contact_id, 'amount', x.amount, 'currency', 'EUR',
          'awards', coalesce((select json_agg(json_build_object('offer_id', o, 'scheme_id', null, 'kind', 'cashback', 'amount', 50 + x.h % 200, 'pool', null, 'expires_at', null))
            from unnest(array[case when x.h % 100 < 60 then 'off_' || lpad(((x.h / 100) % ${offers_n})::text, 4, '0') end,
              case when (x.h / 100000) % 100 < 30 then ${wide} end]) o where o is not null), '[]'::json),
          'discount', 0, 'amount_due', x.amount, 'paid_from_wallet', 0, 'created_at', x.at, 'wallet', json_build_object('open', 0, 'commerce', 0))
      end
    from (
      select i, abs(hashint4(i)) as h, 'txn_' || lpad(i::text, 10, '0') as id, 'con_' || (i * 7 % 100000) as contact_id, 100 + i % 20000 as amount,
        timestamptz '2026-01-01' + i * interval '2 seconds' as at,
        case when i % 100 = 99 then 'reversal' else 'purchase' end as kind,
        case when i % 100 = 99 then 'txn_' || lpad((i - 50)::text, 10, '0') end as original_id
      from generate_series(${from}::int4, ${to}::int4) i
    ) x`;
}

/** Median wall ms of `f` over `runs` runs after one warm-up, and what it answered. */
async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  let value = await f();
  const walls: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    value = await f();
    walls.push(performance.now() - t0);
  }
  return { ms: median(walls), value };
}

/** The statement rebuildBudgets ran before offer-awarded.ts (every purchase and award of the ledger), for `offer_ids`. */
async function rebuildBefore(sql: Sql, offer_ids: string[]): Promise<number> {
  const rows = await sql<{ awarded: number }[]>`
    select a->>'offer_id' as offer_id, sum((a->>'amount')::int8)::int8 as awarded
    from ledger_transactions t
    cross join lateral json_array_elements(case
      when json_typeof(t.body->'awards') = 'array' then t.body->'awards'
      when json_typeof(t.reply->'awards') = 'array' then t.reply->'awards'
      else '[]'::json end) a
    where t.kind in ('purchase', 'award') and a->>'offer_id' = any(${offer_ids}::text[])
    group by 1`;
  return rows.reduce((s, r) => s + r.awarded, 0);
}

async function seedRows(source: AwardSource, offer_id: string): Promise<number> {
  let n = 0;
  for await (const c of awardsByContact(source, offer_id, null)) n += c.awards.length;
  return n;
}

async function measure(source: AwardSource, label: string): Promise<void> {
  const all = [...Array.from({ length: offers_n }, (_, i) => `off_${String(i).padStart(4, '0')}`), wide];
  const show = (what: string, t: { ms: number; value: unknown }) => say(`  ${label.padEnd(13)} ${what.padEnd(52)} ${t.ms.toFixed(1).padStart(9)} ms   (${String(t.value)})`);
  if (label === 'no index') show(`before: rebuild's statement, ${narrow}`, await timed(() => rebuildBefore(source.sql, [narrow])));
  show(`offersAwarded ${narrow}`, await timed(async () => (await offersAwarded(source, [narrow])).get(narrow)));
  show(`offersAwarded ${wide}`, await timed(async () => (await offersAwarded(source, [wide])).get(wide)));
  show(`awardsByContact ${narrow} (lifetime cap's seed), rows`, await timed(() => seedRows(source, narrow)));
  show(`awardsByContact ${wide} (lifetime cap's seed), rows`, await timed(() => seedRows(source, wide)));
  if (label === 'no index') show(`before: rebuild's statement, all ${all.length} offers`, await timed(() => rebuildBefore(source.sql, all)));
  show(`offersAwarded, all ${all.length} offers (rebuild)`, await timed(async () => [...(await offersAwarded(source, all)).values()].reduce((s, v) => s + v, 0)));
}

async function main(): Promise<void> {
  const sql = await benchDatabase(!opt.reuse);
  const redis = await connectRedis(process.env.REDIS_URL!);
  await sql`drop index if exists ledger_transactions_awarded_offers`;
  if (!opt.reuse) for (let i = 1; i <= transactions_n; i += 100_000) await fill(sql, i, Math.min(i + 99_999, transactions_n));
  await sql`vacuum analyze ledger_transactions`;
  const [size] = await sql<{ n: number; mb: number }[]>`
    select (select count(*) from ledger_transactions)::int4 as n, (pg_total_relation_size('ledger_transactions') / 1048576)::int4 as mb`;
  say(`offer-awarded bench: ${size!.n} transactions (${size!.mb} MB with indexes), ${offers_n} narrow offers and one wide, ${runs} runs each`);
  const source: AwardSource = { redis, sql, shard_count: 16 };
  await measure(source, 'no index');
  const t0 = performance.now();
  await sql`create index ledger_transactions_awarded_offers on ledger_transactions using gin (ledger_awarded_offers(reply, body)) where kind in ('purchase', 'award')`;
  const [index] = await sql<{ mb: number }[]>`select (pg_relation_size('ledger_transactions_awarded_offers') / 1048576)::int4 as mb`;
  say(`  index built in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${index!.mb} MB`);
  await sql`analyze ledger_transactions`;
  await measure(source, 'index (016)');
  await redis.close();
  await sql.end();
}

await main();
