-- Payment processors (spec/EVENTS.md, callbacks in): who may send a business's card transactions,
-- the secrets their callbacks are signed with, and what each callback event was answered.

create table processors (
  id text primary key,
  business_id text not null references businesses (id),
  name text not null,
  award_on text not null check (award_on in ('clearing', 'authorization')),
  created_at timestamptz not null default now()
);
create index processors_business on processors (business_id, created_at);

-- A signing secret must be usable as the HMAC key, so it cannot be stored as a hash like API
-- keys: it is stored encrypted (AES-256-GCM under a key derived from CIM_HMAC_KEY,
-- processor/processors.ts), so that the database alone does not let anyone sign callbacks.
-- The current secret has no expiry; a rotation gives the one it replaces 24 hours.
create table processor_secrets (
  processor_id text not null references processors (id),
  secret text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz
);
create index processor_secrets_processor on processor_secrets (processor_id);

-- The first answer to each event (replayed as is), and what a purchase booked for the processor's
-- transaction: its terminal and amount, which a later clearing, refund or reversal acts on. A
-- processor's transaction id answers once per event type, whatever the event id.
create table callback_events (
  processor_id text not null references processors (id),
  event_id text not null,
  type text not null,
  transaction_id text, -- the processor's; null for a rejected (malformed) event
  result json not null, -- {status, transaction_id?, code?, message?}
  terminal_id text, -- a purchase made: where it is booked and its amount
  amount bigint,
  made_transaction_id text, -- ours, when the event made one
  terminal_code text, -- as the processor sent it: shown with the transaction, nothing else
  created_at timestamptz not null default now(),
  primary key (processor_id, event_id)
);
create unique index callback_events_transaction on callback_events (processor_id, transaction_id, type) where transaction_id is not null;
create index callback_events_made on callback_events (made_transaction_id) where terminal_code is not null;
