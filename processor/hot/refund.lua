-- A refund of part or all of a purchase: claw back its award in proportion (commerce first,
-- then open, then as commerce debt) and return its wallet payment in proportion. Node computed
-- the amounts from the original's state as it read it; the state's refunded total is checked
-- here so that two refunds racing cannot both use the same reading.
--
-- KEYS[8] the original's state (refunded so far, reversed)
-- ARGV[10] refunded total Node read   ARGV[11] refund amount   ARGV[12] award to claw back now
-- ARGV[13] payment to return now   ARGV[14] contact commerce account   ARGV[15] contact open
-- account   ARGV[16] rewards account   ARGV[17] postings Node knows (JSON fragment)
-- ARGV[18] contribution fee to give back now   ARGV[19] discount funding to give back now
-- ARGV[20] the original's amount   ARGV[21] the original's state as the ledger has it ('' if
-- the hot path has it; see originalState)

local refused = prologue()
if refused then return refused end

local o = originalState(KEYS[8], ARGV[21])
if o[6] == '1' then return {'refused', 'already_reversed'} end
if (o[1] or '') ~= ARGV[10] then return {'retry'} end
local amount = tonumber(ARGV[11])
if amount <= 0 or tonumber(o[1] or '0') + amount > tonumber(ARGV[20]) then return {'refused', 'amount_exceeds_original'} end

local claw, give = tonumber(ARGV[12]), tonumber(ARGV[13])
local from_commerce, from_open = clawBack(claw)
if give > 0 then redis.call('HINCRBY', K_CONTACT, 'o', give) end
redis.call('HINCRBY', KEYS[8], 'rf', amount)
redis.call('HINCRBY', KEYS[8], 'cw', claw)
redis.call('HINCRBY', KEYS[8], 'cp', give)
redis.call('HINCRBY', KEYS[8], 'fr', tonumber(ARGV[18]))
redis.call('HINCRBY', KEYS[8], 'dr', tonumber(ARGV[19]))
redis.call('PEXPIRE', KEYS[8], ARGV[5])

local postings = ARGV[17]
if from_commerce > 0 then postings = joinPostings(postings, posting(ARGV[14], ARGV[16], from_commerce)) end
if from_open > 0 then postings = joinPostings(postings, posting(ARGV[15], ARGV[16], from_open)) end
return commit({clawed = int(claw), returned = int(give), postings = postings}, recordOf('f', amount))
