-- Who made a terminal's transaction: 'admin' when the business's admin key sent it on the
-- terminal's behalf (the Pocketgate-Terminal header, from the console's virtual terminal); null
-- for the terminal's own, a payment processor's callbacks and the processor's own transactions
-- (award, expiry), and for every row written before. GET /v1/transactions/{id} reads it as
-- `made_by`. (`if not exists`: a database that applied it as 010_made_by.sql, before the merge.)
alter table ledger_transactions add column if not exists made_by text check (made_by in ('admin'));
