-- A contact's latest transactions (GET /v1/contacts/{id}/transactions; the console's contact
-- page): its statement shows only what moved its balances, and a purchase that awarded nothing
-- moved none, so the page's "Latest transactions" left it out. Migration 007 dropped this index
-- as unread; it costs the writer one more index entry per transaction (loadtest/ledger-bench.ts).
create index ledger_transactions_contact on ledger_transactions (contact_id, created_at) where contact_id is not null;
