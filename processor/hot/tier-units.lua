-- A contact's tier units as its purchases in the ledger make them (processor/tier-seed.ts): set
-- when a kind of tier comes to a business, so that the purchases made before it count in their
-- periods as API.md has them ("a purchase earns value units equal to its amount"), as `npm run
-- rebuild` counts them. Written only if no purchase or reversal of the contact came since Node
-- read its purchase count fp and its count of reversed purchases rv (both, as birth-date.lua
-- asks): else 'stale', and Node reads again. The reversals whose purchase's units are still to be
-- given back (ARG.pending: their deferrals in KEY.deferred, undo.lua) were counted as not reversed
-- yet: stale too if one was given back since, which Node's count then takes twice. A contact gone
-- from Redis (no business field b) is left alone: a hash without b is no contact for the hot path.
-- Keys and arguments: hot/tier-units.ts.
if redis.call('HEXISTS', KEY.contact, 'b') == 0 then return {'ok'} end
local seen = redis.call('HMGET', KEY.contact, 'fp', 'rv')
if (seen[1] or '') ~= ARG.purchases or (seen[2] or '') ~= ARG.reversals then return {'stale'} end
for _, p in ipairs(ARG.pending) do
  if redis.call('HEXISTS', KEY.deferred, p.reversal) == 0 then return {'stale'} end
end
for _, u in ipairs(ARG.units) do
  if u.value == '' then redis.call('HDEL', KEY.contact, u.field) else redis.call('HSET', KEY.contact, u.field, u.value) end
end
return {'ok'}
