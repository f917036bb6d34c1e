-- Who made a terminal's transaction: 'admin' when the business's admin key sent it on the
-- terminal's behalf (the Pocketgate-Terminal header, from the console's virtual terminal); null
-- for the terminal's own and the processor's own transactions (award, expiry), and for every row
-- written before. GET /v1/transactions/{id} reads it as `made_by`.
alter table ledger_transactions add column made_by text check (made_by in ('admin'));
