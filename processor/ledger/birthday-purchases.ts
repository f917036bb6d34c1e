// A contact's purchases on a birthday, from the ledger: what purchase.lua would have kept by time
// (hot/keys.ts purchaseTimesKey) had the contact had that birth date all along, as a rebuild
// derives it (replay.ts purchased/unpurchased). Read when the birth date changes (contacts.ts).

import { readLocalTime } from '../../core/local-time.ts';
import { isBirthday } from '../../core/offer.ts';
import { birthday_purchases_max } from '../hot/birth-date.ts';
import { purchase_times_kept_ms } from '../hot/keys.ts';
import type { TransactionSql } from 'postgres';
import type { Sql } from '../stores.ts';

export interface BirthdayPurchases {
  /** Not reversed, on the birthday at their venue (UTC without one), of the last purchase_times_kept_ms; earliest first. */
  readonly times: { readonly id: string; readonly at_ms: number }[];
  /** When the set expires: purchase_times_kept_ms after the latest was recorded (0: none). */
  readonly expire_at_ms: number;
}

/** A purchase dated ahead of when it was processed, at most (core/occurred.ts: 5 minutes from a terminal). */
const dated_ahead_ms_max = 10 * 60_000;

export async function birthdayPurchases(sql: Sql | TransactionSql, contact_id: string, birth_date: string, now_ms: number): Promise<BirthdayPurchases> {
  const rows = await birthdayPurchasesQuery(sql, contact_id, now_ms - purchase_times_kept_ms);
  const on_birthday = rows
    .map((r) => ({ id: r.id, at_ms: Number(r.at_ms), created_ms: Number(r.created_ms), timezone: r.timezone ?? 'UTC' }))
    .filter((r) => isBirthday(birth_date, readLocalTime(r.at_ms, r.timezone)))
    .sort((a, b) => a.at_ms - b.at_ms)
    .slice(0, birthday_purchases_max);
  const latest_ms = on_birthday.reduce((max, r) => Math.max(max, r.created_ms), 0);
  return { times: on_birthday.map(({ id, at_ms }) => ({ id, at_ms })), expire_at_ms: latest_ms === 0 ? 0 : latest_ms + purchase_times_kept_ms };
}

/**
 * The contact's purchases since `since_ms`, none reversed. A reversal is looked up in the
 * original_id index, in the database's collation while ids are "C": compared as they were, the
 * index could not serve (rebuild-fee-carries.ts; a rebuild probe, 2026-12-06).
 */
export function birthdayPurchasesQuery(sql: Sql | TransactionSql, contact_id: string, since_ms: number) {
  return sql<{ id: string; at_ms: string; created_ms: string; timezone: string | null }[]>`
    select t.id, (extract(epoch from coalesce(t.occurred_at, t.created_at)) * 1000)::int8 as at_ms,
      (extract(epoch from t.created_at) * 1000)::int8 as created_ms, v.timezone
    from ledger_transactions t
    left join terminals te on te.id = t.terminal_id
    left join venues v on v.id = te.venue_id
    where t.contact_id = ${contact_id} and t.kind = 'purchase'
      and t.created_at >= ${new Date(since_ms - dated_ahead_ms_max)} and coalesce(t.occurred_at, t.created_at) >= ${new Date(since_ms)}
      and not exists (select 1 from ledger_transactions r where r.original_id = (t.id collate "default") and r.kind = 'reversal')`;
}
