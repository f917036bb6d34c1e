-- A contact's email or phone on file, hinted in the CIM index for the POS path's use while
-- PostgreSQL cannot say who has it (processor/contacts.ts detailHint): 'add' makes the entry name
-- the contact, or '*' (several have it on file, so none is named) once another contact adds it;
-- 'remove' takes it away if it names the contact ('*' stays: which of the others still have it
-- only PostgreSQL knows, and a '*' is read as "ask PostgreSQL").
--
-- Keys and arguments: hot/detail-hint.ts (KEY.bucket: the index bucket of the hint's token).

local named = redis.call('HGET', KEY.bucket, ARG.field)
if ARG.mode == 'add' then
  if not named then redis.call('HSET', KEY.bucket, ARG.field, ARG.contact)
  elseif named ~= ARG.contact then redis.call('HSET', KEY.bucket, ARG.field, '*') end
elseif named == ARG.contact then
  redis.call('HDEL', KEY.bucket, ARG.field)
end
return false
