-- A redemption: commerce lots into the open balance, earliest expiry first, only lots whose pool
-- the terminal's merchant may redeem.
--
-- Keys and arguments: hot/redeem.ts (amount nil: everything eligible; merchant_code '' at the
-- business's own venues; restricted_pools: the pools that redeem only at their merchant;
-- KEY.state: this redemption's state, the lots it took, for its reversal).

local refused = prologue()
if refused then return refused end

local open, commerce = balances()
local restricted = {}
for _, r in ipairs(ARG.restricted_pools) do restricted[r.pool] = true end
local lots = eligibleLots(ARG.merchant_code, restricted)
local eligible = 0
for _, lot in ipairs(lots) do eligible = eligible + lot[2] end
-- Commerce debt (from claw-backs) is owed before anything can be redeemed.
if eligible > commerce then eligible = math.max(commerce, 0) end
local want = ARG.amount or eligible
if want <= 0 or want > eligible then return refuse('insufficient_funds') end

local taken, from = takeLots(lots, want)
redis.call('HINCRBY', KEY.contact, 'm', -taken)
redis.call('HINCRBY', KEY.contact, 'o', taken)
local lots = lotsJson(from)
redis.call('HSET', KEY.state, 'lots', lots)
redis.call('PEXPIRE', KEY.state, ARG.record_ttl_ms)
return commit({redeemed = int(taken), lots = lots, postings = posting(ARG.accounts.commerce, ARG.accounts.open, taken)}, recordOf('r', taken))
