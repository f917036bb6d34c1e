-- Expire a contact's commerce lots whose expiry has passed: out of the commerce balance, back to
-- the business's rewards account, as an `expiry` transaction in the journal like any other.
-- Keeps the shard's expiry index pointing at the contact's next expiry (or drops the contact).
--
-- Keys and arguments: hot/expire.ts. Answers {'empty'} when no lot had expired. Expires at most
-- ARG.lots_max lots of a contact holding more than LOTS_UNINDEXED_MAX (the rest: the next call).

local refused = prologue()
if refused then return refused end

-- Takes out the lots due; returns their sum and the earliest expiry of those left (nil: none
-- that expires).
local function dueLots()
  local n = redis.call('HLEN', KEY.lots)
  if n > LOTS_UNINDEXED_MAX then
    -- At most ARG.lots_max: the sweeper comes back for the rest (the expiry index keeps the
    -- contact due), so that one call never holds Redis for all of a contact's lots. Within what
    -- unpack spreads (LOTS_WRITE_BATCH).
    indexLots(n)
    local due = redis.call('ZRANGE', KEY.lot_order, '-inf', int(NOW), 'BYSCORE', 'LIMIT', 0, math.min(ARG.lots_max, LOTS_WRITE_BATCH))
    local amounts = #due > 0 and redis.call('HMGET', KEY.lots, unpack(due)) or {}
    local expired = 0
    for i = 1, #due do expired = expired + tonumber(amounts[i] or '0') end
    dropLots(due)
    local first = redis.call('ZRANGE', KEY.lot_order, 0, 0, 'WITHSCORES')
    local next_expiry = first[2] and tonumber(first[2])
    if next_expiry == 9999999999999 then next_expiry = nil end
    return expired, next_expiry
  end
  redis.call('DEL', KEY.lot_order)
  local flat = redis.call('HGETALL', KEY.lots)
  local due, expired, next_expiry = {}, 0, nil
  for i = 1, #flat, 2 do
    local expiry = expiryOf(flat[i])
    if expiry <= NOW then
      expired = expired + tonumber(flat[i + 1])
      due[#due + 1] = flat[i]
    elseif expiry < 9999999999999 and (next_expiry == nil or expiry < next_expiry) then
      next_expiry = expiry
    end
  end
  dropLots(due)
  return expired, next_expiry
end

local expired, next_expiry = dueLots()
if next_expiry == nil then redis.call('ZREM', KEY.expiry, ARG.contact_id) else redis.call('ZADD', KEY.expiry, next_expiry, ARG.contact_id) end
if expired == 0 then return {'empty'} end

redis.call('HINCRBY', KEY.contact, 'm', -expired)
return commit({amount = int(expired), postings = posting(ARG.accounts.commerce, ARG.accounts.rewards, expired)}, recordOf('x', expired))
