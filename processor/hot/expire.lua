-- Expire a contact's commerce lots whose expiry has passed: out of the commerce balance, back to
-- the business's rewards account, as an `expiry` transaction in the journal like any other.
-- Keeps the shard's expiry index pointing at the contact's next expiry (or drops the contact).
--
-- KEYS[8] the shard's expiry index
-- ARGV[10] contact id   ARGV[11] contact commerce account   ARGV[12] rewards account

local refused = prologue()
if refused then return refused end

local flat = redis.call('HGETALL', K_LOTS)
local expired, next_expiry = 0, nil
for i = 1, #flat, 2 do
  local expiry = tonumber(string.sub(flat[i], 1, 13))
  if expiry <= NOW then
    expired = expired + tonumber(flat[i + 1])
    redis.call('HDEL', K_LOTS, flat[i])
  elseif expiry < 9999999999999 and (next_expiry == nil or expiry < next_expiry) then
    next_expiry = expiry
  end
end
if next_expiry == nil then redis.call('ZREM', KEYS[8], ARGV[10]) else redis.call('ZADD', KEYS[8], next_expiry, ARGV[10]) end
if expired == 0 then return {'empty'} end

redis.call('HINCRBY', K_CONTACT, 'm', -expired)
return commit({amount = int(expired), postings = posting(ARGV[11], ARGV[12], expired)}, recordOf('x', expired))
