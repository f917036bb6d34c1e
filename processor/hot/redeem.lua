-- A redemption: commerce lots into the open balance, earliest expiry first, only lots whose pool
-- the terminal's merchant may redeem.
--
-- ARGV[10] amount ('' for everything eligible)   ARGV[11] merchant code ('' at the business's own
-- venues)   ARGV[12] contact commerce account   ARGV[13] contact open account
-- KEYS[8] this redemption's state (the lots it took, for its reversal)

local refused = prologue()
if refused then return refused end

local open, commerce = balances()
local lots = eligibleLots(ARGV[11])
local eligible = 0
for _, lot in ipairs(lots) do eligible = eligible + lot[2] end
-- Commerce debt (from claw-backs) is owed before anything can be redeemed.
if eligible > commerce then eligible = math.max(commerce, 0) end
local want = eligible
if ARGV[10] ~= '' then want = tonumber(ARGV[10]) end
if want <= 0 or want > eligible then return {'refused', 'insufficient_funds'} end

local taken, from = takeLots(lots, want)
redis.call('HINCRBY', K_CONTACT, 'm', -taken)
redis.call('HINCRBY', K_CONTACT, 'o', taken)
local lots = lotsJson(from)
redis.call('HSET', KEYS[8], 'lots', lots)
redis.call('PEXPIRE', KEYS[8], ARGV[5])
return commit({redeemed = int(taken), lots = lots, postings = posting(ARGV[12], ARGV[13], taken)}, recordOf('r', taken))
