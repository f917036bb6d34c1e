-- Redis copies an admin change owes (processor/copies-owed.ts): written in the change's own
-- transaction, deleted once Redis holds the copy. What a failed or cut copy left is copied by the
-- ledger-writing process's sweep.
create table redis_copies_owed (
  kind text not null,
  id text not null,
  token text not null,
  owed_at timestamptz not null default now(),
  primary key (kind, id)
);
create index redis_copies_owed_at on redis_copies_owed (owed_at);
