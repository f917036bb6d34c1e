-- Webhooks out: a delivery's attempt limit, and the retention of events and deliveries.
--
-- The indexes come first: the ledger writer's statement writes webhook_events before
-- webhook_deliveries, and locks taken here in the same order cannot deadlock with it. Ledger
-- writing waits while this runs (the journal grows meanwhile, within JOURNAL_LENGTH_MAX).

-- Events (and callback answers) are forgotten after their retention, oldest first, found by
-- created_at. A btree, not BRIN: once old rows are deleted, new ones reuse their pages, and a
-- BRIN range that held both would match nearly the whole table for every prune.
create index webhook_events_created on webhook_events (created_at);
drop index if exists callback_events_created;
create index callback_events_created on callback_events (created_at);
-- An event's deliveries, deleted endpoints' included, are found through their endpoints (the
-- unique (endpoint_id, event_id) index): the business's endpoints, whatever their status. Written
-- only when an endpoint is, so it costs the ledger writer nothing.
create index webhook_endpoints_of_business on webhook_endpoints (business_id);

-- The attempts a delivery may have before it is failed: 8 (core/webhooks.ts delivery_attempts_max),
-- raised to one past its attempts by a retry ("one more attempt now, whatever its status"). A claim
-- that finds a delivery still pending and due with attempts = attempts_max knows that its last
-- attempt's lease ran out unrecorded (its gateway died or hung mid-attempt): it fails it, rather
-- than attempt it again and again. A constant default: no rewrite of the table.
alter table webhook_deliveries add column attempts_max integer not null default 8;
-- Pending at 8 attempts or more before this: a retry asked for but not yet attempted, or a lease
-- that ran out (which the claim used to take again, with no end). One more attempt each, then the
-- rule above; never a retry lost.
update webhook_deliveries set attempts_max = attempts + 1 where status = 'pending' and attempts >= 8;
