-- A terminal's reference, claimed for one request (see references.ts): the value it already has
-- in this period or one of the two before, else (mode 'claim') ARG.value written in this period.
--
-- Keys and arguments: hot/claim.ts (KEY.claims: the reference's claim hashes, this period first;
-- one bucket, so one slot).

-- A reversal's mark ('!' and its claim hash, 11 bytes: processor/claim.ts) found by a request
-- that is no mark itself: the request the reversal named, arriving late. Its claim hash (10 bytes)
-- is kept after the mark, once, so that its repeat is told apart from another body.
for _, key in ipairs(KEY.claims) do
  local prior = redis.call('HGET', key, ARG.field)
  if prior then
    if ARG.mode == 'claim' and #prior == 11 and string.byte(prior, 1) == 33 and string.byte(ARG.value, 1) ~= 33 then
      redis.call('HSET', key, ARG.field, prior .. string.sub(ARG.value, 1, 10))
    end
    return prior
  end
end
if ARG.mode == 'read' then return false end
redis.call('HSET', KEY.claims[1], ARG.field, ARG.value)
-- NX: the hash's expiry is set once, by its first entry, so no write moves it.
redis.call('PEXPIRE', KEY.claims[1], ARG.ttl_ms, 'NX')
return false
