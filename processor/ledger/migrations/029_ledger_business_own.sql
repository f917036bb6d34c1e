-- The console's latest transactions (GET /v1/transactions) list the gateway's own beside the
-- terminals' (sign-up and referral awards, expiries: no terminal): read through this index, of
-- those rows only, rather than through the terminal index's NULLs of every business.
create index if not exists ledger_transactions_business_own on ledger_transactions (business_id, created_at) where terminal_id is null;
