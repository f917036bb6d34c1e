-- What an offer has awarded, found without reading the whole ledger (processor/offer-awarded.ts):
-- a PATCH that gives an offer a budget or a per-contact cap it did not have seeds its counters
-- from the offer's awards, and `npm run rebuild` sets every budget from them. Without an index
-- that is a scan of every purchase and award, its reply parsed: seconds over a million
-- transactions, while the offer's awards may be a few hundred.
--
-- A transaction's awards are its reply's, or its body's when the body holds them (as the
-- writer stores them: writer.ts ledgerInserts). The function names the offers they come from,
-- and a GIN index over it (partial: only purchases and awards carry awards) finds an offer's
-- transactions with `ledger_awarded_offers(reply, body) @> array[<offer id>]` (or `&&` for
-- several). It costs the writer one more read of each purchase's reply as it inserts it.
-- Ledger writing waits while the index is built (the journal grows meanwhile, within
-- JOURNAL_LENGTH_MAX): about 10 s per million purchases here.

create function ledger_awarded_offers(reply json, body json) returns text[]
language sql immutable parallel safe
as $$
  select coalesce(array_agg(distinct a->>'offer_id'), '{}')
  from json_array_elements(case
    when json_typeof(body->'awards') = 'array' then body->'awards'
    when json_typeof(reply->'awards') = 'array' then reply->'awards'
    else '[]'::json end) a
$$;

create index ledger_transactions_awarded_offers on ledger_transactions
  using gin (ledger_awarded_offers(reply, body))
  where kind in ('purchase', 'award');
