// A limit an offer gets later counts what the offer awarded before it (API.md: a budget or a
// per-contact cap is never exceeded, under any concurrency). The hot path counts only while a
// limit is there: budget.lua reserves into `b:{<offer>}` only for an offer with a budget, and the
// purchase script counts a contact's awards only in the field of the period its offer is capped
// by. So when PATCH /v1/offers/{id} gives an offer a budget it did not have, its counter is set to
// what the offer has awarded; when it gives it a per-contact cap it did not have, or another
// period, each contact's counters of the periods a purchase may still be dated in are set to that
// contact's awards in them. Reversed purchases count nothing (offer-awarded.ts). A budget whose
// amount merely changes, or a cap whose count does, keeps its counters; a limit removed needs
// nothing (a counter nobody reads; overwritten if the limit comes back).
//
// Offers.patch calls this before it writes the new limits to PostgreSQL, and so before
// Offers.changed publishes them: nothing can reserve into a counter or count in a field while it
// is being seeded, and no process can load the new limits (from PostgreSQL, or from a snapshot
// another change of the business takes) before their counters are there.
//
// The window this cannot close: awards made under the old limits after the count, until every
// process uses the new ones, are in no counter (the budget's, or the new period's). It opens when
// the count's ledger statement takes its snapshot (offer-awarded.ts reads the journal first, so
// only what the writer records later than that is missed: its lag, 0.05–0.11 s under load), and
// stays open while the statement runs and the counters are written (tens of ms for an offer with
// hundreds of awards over a million transactions; seconds for one with hundreds of thousands:
// README "An offer's awards"), then the update, the snapshot and the publication, which follow at
// once. Each process drops its compiled offers when the message reaches it (offers.ts):
// milliseconds, plus the purchases it has already evaluated. A process that missed the message
// (its subscriber was disconnected) uses the old limits until its reload: at most offers_ttl_ms
// (30 s) after its last load, longer only while its reloads fail. A budget can be exceeded, and a
// contact's cap, by what is awarded in that window, no more.

import { callback_window, terminal_window } from '../core/occurred.ts';
import type { OfferLimits } from '../core/offer.ts';
import { readLocalTime, periodKey } from '../core/local-time.ts';
import { shardOf } from '../core/ids.ts';
import { budgetKey, capsKey } from './hot/keys.ts';
import { capField, capTimezone } from './ledger/replay.ts';
import { awardsByContact, offersAwarded, type AwardSource, type OfferAward } from './offer-awarded.ts';
import type { Stores } from './stores.ts';

type PerContact = NonNullable<OfferLimits['per_contact']>;

/** Redis commands per pipeline while seeding caps. */
const batch_commands = 1_000;
/** The furthest back a purchase may be dated, by any channel (core/occurred.ts): its period may still be counted in. */
const dated_back_ms = Math.max(terminal_window.past_ms, callback_window.past_ms);
/** Longer than any period but lifetime (a month), plus the largest UTC offset: awards before it are in no period still counted. */
const period_span_ms = 32 * 86_400_000;

/** Seed the counters of the limits `after` adds to `before` (the offer's limits, before and after a PATCH). */
export async function seedAddedLimits(stores: Stores, offer_id: string, before: OfferLimits | undefined, after: OfferLimits | undefined): Promise<void> {
  const source: AwardSource = { redis: stores.redis, sql: stores.sql, shard_count: stores.config.shard_count };
  if (after?.budget !== undefined && before?.budget === undefined) await seedBudget(source, offer_id);
  const cap = after?.per_contact;
  if (cap !== undefined && cap.period !== before?.per_contact?.period) await seedCaps(source, offer_id, cap, stores.clock.now());
}

/** The budget's counter: what the offer has awarded (overwriting an earlier budget's, stale since it went). */
async function seedBudget(source: AwardSource, offer_id: string): Promise<void> {
  const awarded = (await offersAwarded(source, [offer_id])).get(offer_id) ?? 0;
  await source.redis.set(budgetKey(offer_id), String(awarded));
}

/**
 * Each awarded contact's counters of the cap's period, those a purchase may still be dated in,
 * set to its awards in them (HSET: an earlier cap's counter of the same field may be there, stale);
 * a field whose every award was reversed is deleted. Pipelined, batch_commands at a time.
 */
async function seedCaps(source: AwardSource, offer_id: string, cap: PerContact, now_ms: number): Promise<void> {
  const counted = countedSince(cap, now_ms);
  let multi = source.redis.multi();
  let commands = 0;
  for await (const c of awardsByContact(source, offer_id, cap.period === 'lifetime' ? null : now_ms - dated_back_ms - period_span_ms)) {
    const fields = capCounts(offer_id, cap, c.awards, counted);
    if (fields.size === 0) continue;
    const key = capsKey(shardOf(c.contact_id, source.shard_count), c.contact_id);
    const set = [...fields].filter(([, n]) => n > 0);
    const cleared = [...fields].filter(([, n]) => n === 0).map(([field]) => field);
    if (set.length > 0) multi.hSet(key, set.map(([field, n]) => [field, String(n)]));
    if (cleared.length > 0) multi.hDel(key, cleared);
    commands += Number(set.length > 0) + Number(cleared.length > 0);
    if (commands >= batch_commands) {
      await multi.execAsPipeline();
      multi = source.redis.multi();
      commands = 0;
    }
  }
  if (commands > 0) await multi.execAsPipeline();
}

/** One contact's counters, field → awards not reversed, of the periods `counted` admits. */
function capCounts(offer_id: string, cap: PerContact, awards: readonly OfferAward[], counted: (field: string, timezone: string) => boolean): Map<string, number> {
  const fields = new Map<string, number>();
  for (const a of awards) {
    // A sign-up award counts once per contact whatever the offer's cap (awards.ts capOf).
    if (a.kind === 'award' && a.reason === 'signup') continue;
    const field = capField(offer_id, cap, a)!;
    if (!counted(field, capTimezone(a))) continue;
    fields.set(field, (fields.get(field) ?? 0) + (a.reversed ? 0 : a.count));
  }
  return fields;
}

/**
 * Whether a field of the cap is one a purchase may still count in: lifetime always; a day, week
 * or month not before the one `dated_back_ms` ago in its timezone (period keys sort by time).
 */
function countedSince(cap: PerContact, now_ms: number): (field: string, timezone: string) => boolean {
  if (cap.period === 'lifetime') return () => true;
  const oldest = new Map<string, string>();
  return (field, timezone) => {
    let key = oldest.get(timezone);
    if (key === undefined) oldest.set(timezone, (key = periodKey(cap.period, readLocalTime(now_ms - dated_back_ms, timezone))));
    return field.slice(field.lastIndexOf('|') + 1) >= key;
  };
}
