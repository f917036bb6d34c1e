-- A purchase: awards (checked against their guards and caps here, atomically) into commerce lots,
-- the open balance, or off the price, and, with `pay`, a spend from the open balance; with the
-- contact's purchase history, tier units, journal entry and stored reply.
--
-- KEYS[8] the contact's OTP hash   KEYS[9] the contact's cap counters   KEYS[10] the shard's
-- expiry index
-- ARGV[10] pay amount (0: none)   ARGV[11] pay method ('otp'|'wallet'|'')   ARGV[12] OTP
-- ARGV[13] purchase amount   ARGV[14] contribution fee bp on awards (0: none)
-- ARGV[15] fee accounts 'debit|credit'   ARGV[16] payment posting (JSON, '' without pay)
-- ARGV[17] discount accounts 'debit|credit'   ARGV[18] purchase time (ms)
-- ARGV[19] tier units   ARGV[20] tier periods (see addTierUnits)
-- ARGV[21] contribution fee on the payment   ARGV[22] number of awards, then 9 each
-- Returns commit's answer plus whether this was the contact's first purchase and the indexes of
-- the awards accepted.

local refused = prologue()
if refused then return refused end

local pay = tonumber(ARGV[10])
if pay > 0 then
  local why = spendRefusal(pay, ARGV[11], ARGV[12], KEYS[8])
  if why then return {'refused', why} end
  spendApply(pay, ARGV[11], ARGV[12], KEYS[8])
end

local awards, cashback, discount, postings, accepted, first, last_purchase = applyAwards(23, tonumber(ARGV[22]), KEYS[9], KEYS[10])
local amount = tonumber(ARGV[13])
-- Stacked discounts never take off more than the price.
if discount > amount then discount = amount end
if discount > 0 then
  local bar = string.find(ARGV[17], '|', 1, true)
  postings = joinPostings(posting(string.sub(ARGV[17], 1, bar - 1), string.sub(ARGV[17], bar + 1), discount), postings)
end
postings = joinPostings(postings, ARGV[16])
local fee = 0
if tonumber(ARGV[14]) > 0 then
  fee = applyBasisPoints(cashback + discount, tonumber(ARGV[14]))
  if fee > 0 then
    local bar = string.find(ARGV[15], '|', 1, true)
    postings = joinPostings(postings, posting(string.sub(ARGV[15], 1, bar - 1), string.sub(ARGV[15], bar + 1), fee))
  end
end

-- Purchase history for first-purchase, birthday and referral offers; tier units.
local at = tonumber(ARGV[18])
if at > last_purchase then
  redis.call('HSET', K_CONTACT, 'fp', '1', 'lp', ARGV[18])
elseif first then
  redis.call('HSET', K_CONTACT, 'fp', '1')
end
addTierUnits(tonumber(ARGV[19]), ARGV[20])

-- The fee: on the awards (settle_on award) or on the payment (settle_on spend), never both.
fee = fee + tonumber(ARGV[21])
local record = recordOf('p', amount, cashback, pay, discount, fee)
local answer = commit({awards = awards, discount = int(discount), due = int(amount - discount - pay), postings = postings}, record)
answer[4] = first and '1' or '0'
answer[5] = accepted
return answer
