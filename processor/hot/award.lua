-- An award outside a purchase: sign-up offers when a contact is created or joins a scheme, and
-- the referrer's award on the referred contact's first purchase. Once per reference (the record
-- key), with the same guards and caps as a purchase's awards.
--
-- KEYS[8] the contact's cap counters   KEYS[9] the shard's expiry index
-- ARGV[10] number of awards, then 9 each (see applyAwards)

local refused = prologue()
if refused then return refused end

local awards, cashback, discount, postings, accepted = applyAwards(11, tonumber(ARGV[10]), KEYS[8], KEYS[9])
-- Every award refused by its guard or cap: nothing to record.
if accepted == '' then return {'empty'} end
local answer = commit({awards = awards, amount = int(cashback), postings = postings}, recordOf('a', cashback, cashback))
answer[4] = ''
answer[5] = accepted
return answer
