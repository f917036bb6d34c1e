-- GET /v1/merchants, /v1/venues and /v1/terminals list a business's oldest first, a page at a time
-- from (created_at, id) (processor/network-list.ts): read through an index rather than a sort of
-- every row of the business for each page.
create index if not exists merchants_business_created on merchants (business_id, created_at, id);
create index if not exists venues_business_created on venues (business_id, created_at, id);
create index if not exists terminals_business_created on terminals (business_id, created_at, id);
