-- Callback answers are forgotten after CALLBACK_EVENTS_RETENTION_DAYS (processor/callback-events.ts
-- prune). The table is appended to in time order, so a BRIN index on created_at finds the oldest
-- rows for a few pages of index, and costs the inserts next to nothing.
create index callback_events_created on callback_events using brin (created_at);
