-- An offer's conditions.time_to of 24:01 to 24:59 was taken until 2026-12-05 and is 400 since
-- (core/schemas.ts: 24:00 is the end of the day). The engine read such a time as past the day's
-- last minute, the end of the day (core/offer.ts minutesOf): written as 24:00 it means the same,
-- and a PATCH, which validates the offer it merges into as a whole, no longer refuses a field
-- the client did not send (a review, 2026-12-05). Gateways' rewards snapshots keep the old text,
-- which they read the same way, until the business's next rewards change.
update offers
set body = jsonb_set(body, '{conditions,time_to}', '"24:00"')
where body->'conditions'->>'time_to' ~ '^24:(0[1-9]|[1-5][0-9])$';
