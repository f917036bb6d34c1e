-- The commerce pools a business's offers have ever named. A pool named after one of the
-- business's merchant codes redeems only at that merchant, any other pool anywhere (API.md,
-- POST /v1/redemptions); the rewards snapshot (processor/rewards-snapshot.ts) lists the pools
-- here that are merchant codes, and every redemption is given that list. An offer's current pool
-- is not enough: a PATCH can change it, and the lots awarded under the old name keep it.
-- Rows are only added (with the offer's insert or update), never removed: a pool's lots may
-- outlive every offer that named it.
create table offer_pools (
  business_id text not null references businesses (id),
  pool text not null,
  primary key (business_id, pool)
);

-- The pools offers name now. One an offer named before a PATCH that replaced it, before this
-- migration, is not known: if it is a merchant code and its lots are still held, an operator
-- who knows it adds it (insert into offer_pools values ('<business id>', '<pool>')) and the
-- business's snapshot is rewritten at its next offer change (or `npm run rebuild`).
insert into offer_pools (business_id, pool)
  select distinct business_id, body->>'pool' from offers where body->>'pool' is not null
  on conflict do nothing;
