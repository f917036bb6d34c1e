-- A reversal: void a purchase, spend or redemption as if it never happened. The balance may go
-- negative here (the money was already used); debt in commerce is settled by later awards.
--
-- KEYS[6] the original's record
-- ARGV[10] refunded total Node read   ARGV[11] award to claw back (purchase)
-- ARGV[12] contact commerce account   ARGV[13] contact open account   ARGV[14] rewards account
-- ARGV[15] postings Node knows (JSON fragment)

local refused = prologue()
if refused then return refused end

local o = redis.call('HMGET', KEYS[6], 'k', 'rf', 'rv', 'a', 'p', 'cp', 'lots')
if not o[1] then
  -- Its reference is claimed but it is not recorded: the original is on its way (between its
  -- claim and its script: a slow original is when networks send reversals) or was refused. Mark
  -- it reversed, so that it is refused when its script runs, as an original that arrives after
  -- its reversal is; without the mark it was approved after this answer said it was not there.
  redis.call('HSET', KEYS[6], 'rv', '1')
  redis.call('EXPIRE', KEYS[6], ARGV[5])
  return {'refused', 'original_not_found'}
end
if o[3] == '1' then return {'refused', 'already_reversed'} end
if (o[2] or '') ~= ARGV[10] then return {'retry'} end

local postings = ARGV[15]
local kind = o[1]
if kind == 'purchase' then
  local from_commerce, from_open = clawBack(tonumber(ARGV[11]))
  local give = tonumber(o[5] or '0') - tonumber(o[6] or '0')
  if give > 0 then redis.call('HINCRBY', K_CONTACT, 'o', give) end
  if from_commerce > 0 then postings = joinPostings(postings, posting(ARGV[12], ARGV[14], from_commerce)) end
  if from_open > 0 then postings = joinPostings(postings, posting(ARGV[13], ARGV[14], from_open)) end
elseif kind == 'spend' then
  redis.call('HINCRBY', K_CONTACT, 'o', tonumber(o[4]))
elseif kind == 'redemption' then
  -- Back into the very lots it came from, with their expiry and pool.
  for _, lot in ipairs(cjson.decode(o[7])) do redis.call('HINCRBY', K_LOTS, lot[1], lot[2]) end
  redis.call('HINCRBY', K_CONTACT, 'm', tonumber(o[4]))
  redis.call('HINCRBY', K_CONTACT, 'o', -tonumber(o[4]))
else
  return {'refused', 'original_not_found'}
end
redis.call('HSET', KEYS[6], 'rv', '1')
return commit({postings = postings}, {'k', 'reversal'})
