-- A payment processor's callback transactions say who made them: made_by 'processor' (EVENTS.md's
-- processors; before, they read 'terminal', being booked on the processor's own terminal), and the
-- gateway's own transactions (awards, expiries: no terminal, made_by null) read 'system', no longer
-- 'processor', so that the word means one thing everywhere. Rows written before are marked by
-- their terminal's code (processor_terminal_code_prefix in processor/network.ts).
alter table ledger_transactions drop constraint if exists ledger_transactions_made_by_check;
alter table ledger_transactions add constraint ledger_transactions_made_by_check check (made_by in ('admin', 'processor'));
update ledger_transactions t set made_by = 'processor'
  from terminals m where m.id = t.terminal_id and m.code like 'processor:%' and t.made_by is null;
