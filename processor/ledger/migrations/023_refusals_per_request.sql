-- One refusal a request (terminal, reference, claim hash) within a hot window: a refund's or a
-- reversal's original not found is claimed and journaled in two calls (two slots), so a repeat
-- journals it again, in case a kill between the first's two left it claimed and never journaled
-- (processor/refund.ts journalNotFound). The writer records a repeat's only where the request has
-- no row; a later window's refusal of the same request (its reference free again) replaces it.
delete from ledger_refusals a using ledger_refusals b
where a.terminal_id = b.terminal_id and a.reference = b.reference and a.request_hash = b.request_hash
  and (a.created_at, a.id) < (b.created_at, b.id);
create unique index ledger_refusals_request on ledger_refusals (terminal_id, reference, request_hash);
