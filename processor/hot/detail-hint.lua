-- A contact's email or phone on file, hinted in the CIM index for the POS path's use while
-- PostgreSQL cannot say who has it (processor/detail-hints.ts): 'add' makes the entry name the
-- contact if it names nobody yet, or '*' (several have it, so none is named) if it names another;
-- 'several' makes it '*' whatever it held. '*' is never undone here: a hint may only be wrong on
-- the side of "ask PostgreSQL".
--
-- Keys and arguments: hot/detail-hint.ts (KEY.bucket: the index bucket of the hint's token).

local named = redis.call('HGET', KEY.bucket, ARG.field)
if ARG.mode == 'several' or (named and named ~= ARG.contact) then
  redis.call('HSET', KEY.bucket, ARG.field, '*')
elseif not named then
  redis.call('HSET', KEY.bucket, ARG.field, ARG.contact)
end
return false
