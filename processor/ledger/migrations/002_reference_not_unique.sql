-- A terminal's reference is unique only while the hot path remembers it (REPLY_TTL_SECONDS).
-- After that a terminal may send it again (ISO 8583 STANs wrap) and Redis approves a new
-- transaction with a new id; a unique index here made the writer's ON CONFLICT DO NOTHING drop
-- that approved transaction from the ledger without a word while its balances stood in Redis.
-- The transaction id alone makes a write idempotent.
drop index ledger_transactions_reference;
create index ledger_transactions_reference on ledger_transactions (terminal_id, reference) where terminal_id is not null;
