-- The settings the ledger's data was made with (processor/settings.ts): the CIM key's check, so
-- that a process started with another CIM_HMAC_KEY refuses to run instead of tokenising new CIMs
-- apart from every one already stored.
create table pocketgate_settings (
  name text primary key,
  value text not null
);
