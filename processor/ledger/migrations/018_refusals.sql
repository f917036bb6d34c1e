-- Requests refused on their merits (insufficient funds, a wrong OTP, an original not found...),
-- which the hot window remembers under their reference so that a repeat is refused the same way
-- (API.md, Idempotency). Redis alone would forget them with its data: `npm run rebuild` reads them
-- here to remember them again (OPERATIONS.md: every reply of the window replays unchanged). No
-- money moved, so they are not transactions: no postings, no reply (a refusal's problem is made
-- again from its code). `id` makes the writer's insert idempotent; rows past the hot window are
-- of no more use (the ledger-writing process deletes them hourly).
create table ledger_refusals (
  id text primary key,
  business_id text not null,
  terminal_id text not null,
  reference text not null,
  request_hash text not null,
  -- '' when the request named no contact (a refund or reversal whose original was not found).
  contact_id text not null,
  code text not null,
  -- A reversal's whose original had not arrived: the original's reference, refused if it comes.
  original_reference text,
  created_at timestamptz not null
);
create index ledger_refusals_created on ledger_refusals (created_at);
