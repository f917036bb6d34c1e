-- What an offer has awarded (processor/offer-awarded.ts), and an index that would find it without
-- reading the whole ledger, left to the operator (below):
-- a PATCH that gives an offer a budget or a per-contact cap it did not have seeds its counters
-- from the offer's awards. Without an index that is a scan of every purchase and award, its
-- reply parsed, however few the offer's awards: over 1,000,000 transactions, 2.4 s for an offer
-- with 582 awards, 36 ms with it (loadtest/offer-awarded-bench.ts; README "Performance").
--
-- A transaction's awards are its reply's, or its body's when the body holds them (as the writer
-- stores them: writer.ts ledgerInserts). The function names the offers they come from (a JSON
-- array of their ids), and a GIN index over it (partial: only purchases and awards carry awards)
-- finds the transactions of any of a few offers with `ledger_awarded_offers(reply, body) ?| <ids>`.
-- The writer pays for it as it inserts a purchase: about 3–4 µs of PostgreSQL CPU per entry over
-- 37–39 (loadtest/ledger-bench.ts against the checkout before this migration, 1,000,000 entries).
-- Ledger writing waits while the index is built (the journal grows meanwhile, within
-- JOURNAL_LENGTH_MAX): 2.6 s for 1,000,000 transactions here.

create function ledger_awarded_offers(reply json, body json) returns jsonb
language sql immutable parallel safe
-- One expression, no subquery: PostgreSQL inlines it (in queries and in the index's own
-- expression as the writer evaluates it), a few µs per row where an aggregate over
-- json_array_elements cost some 30.
as $$
  select jsonb_path_query_array(coalesce(case when json_typeof(body->'awards') = 'array' then body->'awards' end, reply->'awards')::jsonb, '$[*].offer_id')
$$;

-- The index itself is not made here: side by side (npm run profile -- --rounds 3 --baseline
-- <checkout before this>, 2026-11-30 22:50 UTC) the ledger's PostgreSQL CPU per purchase was 62
-- against 51 µs (×1.22) with it, every purchase paying for a count made when an admin adds a
-- limit. Without it that count scans the ledger (2.4 s over 1,000,000 transactions). A business
-- that adds limits often to a large ledger can make it (the writer then pays about 11 µs per
-- purchase):
--   create index ledger_transactions_awarded_offers on ledger_transactions
--     using gin (ledger_awarded_offers(reply, body)) where kind in ('purchase', 'award');
