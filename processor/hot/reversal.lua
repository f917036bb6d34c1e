-- A reversal: void a purchase, spend or redemption as if it never happened. The balance may go
-- negative here (the money was already used); debt in commerce is settled by later awards.
--
-- KEYS[8] the original's state (refunded so far, reversed; a redemption's lots)
-- KEYS[9..11] the original's record hashes (its reference's three periods)
-- ARGV[10] refunded total Node read   ARGV[11] award to claw back (purchase)
-- ARGV[12] contact commerce account   ARGV[13] contact open account   ARGV[14] rewards account
-- ARGV[15] postings Node knows (JSON fragment)   ARGV[16] the original's record field
-- ARGV[17] the original's kind ('' when Node found its claim but no record)
-- ARGV[18] the original's amount   ARGV[19] paid from the wallet (purchase)
-- ARGV[20] the original's state as the ledger has it ('' if the hot path has it)
-- ARGV[21] a redemption's lots as the ledger has them ('' if the hot path has them)

local refused = prologue()
if refused then return refused end

local kind = ARGV[17]
if kind == '' then
  local record = findRecord(9, ARGV[16])
  if record == nil then
    -- Its reference is claimed but it is not recorded: the original is on its way (between its
    -- claim and its script: a slow original is when networks send reversals) or was refused.
    -- Mark it reversed, so that it is refused when its script runs, as an original that arrives
    -- after its reversal is; without the mark it was approved after this answer said it was not
    -- there. Nothing is committed: a reversal of nothing has no entry.
    redis.call('HSET', KEYS[9], ARGV[16], '!')
    redis.call('PEXPIRE', KEYS[9], ARGV[5], 'NX')
    return {'refused', 'original_not_found'}
  end
  if record == '!' then return {'refused', 'original_not_found'} end
  -- Recorded since Node looked: read it again.
  return {'retry'}
end

local o = originalState(KEYS[8], ARGV[20])
if o[6] == '1' then return {'refused', 'already_reversed'} end
if (o[1] or '') ~= ARGV[10] then return {'retry'} end

local postings = ARGV[15]
local amount = tonumber(ARGV[18])
if kind == 'purchase' then
  local from_commerce, from_open = clawBack(tonumber(ARGV[11]))
  local give = tonumber(ARGV[19]) - tonumber(o[3] or '0')
  if give > 0 then redis.call('HINCRBY', K_CONTACT, 'o', give) end
  if from_commerce > 0 then postings = joinPostings(postings, posting(ARGV[12], ARGV[14], from_commerce)) end
  if from_open > 0 then postings = joinPostings(postings, posting(ARGV[13], ARGV[14], from_open)) end
elseif kind == 'spend' then
  redis.call('HINCRBY', K_CONTACT, 'o', amount)
elseif kind == 'redemption' then
  -- Back into the very lots it came from, with their expiry and pool.
  for _, lot in ipairs(cjson.decode(o[7] or (ARGV[21] ~= '' and ARGV[21]) or '[]')) do redis.call('HINCRBY', K_LOTS, lot[1], lot[2]) end
  redis.call('HINCRBY', K_CONTACT, 'm', amount)
  redis.call('HINCRBY', K_CONTACT, 'o', -amount)
else
  return {'refused', 'original_not_found'}
end
redis.call('HSET', KEYS[8], 'rv', '1')
redis.call('PEXPIRE', KEYS[8], ARGV[5])
return commit({postings = postings}, recordOf('v', amount))
