-- A terminal's reference, claimed for one request (see references.ts): the value it already has
-- in this period or one of the two before, else (mode 'claim') ARG.value written in this period.
--
-- Keys and arguments: hot/claim.ts (KEY.claims: the reference's claim hashes, this period first;
-- one bucket, so one slot).

for _, key in ipairs(KEY.claims) do
  local prior = redis.call('HGET', key, ARG.field)
  if prior then return prior end
end
if ARG.mode == 'read' then return false end
redis.call('HSET', KEY.claims[1], ARG.field, ARG.value)
-- NX: the hash's expiry is set once, by its first entry, so no write moves it.
redis.call('PEXPIRE', KEY.claims[1], ARG.ttl_ms, 'NX')
return false
