-- A payment processor's callback transactions say who made them: made_by 'processor' (EVENTS.md's
-- processors; before, they read 'terminal', being booked on the processor's own terminal), and the
-- gateway's own transactions (awards, expiries: no terminal, made_by null) read 'system', no longer
-- 'processor', so that the word means one thing everywhere. Rows recorded before keep null and
-- read 'terminal' (no backfill: an UPDATE of every callback row would hold the ledger's lock that
-- long). NOT VALID: every row already holds null or 'admin', which the new check admits, so it
-- need not be scanned under the ALTER's lock.
alter table ledger_transactions drop constraint if exists ledger_transactions_made_by_check;
alter table ledger_transactions add constraint ledger_transactions_made_by_check check (made_by in ('admin', 'processor')) not valid;
