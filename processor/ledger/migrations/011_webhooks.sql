-- Webhooks out (spec/EVENTS.md): a business's endpoints, the events the ledger writer records for
-- them in the same statement that records the transactions (an outbox: an event exists exactly
-- when its transaction is in the ledger), and one delivery per event and subscribed endpoint.

create table webhook_endpoints (
  id text primary key,
  business_id text not null references businesses (id),
  url text not null,
  events text[] not null,
  description text,
  -- 'deleted' keeps the row for its deliveries' history; the API answers 404 for it.
  status text not null check (status in ('enabled', 'disabled', 'deleted')),
  -- The signing secret, encrypted (core/secret-box.ts): the HMAC needs it, so no hash will do.
  secret text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index webhook_endpoints_business on webhook_endpoints (business_id, created_at) where status <> 'deleted';
-- What the ledger writer probes for each transaction it records: most businesses have none.
create index webhook_endpoints_enabled on webhook_endpoints (business_id) where status = 'enabled';

create table webhook_events (
  id text primary key,
  business_id text not null,
  type text not null,
  transaction_id text not null,
  -- award.created: the award's place in the transaction's awards.
  n integer,
  created_at timestamptz not null default now()
);

create table webhook_deliveries (
  -- The listing's order (newest first) and its cursor.
  seq bigint generated always as identity primary key,
  endpoint_id text not null,
  event_id text not null,
  status text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
  attempts integer not null default 0,
  -- Due time while pending; while an attempt is in flight, the end of its lease (a worker that
  -- dies mid-attempt leaves it due again then). Null once succeeded or failed.
  next_attempt_at timestamptz default now(),
  last_status_code integer,
  last_error text,
  created_at timestamptz not null default now(),
  unique (endpoint_id, event_id)
);
-- The worker claims an endpoint's due deliveries through this one.
create index webhook_deliveries_due on webhook_deliveries (endpoint_id, next_attempt_at) where status = 'pending';
-- The listing, newest first, with and without a status filter.
create index webhook_deliveries_listing on webhook_deliveries (endpoint_id, seq);
create index webhook_deliveries_listing_status on webhook_deliveries (endpoint_id, status, seq);
