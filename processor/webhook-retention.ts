// Webhooks out, the retention: an event and its deliveries are forgotten
// WEBHOOK_EVENTS_RETENTION_DAYS after the event was recorded, once every delivery of it is over
// (succeeded or failed; a deleted endpoint's deliveries are never sent, so over too). Until then
// nothing is forgotten: a disabled endpoint's pending deliveries wait for it however old they are.
// Run hourly by the process that writes the ledger, as callback answers are (callback-events.ts).

import { pruneHourly } from './repeat.ts';
import type { Sql } from './stores.ts';
import { endpoints_per_business_max } from './webhooks.ts';

/**
 * Events one pruning statement forgets, each with its deliveries (one per endpoint subscribed when
 * it was recorded: at most 16), and statements one sweep runs: at most 10^6 events an hour.
 */
export const prune_events_max = 5_000;
const prune_statements_max = 200;

/**
 * Forgets up to `events_max` events recorded more than `retention_days` ago whose deliveries are
 * all over, with those deliveries, in one short statement; returns how many events. A forgotten
 * delivery is no longer listed, and a retry of it is 404. Every lookup is by index: the events by
 * created_at (migration 014), their deliveries through the business's endpoints and the
 * (endpoint_id, event_id) index, then by primary key. The lateral's limit is a bound (an event has
 * one delivery per endpoint enabled when it was recorded: at most 16) and keeps PostgreSQL from
 * flattening it into a hash join over the whole deliveries table. Repeatable read: a retry
 * accepted (202) after the statement's snapshot makes the delete of its delivery a serialization
 * failure, so the statement forgets nothing and the next sweep decides again, rather than forget
 * a delivery the business was just told would be attempted.
 */
export async function pruneWebhookEvents(sql: Sql, retention_days: number, events_max = prune_events_max): Promise<number> {
  return sql.begin('isolation level repeatable read', async (tx) => {
    const [row] = await tx<{ n: number }[]>`
    with old as (
      select ev.id, ev.business_id from webhook_events ev
      where ev.created_at < now() - make_interval(days => ${retention_days})
        and not exists (
          select 1 from webhook_endpoints e join webhook_deliveries d on d.endpoint_id = e.id and d.event_id = ev.id
          where e.business_id = ev.business_id and e.status <> 'deleted' and d.status = 'pending')
      limit ${events_max}
    ),
    deliveries as (
      delete from webhook_deliveries where seq = any(array(
        select d.seq from old cross join lateral (
          select d.seq from webhook_endpoints e join webhook_deliveries d on d.endpoint_id = e.id and d.event_id = old.id
          where e.business_id = old.business_id limit ${endpoints_per_business_max}) d))
    ),
    events as (
      delete from webhook_events where id = any(array(select id from old))
      returning 1
    )
    select count(*)::int4 as n from events`;
    return row!.n;
  });
}

/** Prunes every hour, as long as there is more to forget (at most 10^6 events an hour), until stopped. */
export function startWebhookRetention(sql: Sql, retention_days: number, onError: (err: unknown) => void): () => void {
  return pruneHourly(() => pruneWebhookEvents(sql, retention_days), prune_events_max, prune_statements_max, onError);
}
