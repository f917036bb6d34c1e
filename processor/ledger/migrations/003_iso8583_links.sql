-- Acquirer links: an ISO 8583 acquiring institution id (DE32, zero-padded to 11 digits as in
-- DE90) names exactly one business.
create table iso8583_links (
  id text primary key,
  acquirer_id text not null unique,
  business_id text not null references businesses (id),
  created_at timestamptz not null default now()
);
create index iso8583_links_business on iso8583_links (business_id);
