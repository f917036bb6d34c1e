-- An award outside a purchase: sign-up offers when a contact is created or joins a scheme, and
-- the referrer's award on the referred contact's first purchase. Once per reference (the record
-- key), with the same guards and caps as a purchase's awards.
--
-- Keys and arguments: hot/award.ts. Answers commit's answer plus the indexes of the awards
-- accepted and what each was made for (cut to the wallet's room: lib.lua applyAwards), or
-- {'empty'} when every award was refused.

local refused = prologue()
if refused then return refused end

-- No price to take anything off: these awards are credits (core/offer.ts makeAward).
local awards, cashback, discount, postings, accepted, made, _, expired, to_open, settled = applyAwards(ARG.awards, KEY.caps, ARG.caps_kept, KEY.expiry, ARG.accounts, 0)
-- Every award refused by its guard or cap: nothing to record.
if #accepted == 0 then return {'empty'} end
-- What went into the open balance (instant_redeem), as a purchase's record keeps it: a referral
-- undone takes it back from there first (reversal.lua).
local answer = commit({awards = awards, amount = int(cashback), postings = postings, settled = settledField(settled), expired_back = expired}, recordOf('a', cashback, cashback, 0, 0, 0, to_open))
answer[4] = accepted
answer[5] = made
return answer
