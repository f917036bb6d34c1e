-- A purchase: awards (checked against their guards and caps here, atomically) into commerce lots,
-- the open balance, or off the price, and, with `pay`, a spend from the open balance; with the
-- contact's purchase history, tier units, journal entry and stored reply.
--
-- Keys and arguments: hot/purchase.ts. Answers commit's answer plus whether this was the
-- contact's first purchase (1 or 0) and the indexes of the awards accepted.

local refused = prologue()
if refused then return refused end

local A = ARG.accounts
local pay = ARG.pay
if pay > 0 then
  local why = spendRefusal(pay, ARG.pay_method, ARG.otp, KEY.otp)
  if why then return refuse(why) end
  spendApply(pay, ARG.pay_method, ARG.otp, KEY.otp)
end

local amount = ARG.amount
-- Stacked discounts never take off more than the price, nor more than what the wallet does not
-- pay: the payment was checked against the evaluation's discount, and a fallback award (the next
-- best of a group whose winner was refused) may be a larger instant discount. applyAwards makes
-- each discount for what is left of that room.
local awards, cashback, discount, postings, accepted, made, purchases, expired, to_open, settled = applyAwards(ARG.awards, KEY.caps, ARG.caps_kept, KEY.expiry, A, amount - pay, KEY.times)
local first = purchases <= 0
if discount > amount - pay then discount = amount - pay end
if discount > 0 then postings = joinPostings(posting(A.rewards, A.discounts, discount), postings) end
if pay > 0 then postings = joinPostings(postings, posting(A.open, A.spends, pay)) end
-- The fee: on the awards (settle_on award) or on the payment (settle_on spend), never both
-- (Node gives one of the two rates 0); refunds and reversals give it back from the record's
-- amounts (feeBaseOf).
local fee_whole, fee_rem = feeParts(cashback + discount, ARG.fee_bp)
if ARG.pay_fee_bp > 0 then fee_whole, fee_rem = feeParts(pay, ARG.pay_fee_bp) end
local fee = chargeFee(KEY.fee_carries, A.fees, fee_whole, fee_rem)
if fee > 0 then postings = joinPostings(postings, posting(A.fees, A.fee_income, fee)) end

-- Purchase history for first-purchase and referral offers; tier units. The purchases are
-- counted so that a reversal can give one back (reversal.lua). The birthday offers read their
-- own history (below): no latest purchase time is kept, nothing would read it.
redis.call('HSET', KEY.contact, 'fp', int(purchases + 1))
addTierUnits(ARG.tier_units, ARG.periods)
-- A purchase on the contact's birthday is kept by its time, for the birthday offers' "first
-- purchase of that day" (lib.lua applyAwards; a reversal takes it out), as long as a purchase may
-- be dated back (keys.ts purchase_times_kept_ms). Only on the birthday: that is the only day the
-- question is asked, and every purchase kept would cost Redis some 30 bytes for 37 days.
local birth = redis.call('HGET', KEY.contact, 'd')
if birth and #birth == 10 and string.find(ARG.birth_days, string.sub(birth, 6, 10), 1, true) then
  local times_kept_ms = 37 * 86400000
  redis.call('ZADD', KEY.times, ARG.at_ms, ARG.id)
  redis.call('ZREMRANGEBYSCORE', KEY.times, '-inf', '(' .. int(NOW - times_kept_ms))
  redis.call('PEXPIRE', KEY.times, times_kept_ms)
end
-- The referrer's award lives on another shard: its intent is kept here, with the purchase, and
-- leaves once the award is made (processor/referrals.ts). Only the first purchase refers, once:
-- the contact's referrer goes with it (HDEL rf), and `rd` says which purchase referred whom. A
-- reversal that leaves the contact no purchase undoes the referral (reversal.lua undoReferral):
-- the referrer's award is reversed and the referrer is the contact's again, for its next first
-- purchase, whose award has a reference of its own (`referral:<contact>:<purchase>`).
if first and ARG.referral ~= '' then
  redis.call('ZADD', KEY.referrals, NOW, ARG.referral)
  -- The intent's referrer (processor/referrals.ts encodeIntent: ids need no escaping), matched
  -- rather than decoded: nothing in it can fail the script after its writes.
  local referrer = string.match(ARG.referral, '"r":"([^"]+)"')
  if referrer then redis.call('HSET', KEY.contact, 'rd', ARG.id .. '|' .. referrer) end
  redis.call('HDEL', KEY.contact, 'rf')
end

-- What went into the open balance: a reversal takes it back from there (reversal.lua).
local record = recordOf('p', amount, cashback, pay, discount, 0, to_open)
local answer = commit({awards = awards, discount = int(discount), due = int(amount - discount - pay), postings = postings, settled = settledField(settled), expired_back = expired}, record)
answer[4] = first and 1 or 0
answer[5] = accepted
answer[6] = made
return answer
