// Rebuild, the contacts' part: each contact's hash (business, profile, memberships, balances,
// purchase history, tier units), its commerce lots, cap counters, place in the expiry index and
// CIM index entries, from PostgreSQL. Contacts and their ledger histories are read as two
// cursors in the same order (contact id, byte-wise) and merged, so memory is a page of contacts
// and one contact's history whatever the population.

import { shardOf } from '../../core/ids.ts';
import type { PeriodKind } from '../../core/tier.ts';
import { CimIndex } from '../hot/cim-index.ts';
import { DetailHints } from '../detail-hints.ts';
import { capsKey, contactKey, expired_lots_kept_ms, expiredLotsKey, expiryKey, lotOrderKey, lots_unordered_max, lotsKey, owedLotsKey, purchase_times_kept_ms, purchaseTimesKey } from '../hot/keys.ts';
import type { Posting } from '../journal.ts';
import { default_config, type ProcessorConfig, type RedisClient, type Sql } from '../stores.ts';
import { ledgerBalances, type Balances } from './balances.ts';
import { ContactReplay, type ContactHot, type HistoryAward, type HistoryRow, type OfferFacts } from './replay.ts';
import { capCounterKept, capPeriodsKeptFrom } from '../../core/cap-periods.ts';

interface ContactRow {
  readonly id: string;
  readonly business_id: string;
  readonly currency: string;
  readonly tags: string[];
  readonly birth_date: string | null;
  readonly spend_blocked: boolean;
  readonly referred_by: string | null;
  readonly schemes: string[] | null;
  readonly tokens: string[] | null;
  readonly email: string | null;
  readonly phone: string | null;
  /** Another contact of the business has this email (phone) on file too. */
  readonly email_shared: boolean;
  readonly phone_shared: boolean;
}

/** A contact's ledger transaction as the query returns it: a HistoryRow before its JSON is read. */
interface LedgerRow extends Pick<HistoryRow, 'id' | 'kind' | 'amount' | 'created_ms' | 'at_ms' | 'original_id' | 'timezone' | 'award_expired'> {
  readonly contact_id: string;
  readonly reply: string | null;
  readonly body: string | null;
  readonly postings: string | null;
}

export interface ContactsLoaded {
  contacts: number;
  cims: number;
  /** Hints of emails and phones on file (processor/detail-hints.ts). */
  detail_hints: number;
  lots: number;
  caps: number;
  /** Contacts whose hot state could not be derived exactly, with why (bounded). */
  readonly warnings: string[];
}

const page_contacts = 500;
const warnings_max = 100;

/** What the replay needs of the businesses: offers (as they are now) and their tiers' period kinds. */
interface Businesses {
  readonly offers: ReadonlyMap<string, OfferFacts>;
  readonly tier_kinds: ReadonlyMap<string, { kinds: PeriodKind[] }>;
}

async function businesses(sql: Sql): Promise<Businesses> {
  // Hidden offers too (migration 019): one whose create's commit failed after Redis took its copy
  // may have awarded meanwhile, and its awards are replayed as those of any other offer.
  const offers = await sql<{ id: string; body: { instant_redeem?: boolean; limits?: { per_contact?: OfferFacts['per_contact'] } } }[]>`select id, body from offers`;
  // Every purchase counts, whenever its kind came (tier-seed.ts); tiers.units_since is no longer read.
  const tiers = await sql<{ business_id: string; period: string }[]>`select distinct business_id, period from tiers`;
  const tier_kinds = new Map<string, { kinds: PeriodKind[] }>();
  for (const t of tiers) {
    const entry = tier_kinds.get(t.business_id) ?? { kinds: [] };
    entry.kinds.push(t.period[0] as PeriodKind);
    tier_kinds.set(t.business_id, entry);
  }
  return {
    offers: new Map(offers.map((o) => [o.id, { instant_redeem: o.body.instant_redeem ?? false, per_contact: o.body.limits?.per_contact ?? null }])),
    tier_kinds,
  };
}

/** Each contact's ledger transactions in the order its shard applied them (journal ids, as numbers). */
function histories(sql: Sql) {
  return sql<LedgerRow[]>`
    select t.contact_id, t.id, t.kind, t.amount, (extract(epoch from t.created_at) * 1000)::int8 as created_ms,
      (extract(epoch from coalesce(t.occurred_at, t.created_at)) * 1000)::int8 as at_ms, t.original_id,
      case when t.kind in ('purchase', 'award') then t.reply::text end as reply,
      case when t.kind in ('refund', 'reversal') then coalesce((t.reply->>'award_expired')::int8, 0) else 0 end as award_expired,
      case when t.kind in ('purchase', 'award', 'redemption', 'refund', 'reversal') then t.body::text end as body,
      v.timezone,
      (select json_agg(json_build_array(p.debit_account, p.credit_account, p.amount) order by p.n) from ledger_postings p where p.transaction_id = t.id)::text as postings
    from ledger_transactions t
    left join terminals te on te.id = t.terminal_id
    left join venues v on v.id = te.venue_id
    where t.contact_id is not null
    order by t.contact_id collate "C", nullif(split_part(t.journal_id, '-', 1), '')::int8, nullif(split_part(t.journal_id, '-', 2), '')::int8, t.id`.cursor(1_000);
}

