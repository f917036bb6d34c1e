-- A refund of part or all of a purchase: claw back its award in proportion (commerce first,
-- then open, then as commerce debt), return its wallet payment, contribution fee and discount
-- funding in proportion. The shares are computed here (refund-shares.lua) from the original's
-- record and state as this script reads them, atomically: concurrent refunds of one purchase
-- each see what the ones before took, so all that fit are approved, none retries, and their sum
-- never exceeds the original.
--
-- KEYS[8..10] the original's record hashes (its reference's three periods)
-- ARGV[10] refund amount ('' for what is left of the original)   ARGV[11] contact commerce
-- account   ARGV[12] contact open account   ARGV[13] rewards account   ARGV[14] the terminal's
-- spends account   ARGV[15] discounts account   ARGV[16] contribution fee accounts
-- 'debit|credit' ('' at the business's own venues)   ARGV[17] the original's record field
-- ARGV[18..20] the original, its state and lots as the ledger has them ('' in the hot window)

local refused = prologue()
if refused then return refused end

local COMMERCE, OPEN, REWARDS, SPENDS, DISCOUNTS = ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15]
local o = originalOf(8, ARGV[17], ARGV[18])
if not o or o.kind ~= 'purchase' then return {'refused', 'original_not_found'} end
local state_key = stateKeyOf(o.id)
local st = originalState(state_key, ARGV[19])
if st[6] == '1' then return {'refused', 'already_reversed'} end
local function field(i) return tonumber(st[i] ~= false and st[i] ~= '' and st[i] or '0') end
local s = {
  amount = o.amount, awarded = o.awarded, discount = o.discount, paid = o.paid, fee = o.fee,
  refunded = field(1), clawed = field(2), returned = field(3), fee_returned = field(4), discount_returned = field(5),
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
redis.call('HINCRBY', state_key, 'rf', int(amount))
redis.call('HINCRBY', state_key, 'cw', int(shares.claw))
redis.call('HINCRBY', state_key, 'cp', int(shares.give))
redis.call('HINCRBY', state_key, 'fr', int(shares.fee_back))
redis.call('HINCRBY', state_key, 'dr', int(shares.discount_back))
redis.call('PEXPIRE', state_key, ARGV[5])

return commit({
  original = o.id, amount = int(amount), clawed = int(shares.claw), returned = int(shares.give), postings = postings,
}, recordOf('f', amount))
