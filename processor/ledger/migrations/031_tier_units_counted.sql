-- Every purchase counts its tier units in its period, whenever the business got tiers of that
-- period kind (processor/tier-seed.ts): before, a kind counted only from its PUT /v1/tiers
-- (tiers.units_since), and rebuild counted the same. Each business with tiers owes the count of
-- its contacts' units from the ledger once, made by the sweep of copies owed (copies-owed.ts,
-- kind 'tiers') in the ledger-writing process, so that Redis holds what rebuild now counts.
insert into redis_copies_owed (kind, id, token)
select distinct 'tiers', business_id, 'migration-031' from tiers
on conflict (kind, id) do nothing;
