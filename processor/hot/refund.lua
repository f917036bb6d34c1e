-- A refund of part or all of a purchase: claw back its award in proportion (commerce first,
-- then open, then as commerce debt), return its wallet payment, contribution fee and discount
-- funding in proportion. The shares are computed here (refund-shares.lua) from the original's
-- record as this script reads it, atomically: concurrent refunds of one purchase each see what
-- the ones before took, so all that fit are approved, none retries, and their sum never exceeds
-- the original.
--
-- KEYS[6] the original's record
-- ARGV[10] refund amount ('' for what is left of the original)   ARGV[11] contact commerce
-- account   ARGV[12] contact open account   ARGV[13] rewards account   ARGV[14] the terminal's
-- spends account   ARGV[15] discounts account   ARGV[16] contribution fee accounts
-- 'debit|credit' ('' at the business's own venues)

local refused = prologue()
if refused then return refused end

local COMMERCE, OPEN, REWARDS, SPENDS, DISCOUNTS = ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15]
local o = redis.call('HMGET', KEYS[6], 'k', 'rv', 'id', 'a', 'w', 'ds', 'p', 'fee', 'rf', 'cw', 'dr', 'cp', 'fr')
if o[1] ~= 'purchase' or not o[3] then return {'refused', 'original_not_found'} end
if o[2] == '1' then return {'refused', 'already_reversed'} end
local function field(i) return tonumber(o[i] or '0') end
local s = {
  amount = field(4), awarded = field(5), discount = field(6), paid = field(7), fee = field(8),
  refunded = field(9), clawed = field(10), discount_returned = field(11), returned = field(12), fee_returned = field(13),
}
local amount = s.amount - s.refunded
if ARGV[10] ~= '' then amount = tonumber(ARGV[10]) end
local shares = refundShares(s, amount)
if not shares then return {'refused', 'amount_exceeds_original'} end

local from_commerce, from_open = clawBack(shares.claw)
local postings = ''
if shares.give > 0 then
  redis.call('HINCRBY', K_CONTACT, 'o', int(shares.give))
  postings = posting(SPENDS, OPEN, shares.give)
end
if shares.discount_back > 0 then postings = joinPostings(postings, posting(DISCOUNTS, REWARDS, shares.discount_back)) end
if shares.fee_back > 0 and ARGV[16] ~= '' then
  local bar = string.find(ARGV[16], '|', 1, true)
  postings = joinPostings(postings, posting(string.sub(ARGV[16], 1, bar - 1), string.sub(ARGV[16], bar + 1), shares.fee_back))
end
if from_commerce > 0 then postings = joinPostings(postings, posting(COMMERCE, REWARDS, from_commerce)) end
if from_open > 0 then postings = joinPostings(postings, posting(OPEN, REWARDS, from_open)) end
redis.call('HINCRBY', KEYS[6], 'rf', int(amount))
redis.call('HINCRBY', KEYS[6], 'cw', int(shares.claw))
redis.call('HINCRBY', KEYS[6], 'cp', int(shares.give))
redis.call('HINCRBY', KEYS[6], 'fr', int(shares.fee_back))
redis.call('HINCRBY', KEYS[6], 'dr', int(shares.discount_back))

return commit({
  original = o[3], amount = int(amount), clawed = int(shares.claw), returned = int(shares.give), postings = postings,
}, {'k', 'refund', 'a', int(amount)})
