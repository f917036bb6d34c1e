-- Schemes group offers for a segment and control who may join; tiers follow value units.

create table schemes (
  id text primary key,
  business_id text not null references businesses (id),
  name text not null,
  signup text not null check (signup in ('auto', 'self', 'email_domain', 'codes')),
  email_domains text[] not null default '{}',
  created_at timestamptz not null default now()
);
create index schemes_business on schemes (business_id);

-- One-time sign-up codes, stored as SHA-256 hashes like keys: shown once, used once.
create table scheme_codes (
  scheme_id text not null references schemes (id),
  code_hash text not null,
  used_by text references contacts (id),
  used_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (scheme_id, code_hash)
);

create table scheme_members (
  scheme_id text not null references schemes (id),
  contact_id text not null references contacts (id),
  joined_at timestamptz not null default now(),
  primary key (scheme_id, contact_id)
);
create index scheme_members_contact on scheme_members (contact_id);

create table tiers (
  business_id text not null references businesses (id),
  name text not null,
  min_period_units bigint not null check (min_period_units >= 0),
  period text not null check (period in ('month', 'quarter', 'year')),
  primary key (business_id, name)
);

-- Every business has a default `auto` scheme: every contact is in it.
insert into schemes (id, business_id, name, signup)
select 'sch_' || substr(md5(id), 1, 20), id, 'Everyone', 'auto' from businesses;
