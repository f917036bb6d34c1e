-- The reply a client was sent, kept byte for byte: once the ledger has recorded a transaction the
-- hot path keeps only its record, and a repeated request is answered from here. jsonb reorders
-- keys and respaces; json keeps the text as written (and costs PostgreSQL no conversion).
alter table ledger_transactions alter column reply type json using reply::json;
