-- Leases held by one holder at once, all or none (processor/event-claims.ts): a processor
-- callback's transaction and event id, both tagged by the business (one slot). 'take' sets every
-- key to ARG.holder for ARG.lease_ms if none is held, and answers 1, else 0; 'renew' and
-- 'release' touch only the keys ARG.holder still holds (one whose lease ran out may be another
-- holder's by now) and answer how many. Keys and arguments: hot/lease.ts.
local keys = KEY.leases
if ARG.op == 'take' then
  for _, key in ipairs(keys) do
    if redis.call('EXISTS', key) == 1 then return 0 end
  end
  for _, key in ipairs(keys) do redis.call('SET', key, ARG.holder, 'PX', ARG.lease_ms) end
  return 1
end
local n = 0
for _, key in ipairs(keys) do
  if redis.call('GET', key) == ARG.holder then
    if ARG.op == 'renew' then redis.call('PEXPIRE', key, ARG.lease_ms) else redis.call('DEL', key) end
    n = n + 1
  end
end
return n
