-- The business network, contacts and offers: the durable source of truth that Redis caches.

create table businesses (
  id text primary key,
  name text not null,
  currency char(3) not null,
  reward_resolution text not null check (reward_resolution in ('all', 'best', 'best_per_scheme')),
  created_at timestamptz not null default now()
);

-- Keys are stored only as SHA-256 hashes: a database leak gives no usable key.
create table api_keys (
  hash text primary key,
  business_id text not null references businesses (id),
  kind text not null check (kind in ('admin', 'terminal')),
  terminal_id text,
  created_at timestamptz not null default now()
);

create table merchants (
  id text primary key,
  business_id text not null references businesses (id),
  name text not null,
  code text not null,
  contribution_fee_bp integer not null check (contribution_fee_bp between 0 and 10000),
  settle_on text not null check (settle_on in ('award', 'spend')),
  created_at timestamptz not null default now(),
  unique (business_id, code)
);

create table venues (
  id text primary key,
  business_id text not null references businesses (id),
  merchant_id text references merchants (id),
  name text not null,
  timezone text not null,
  created_at timestamptz not null default now()
);

create table terminals (
  id text primary key,
  business_id text not null references businesses (id),
  venue_id text not null references venues (id),
  merchant_id text references merchants (id),
  code text not null,
  created_at timestamptz not null default now()
);
-- The terminal code (DE41) is unique per merchant; the business's own venues count as one merchant.
create unique index terminals_code_per_merchant on terminals (business_id, coalesce(merchant_id, ''), code);

create table contacts (
  id text primary key,
  business_id text not null references businesses (id),
  code text not null,
  referral_code text not null unique,
  wallet_code text not null unique,
  first_name text,
  last_name text,
  email text,
  phone text,
  birth_date date,
  tags text[] not null default '{}',
  spend_blocked boolean not null default false,
  referred_by text references contacts (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (business_id, code)
);

-- A CIM identifies at most one contact per business: the token is an HMAC over business, type
-- and normalised value, so uniqueness of the token is exactly that rule. No value is stored:
-- `masked` is first-6/last-4 for cards.
create table contact_cims (
  token text primary key,
  business_id text not null references businesses (id),
  contact_id text not null references contacts (id),
  type text not null,
  masked text not null,
  created_at timestamptz not null default now()
);
create index contact_cims_contact on contact_cims (contact_id);

create table offers (
  id text primary key,
  business_id text not null references businesses (id),
  body jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index offers_business on offers (business_id);

-- The double-entry ledger. Every posting moves an amount from one account to another, so a
-- transaction's postings balance by construction; balances are sums of postings.
create table ledger_accounts (
  id text primary key, -- '<owner id>:<kind>:<currency>'
  business_id text not null,
  owner_id text not null,
  kind text not null,
  currency char(3) not null,
  created_at timestamptz not null default now()
);

create table ledger_transactions (
  id text primary key,
  business_id text not null,
  kind text not null,
  terminal_id text,
  reference text,
  contact_id text,
  amount bigint not null check (amount >= 0),
  currency char(3) not null,
  original_id text,
  shard integer not null,
  journal_id text not null, -- the Redis stream entry it came from
  body jsonb not null,      -- the whole journal entry: awards, discount, payment
  reply jsonb,              -- the reply the client was sent
  created_at timestamptz not null, -- when the hot path approved it
  recorded_at timestamptz not null default now()
);
create unique index ledger_transactions_reference on ledger_transactions (terminal_id, reference) where terminal_id is not null;
create index ledger_transactions_contact on ledger_transactions (contact_id, created_at);
create index ledger_transactions_business on ledger_transactions (business_id, created_at);

create table ledger_postings (
  id bigserial primary key,
  transaction_id text not null references ledger_transactions (id),
  debit_account text not null references ledger_accounts (id),
  credit_account text not null references ledger_accounts (id),
  amount bigint not null check (amount > 0),
  currency char(3) not null,
  check (debit_account <> credit_account)
);
create index ledger_postings_transaction on ledger_postings (transaction_id);
create index ledger_postings_debit on ledger_postings (debit_account);
create index ledger_postings_credit on ledger_postings (credit_account);
