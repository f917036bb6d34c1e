-- Webhooks out: a manual retry of a delivery that is not pending (succeeded or failed) is "one
-- more attempt now" (EVENTS.md): if that attempt fails, the delivery is failed at once, not put
-- back into the backoff of attempts 2..8. Marked here by the retry, read by the claim and cleared
-- when the attempt's outcome is recorded. An attempt whose lease ran out unrecorded (its gateway
-- died mid-attempt) is not its outcome: the mark stays and the attempt is made again, within
-- attempts_max (migration 014). A constant default: no rewrite of the table.
alter table webhook_deliveries add column manual_retry boolean not null default false;
