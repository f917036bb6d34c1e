-- The ledger, narrowed to what its readers read: PostgreSQL's CPU per recorded transaction was
-- more than the whole hot path's (loadtest/ledger-bench.ts measures it, and the reads).
--
-- ledger_transactions keeps the journal entry's fields as columns and the reply once, as `json`
-- (the text as sent: no binary conversion, which cost the writer more than it saved a reader).
-- The entry's awards, discount and payment are the reply's own: `body` holds them only when the
-- reply does not carry them, and whatever else of an entry the columns do not hold (a
-- redemption's lots; null for every other transaction the writer records today). Its postings
-- are ledger_postings.
-- Its indexes are the ones a reader uses: the primary key (the writer's idempotency, reading a
-- transaction back, the postings' join), (terminal_id, created_at) for settlements, and for a
-- refund or reversal of an original older than the hot window (ledger/originals.ts) the
-- original by (terminal_id, reference) and the refunds of it by original_id (only refunds and
-- reversals have one). Gone: business_id and (contact_id, created_at), which no query used.
--
-- ledger_postings loses its serial id (n orders a transaction's postings), its currency (the
-- transaction's, and its accounts') and its foreign keys: the writer inserts a transaction and its
-- postings in one statement, and each foreign key was a lookup per posting and account. Statements
-- read postings by contact account: a partial index on each side holds only contacts' accounts
-- (the business's and merchants' accounts, on most postings, are read through their transactions).
--
-- ledger_accounts becomes a view: an account is its id (owner:kind:currency), implied by the
-- postings that name it, and inserting it with every batch was a conflict check per account.
--
-- Ids are compared byte-wise (collate "C") whatever the database's locale: cheaper, and the
-- time-ordered transaction ids (core/ids.ts) then sort by time, so inserts append to the index.

create table ledger_transactions_007 (
  amount bigint not null check (amount >= 0),
  created_at timestamptz not null, -- when the hot path approved it
  recorded_at timestamptz not null default now(),
  shard integer not null,
  id text collate "C" not null,
  business_id text not null,
  kind text not null,
  currency char(3) not null,
  terminal_id text,
  reference text,
  contact_id text,
  original_id text,
  journal_id text not null, -- the Redis stream entry it came from: statements order by it
  reply json,               -- the reply the client was sent
  body json                 -- what of the journal entry neither the columns nor the reply hold
);

insert into ledger_transactions_007 (amount, created_at, recorded_at, shard, id, business_id, kind, currency, terminal_id,
  reference, contact_id, original_id, journal_id, reply, body)
select amount, created_at, recorded_at, shard, id, business_id, kind, currency, terminal_id,
  reference, contact_id, original_id, journal_id, reply::json,
  case
    when (body->'awards', body->'discount', body->'paid_from_wallet') is not distinct from (reply::jsonb->'awards', reply::jsonb->'discount', reply::jsonb->'paid_from_wallet')
      then nullif(rest, '{}')
    -- As the writer stores them: all three, null where the entry had none.
    else rest || jsonb_build_object('awards', body->'awards', 'discount', body->'discount', 'paid_from_wallet', body->'paid_from_wallet')
  end::json
from ledger_transactions,
  lateral (select body - '{id,kind,business_id,terminal_id,reference,contact_id,amount,currency,original_id,created_at,postings,awards,discount,paid_from_wallet}'::text[] as rest) r
order by id;

create table ledger_postings_007 (
  amount bigint not null check (amount > 0),
  n smallint not null, -- its place among the transaction's postings
  transaction_id text collate "C" not null,
  debit_account text collate "C" not null,
  credit_account text collate "C" not null,
  check (debit_account <> credit_account)
);

insert into ledger_postings_007 (amount, n, transaction_id, debit_account, credit_account)
select amount, row_number() over (partition by transaction_id order by id) - 1, transaction_id, debit_account, credit_account
from ledger_postings
order by transaction_id, id;

drop table ledger_postings;
drop table ledger_transactions;
drop table ledger_accounts;
alter table ledger_transactions_007 rename to ledger_transactions;
alter table ledger_postings_007 rename to ledger_postings;

alter table ledger_transactions add constraint ledger_transactions_pkey primary key (id);
create index ledger_transactions_terminal on ledger_transactions (terminal_id, created_at);
create index ledger_transactions_reference on ledger_transactions (terminal_id, reference) where terminal_id is not null;
create index ledger_transactions_original on ledger_transactions (original_id) where original_id is not null;
alter table ledger_postings add constraint ledger_postings_pkey primary key (transaction_id, n);
-- A contact's accounts are named after its id (con_…); the statement's query repeats these
-- predicates so that the planner may use the indexes.
create index ledger_postings_contact_debit on ledger_postings (debit_account) where debit_account like 'con\_%';
create index ledger_postings_contact_credit on ledger_postings (credit_account) where credit_account like 'con\_%';

-- Every account the ledger has moved money on, with its owner's business: a scan of every posting,
-- for people and tests, never for a request.
create view ledger_accounts as
select distinct a.id, t.business_id, split_part(a.id, ':', 1) as owner_id, split_part(a.id, ':', 2) as kind, split_part(a.id, ':', 3)::char(3) as currency
from ledger_postings p
join ledger_transactions t on t.id = p.transaction_id
cross join lateral (values (p.debit_account), (p.credit_account)) a(id);
