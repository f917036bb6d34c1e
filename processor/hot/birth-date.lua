-- A contact's birth date, set together with its purchases on its new birthday (processor/
-- contacts.ts): the "first purchase of that day" of a birthday offer (lib.lua admitAwards) asks
-- KEY.times, which purchase.lua fills only with purchases made on the birthday the contact had
-- then. A purchase made earlier on the day its birth date is changed to is not there, and the
-- day's next purchase was awarded as its first (a black-box audit, 2026-12-04).
--
-- ARG.times: the contact's purchases the ledger holds on the new birthday, not reversed, as Node
-- read them once the ledger had every purchase the journal held before. Written only if no
-- purchase or reversal of the contact came since (its purchase count fp and its count of
-- reversed purchases rv, as Node read them before; fp alone stays as it was after a purchase and
-- a reversal: a review, 2026-12-04): else 'stale', and Node reads again. Replaces KEY.times, so
-- that it holds what a rebuild from the ledger writes (replay.ts). Keys and arguments:
-- hot/birth-date.ts.
local seen = redis.call('HMGET', KEY.contact, 'fp', 'rv')
if (seen[1] or '') ~= ARG.purchases or (seen[2] or '') ~= ARG.reversals then return {'stale'} end
if ARG.birth_date == '' then
  redis.call('HDEL', KEY.contact, 'd')
else
  redis.call('HSET', KEY.contact, 'd', ARG.birth_date)
end
redis.call('DEL', KEY.times)
if #ARG.times > 0 then
  for _, t in ipairs(ARG.times) do redis.call('ZADD', KEY.times, t.at_ms, t.id) end
  redis.call('PEXPIRE', KEY.times, ARG.times_kept_ms)
end
return {'ok'}
