-- What `npm run rebuild` needs of a terminal's transaction to put the hot window back as it was:
-- the reference's claim hash (the first 10 characters of the request's keyed hash, as the claim
-- keeps them: processor/claim.ts), so that a different body under a reference of the window is
-- refused again after a rebuild, and a purchase's occurred_at, which decided its offers, caps and
-- tier period (created_at is when the hot path approved it). Null for rows written before.
alter table ledger_transactions add column request_hash text, add column occurred_at timestamptz;
