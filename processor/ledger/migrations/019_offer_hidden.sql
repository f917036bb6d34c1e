-- An offer is inserted hidden and shown in the transaction that copies the business's rewards to
-- Redis (processor/offers.ts Offers.create, rewards-snapshot.ts), whose Redis write comes before
-- its commit: a create answered 503 (Redis refusing, the process killed between the two, the
-- commit failing) leaves its offer hidden, and nothing ever makes it live. Before, it was
-- committed visible and went live at the business's next rewards change, beside the offer the
-- client sent again after the 503: every purchase awarded both. Every reader of offers skips
-- hidden ones but rebuild's replay of the ledger (an award made in the moment Redis held a copy
-- whose commit then failed is still an award). Rows inserted before this migration, or by a
-- gateway of before it, are visible.
alter table offers add column hidden boolean not null default false;