function historyRow(r: LedgerRow): HistoryRow {
  const reply = r.reply === null ? {} : (JSON.parse(r.reply) as Record<string, unknown>);
  const body = r.body === null ? {} : (JSON.parse(r.body) as Record<string, unknown>);
  const awards = (Array.isArray(body.awards) ? body.awards : reply.awards) as HistoryAward[] | undefined;
  return {
    id: r.id,
    kind: r.kind,
    amount: r.amount,
    created_ms: r.created_ms,
    at_ms: r.at_ms,
    original_id: r.original_id,
    awards: awards ?? null,
    reason: typeof reply.reason === 'string' ? reply.reason : null,
    lots: Array.isArray(body.lots) ? (body.lots as [string, number][]) : null,
    since: typeof body.since === 'string' ? body.since : null,
    award_expired: Number(r.award_expired),
    owed: typeof body.owed === 'number' ? body.owed : null,
    instead: Array.isArray(body.instead) ? (body.instead as [string, string, number][]) : null,
    settled: typeof body.settled === 'number' ? body.settled : null,
    postings: r.postings === null ? [] : (JSON.parse(r.postings) as Posting[]),
    timezone: r.timezone,
  };
}

/** Pulls rows from the histories cursor one at a time, with a look at the next. */
class Peekable<T> {
  private buffer: readonly T[] = [];
  private at = 0;
  private done = false;
  constructor(private readonly batches: AsyncIterator<readonly T[]>) {}

  async peek(): Promise<T | undefined> {
    while (this.at >= this.buffer.length && !this.done) {
      const next = await this.batches.next();
      if (next.done === true) this.done = true;
      else {
        this.buffer = next.value;
        this.at = 0;
      }
    }
    return this.buffer[this.at];
  }

  skip(): void {
    this.at++;
  }
}

export async function rebuildContacts(redis: RedisClient, sql: Sql, config: ProcessorConfig, force: boolean, now_ms: number, onContacts: (n: number) => void): Promise<ContactsLoaded> {
  // Counters of periods no purchase can count in any more are not written (lib.lua pruneCaps drops them too).
  const caps_kept = capPeriodsKeptFrom(now_ms);
  const known = await businesses(sql);
  const index = new CimIndex(redis, config.cim_index_buckets ?? default_config.cim_index_buckets!);
  const hints = new DetailHints(redis, config.cim_hmac_key, index);
  const loaded: ContactsLoaded = { contacts: 0, cims: 0, detail_hints: 0, lots: 0, caps: 0, warnings: [] };
  const ledger = new Peekable(histories(sql)[Symbol.asyncIterator]());
  const contacts = sql<ContactRow[]>`
    select c.id, c.business_id, b.currency, c.tags, to_char(c.birth_date, 'YYYY-MM-DD') as birth_date, c.spend_blocked, c.referred_by,
      (select array_agg(m.scheme_id order by m.scheme_id) from scheme_members m where m.contact_id = c.id) as schemes,
      (select array_agg(x.token) from contact_cims x where x.contact_id = c.id) as tokens,
      c.email, c.phone,
      exists (select 1 from contacts d where d.business_id = c.business_id and d.email = c.email and d.id <> c.id) as email_shared,
      exists (select 1 from contacts d where d.business_id = c.business_id and d.phone = c.phone and d.id <> c.id) as phone_shared
    from contacts c join businesses b on b.id = c.business_id
    order by c.id collate "C"`.cursor(page_contacts);
  for await (const page of contacts) {
    const balances = await ledgerBalances(sql, page);
    const multi = redis.multi();
    for (const c of page) {
      const hot = await replayContact(c, ledger, known, loaded);
      const derived = hot.lots.reduce((s, [, a]) => s + a, 0) - hot.debt;
      if (derived !== balances.get(c.id)!.commerce && loaded.warnings.length < warnings_max) {
        loaded.warnings.push(`${c.id}: lots less debt derived ${derived}, the commerce account holds ${balances.get(c.id)!.commerce}`);
      }
      const shard = shardOf(c.id, config.shard_count);
      if (force) multi.del([contactKey(shard, c.id), lotsKey(shard, c.id), lotOrderKey(shard, c.id), capsKey(shard, c.id), purchaseTimesKey(shard, c.id), expiredLotsKey(shard, c.id), owedLotsKey(shard, c.id)]);
      multi.hSet(contactKey(shard, c.id), contactFields(c, hot, balances.get(c.id)!));
      if (hot.lots.length > 0) multi.hSet(lotsKey(shard, c.id), hot.lots.map(([f, a]) => [f, String(a)]));
      // Written whole here, not built by the first script to read them, which would hold Redis for all of them.
      if (hot.lots.length > lots_unordered_max) multi.zAdd(lotOrderKey(shard, c.id), hot.lots.map(([f]) => ({ score: Number(f.slice(0, 13)), value: f })));
      const caps = hot.caps.filter(([f]) => capCounterKept(f, caps_kept));
      if (caps.length > 0) multi.hSet(capsKey(shard, c.id), caps.map(([f, n]) => [f, String(n)]));
      // The birthday purchases a "first purchase of the day" may still ask about (purchase.lua keeps as many).
      const recent = hot.purchase_times.filter(([, at]) => at >= Date.now() - purchase_times_kept_ms);
      const times_expire_ms = hot.purchase_times_kept_from_ms + purchase_times_kept_ms;
      if (recent.length > 0) {
        multi.zAdd(purchaseTimesKey(shard, c.id), recent.map(([id, at]) => ({ score: at, value: id })));
        multi.pExpireAt(purchaseTimesKey(shard, c.id), times_expire_ms);
      }
      if (hot.earliest_expiry !== null) multi.zAdd(expiryKey(shard), { score: hot.earliest_expiry, value: c.id });
      // Kept as long as expire.lua keeps it: expired_lots_kept_ms from the contact's last expiry;
      // only lots a claw-back may still name (hot/original.ts awardLotsArg).
      const expired = hot.expired_lots.filter(([f]) => Number(f.slice(0, 13)) >= now_ms - expired_lots_kept_ms);
      if (expired.length > 0 && hot.expired_lots_kept_until_ms > now_ms) {
        multi.hSet(expiredLotsKey(shard, c.id), expired.map(([f, a]) => [f, String(a)]));
        multi.pExpireAt(expiredLotsKey(shard, c.id), hot.expired_lots_kept_until_ms);
      }
      // Kept as long as claw-back.lua keeps it: owed_lots_kept_ms from the last claw-back that wrote it.
      if (hot.owed_lots.length + hot.instead_lots.length > 0 && hot.owed_lots_kept_until_ms > now_ms) {
        multi.hSet(owedLotsKey(shard, c.id), [...hot.owed_lots.map(([f, a]): [string, string] => [f, String(a)]), ...hot.instead_lots]);
        multi.pExpireAt(owedLotsKey(shard, c.id), hot.owed_lots_kept_until_ms);
      }
      index.setAll(multi, (c.tokens ?? []).map((token) => ({ token, contact_id: c.id })));
      loaded.cims += c.tokens?.length ?? 0;
      loaded.lots += hot.lots.length;
      loaded.caps += caps.length;
    }
    await multi.execAsPipeline();
    const details = page.filter((c) => c.email !== null || c.phone !== null);
    loaded.detail_hints += await hints.rebuilt(details.map((c) => ({ id: c.id, business_id: c.business_id, email: c.email, phone: c.phone, cim_tokens: c.tokens ?? [], shared: { email: c.email_shared, phone: c.phone_shared } })));
    loaded.contacts += page.length;
    onContacts(loaded.contacts);
  }
  return loaded;
}

