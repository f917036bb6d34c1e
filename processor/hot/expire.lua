-- Expire a contact's commerce lots whose expiry has passed: out of the commerce balance, back to
-- the business's rewards account, as an `expiry` transaction in the journal like any other.
-- Keeps the shard's expiry index pointing at the contact's next expiry (or drops the contact).
--
-- Keys and arguments: hot/expire.ts. Answers {'empty'} when no lot had expired.

local refused = prologue()
if refused then return refused end

local flat = redis.call('HGETALL', KEY.lots)
local expired, next_expiry = 0, nil
for i = 1, #flat, 2 do
  local expiry = tonumber(string.sub(flat[i], 1, 13))
  if expiry <= NOW then
    expired = expired + tonumber(flat[i + 1])
    redis.call('HDEL', KEY.lots, flat[i])
  elseif expiry < 9999999999999 and (next_expiry == nil or expiry < next_expiry) then
    next_expiry = expiry
  end
end
if next_expiry == nil then redis.call('ZREM', KEY.expiry, ARG.contact_id) else redis.call('ZADD', KEY.expiry, next_expiry, ARG.contact_id) end
if expired == 0 then return {'empty'} end

redis.call('HINCRBY', KEY.contact, 'm', -expired)
return commit({amount = int(expired), postings = posting(ARG.accounts.commerce, ARG.accounts.rewards, expired)}, recordOf('x', expired))
