-- Since when a business's purchases have counted value units of a tier period kind (month,
-- quarter, year): the hot path counts units only while the business has tiers of that kind, so
-- `npm run rebuild`, which counts them again from the ledger, must count only purchases from then.
-- Kept per tier row, the same on every row of a kind; a PUT /v1/tiers keeps it for the kinds it
-- keeps. Rows from before this migration count every purchase, as rebuild did until now.
alter table tiers add column units_since timestamptz not null default '-infinity';
alter table tiers alter column units_since set default now();