/** The contact's history through ContactReplay; rows of contacts that are not in `contacts` (none expected) are passed over. */
async function replayContact(c: ContactRow, ledger: Peekable<LedgerRow>, known: Businesses, loaded: ContactsLoaded): Promise<ContactHot> {
  const tiers = known.tier_kinds.get(c.business_id);
  const replay = new ContactReplay({
    contact_id: c.id,
    currency: c.currency,
    offers: known.offers,
    tiers: tiers === undefined ? null : { kinds: tiers.kinds },
    birth_date: c.birth_date,
  });
  for (let row = await ledger.peek(); row !== undefined && row.contact_id <= c.id; row = await ledger.peek()) {
    if (row.contact_id === c.id) replay.apply(historyRow(row));
    ledger.skip();
  }
  for (const w of replay.warnings) if (loaded.warnings.length < warnings_max) loaded.warnings.push(`${c.id}: ${w}`);
  return replay.result();
}

/** The contact hash as the hot path writes it (contacts.ts, schemes.ts, lib.lua). */
function contactFields(c: ContactRow, hot: ContactHot, balances: Balances): Record<string, string> {
  const fields: Record<string, string> = { b: c.business_id };
  if (c.tags.length > 0) fields.t = JSON.stringify(c.tags);
  if (c.birth_date !== null) fields.d = c.birth_date;
  // Its referrer refers with its next first purchase (`rf`), or its standing first purchase did
  // (`rd`, which a reversal leaving it no purchase undoes: purchase.lua, reversal.lua).
  if (c.referred_by !== null && hot.referring === null) fields.rf = c.referred_by;
  if (c.referred_by !== null && hot.referring !== null) fields.rd = `${hot.referring}|${c.referred_by}`;
  if (c.spend_blocked) fields.x = '1';
  if (c.schemes !== null && c.schemes.length > 0) fields.s = JSON.stringify(c.schemes);
  if (balances.open !== 0) fields.o = String(balances.open);
  if (balances.commerce !== 0) fields.m = String(balances.commerce);
  if (hot.debt !== 0) fields.md = String(hot.debt);
  if (hot.purchases > 0) fields.fp = String(hot.purchases);
  if (hot.reversed_purchases > 0) fields.rv = String(hot.reversed_purchases);
  if (hot.redeemed_at !== null) fields.lr = hot.redeemed_at;
  for (const [field, value] of hot.units) fields[field] = value;
  return fields;
}
