-- Expire a contact's commerce lots whose expiry has passed: out of the commerce balance, back to
-- the business's rewards account, as an `expiry` transaction in the journal like any other.
-- Keeps the shard's expiry index pointing at the contact's next expiry (or drops the contact).
--
-- Keys and arguments: hot/expire.ts. Answers {'empty'} when no lot had expired. Expires at most
-- ARG.lots_max lots of a contact holding more than LOTS_UNINDEXED_MAX (the rest: the next call).

local refused = prologue()
if refused then return refused end

-- Takes out the lots due; returns them ({field, amount}), their sum and the earliest expiry of
-- those left (nil: none that expires).
local function dueLots()
  local n = redis.call('HLEN', KEY.lots)
  if n > LOTS_UNINDEXED_MAX then
    -- At most ARG.lots_max: the sweeper comes back for the rest (the expiry index keeps the
    -- contact due), so that one call never holds Redis for all of a contact's lots. Within what
    -- unpack spreads (LOTS_WRITE_BATCH).
    indexLots(n)
    local due = redis.call('ZRANGE', KEY.lot_order, '-inf', int(NOW), 'BYSCORE', 'LIMIT', 0, math.min(ARG.lots_max, LOTS_WRITE_BATCH))
    local amounts = #due > 0 and redis.call('HMGET', KEY.lots, unpack(due)) or {}
    local lots, expired = {}, 0
    for i = 1, #due do
      lots[i] = {due[i], tonumber(amounts[i] or '0')}
      expired = expired + lots[i][2]
    end
    dropLots(due)
    local first = redis.call('ZRANGE', KEY.lot_order, 0, 0, 'WITHSCORES')
    local next_expiry = first[2] and tonumber(first[2])
    if next_expiry == 9999999999999 then next_expiry = nil end
    return lots, expired, next_expiry
  end
  redis.call('DEL', KEY.lot_order)
  local flat = redis.call('HGETALL', KEY.lots)
  local due, lots, expired, next_expiry = {}, {}, 0, nil
  for i = 1, #flat, 2 do
    local expiry = expiryOf(flat[i])
    if expiry <= NOW then
      expired = expired + tonumber(flat[i + 1])
      due[#due + 1] = flat[i]
      lots[#lots + 1] = {flat[i], tonumber(flat[i + 1])}
    elseif expiry < 9999999999999 and (next_expiry == nil or expiry < next_expiry) then
      next_expiry = expiry
    end
  end
  dropLots(due)
  return lots, expired, next_expiry
end

-- Remember what expired of each lot (KEY.expired_lots): a refund or reversal of the purchase that
-- awarded it then does not take it back a second time (claw-back.lua). Node names only lots
-- that expired within ARG.expired_kept_ms (hot/original.ts awardLotsArg), so older fields are
-- dead weight: dropped each time the hash grows past another 64 fields (one read of it per 64
-- lots remembered, not per expiry), and all of them with the key, ARG.expired_kept_ms after the
-- contact's last expiry.
local function rememberExpired(lots)
  local before = redis.call('HLEN', KEY.expired_lots)
  for _, lot in ipairs(lots) do redis.call('HINCRBY', KEY.expired_lots, lot[1], lot[2]) end
  local after = redis.call('HLEN', KEY.expired_lots)
  if math.floor(after / 64) > math.floor(before / 64) then
    local old = {}
    for _, field in ipairs(redis.call('HKEYS', KEY.expired_lots)) do
      if expiryOf(field) < NOW - ARG.expired_kept_ms then old[#old + 1] = field end
    end
    for first = 1, #old, LOTS_WRITE_BATCH do
      redis.call('HDEL', KEY.expired_lots, unpack(old, first, math.min(first + LOTS_WRITE_BATCH - 1, #old)))
    end
  end
  redis.call('PEXPIRE', KEY.expired_lots, ARG.expired_kept_ms)
end

local lots, expired, next_expiry = dueLots()
if next_expiry == nil then redis.call('ZREM', KEY.expiry, ARG.contact_id) else redis.call('ZADD', KEY.expiry, next_expiry, ARG.contact_id) end
if expired == 0 then return {'empty'} end
rememberExpired(lots)

redis.call('HINCRBY', KEY.contact, 'm', -expired)
return commit({amount = int(expired), postings = posting(ARG.accounts.commerce, ARG.accounts.rewards, expired)}, recordOf('x', expired))
