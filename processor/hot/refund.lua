-- A refund of part or all of a purchase: return its wallet payment in proportion, then claw back
-- its award in proportion (commerce first, then open, then as commerce debt), and return its
-- contribution fee and discount funding in proportion. The shares are computed here (refund-shares.lua) from the original's
-- record and state as this script reads them, atomically: concurrent refunds of one purchase
-- each see what the ones before took, so all that fit are approved, none retries, and their sum
-- never exceeds the original.
--
-- The claw-back takes the purchase's own lots first, and what of the award's share had expired
-- already is not taken again (claw-back.lua): the reply's clawed_back is what left the wallet,
-- award_expired the rest of the share; the entry's lots what it took from which lot.
--
-- Keys and arguments: hot/refund.ts (amount nil: what is left of the original; KEY.originals
-- the original's record hashes, its reference's three periods; KEY.expired_lots the contact's
-- expired lots; ARG.ledger the original as the ledger has it, nil in the hot window;
-- ARG.award_lots the original's lots, nil until the script answers stale for want of them
-- (claw-back.lua ownLots);
-- accounts.fees '' at the business's own venues).

local refused = prologue()
if refused then return refused end

local A = ARG.accounts
local ledger = ARG.ledger
local o = originalOf(KEY.originals, ARG.original_field, ledger and ledger.original)
if not o or o.kind ~= 'purchase' then return refuse('original_not_found') end
local state_key = stateKeyOf(o.id)
local st = originalState(state_key, ledger and ledger.state)
if st.reversed then return refuse('already_reversed') end
local fee_whole, fee_rem = feeParts(feeBaseOf(o, ARG.fee_on), ARG.fee_bp)
local s = {
  amount = o.amount, awarded = o.awarded, discount = o.discount, paid = o.paid, fee_whole = fee_whole, fee_rem = fee_rem,
  refunded = st.refunded, clawed = st.clawed, returned = st.returned, discount_returned = st.discount_returned,
}
local amount = ARG.amount or s.amount - s.refunded
local shares = refundShares(s, amount)
if not shares then return refuse('amount_exceeds_original') end

local own = ownLots(o, shares.claw)
if own == nil then return {'stale'} end
-- Its wallet payment's share back before the claw-back, which then finds it there (see
-- reversal.lua), commerce debt first (lib.lua backToOpen).
local postings = backToOpen(shares.give, A.spends, A.open, A.commerce)
local from_commerce, from_open, lots, expired, owed, instead = clawBack(o, shares.claw, s.refunded, s.refunded + amount, own)
if shares.discount_back > 0 then postings = joinPostings(postings, posting(A.discounts, A.rewards, shares.discount_back)) end
local fee_back = returnFee(KEY.fee_carries, A.fees, shares.fee_back, shares.fee_rem_back)
if fee_back > 0 then postings = joinPostings(postings, posting(A.fee_income, A.fees, fee_back)) end
if from_commerce > 0 then postings = joinPostings(postings, posting(A.commerce, A.rewards, from_commerce)) end
if from_open > 0 then postings = joinPostings(postings, posting(A.open, A.rewards, from_open)) end
redis.call('HINCRBY', state_key, 'rf', int(amount))
redis.call('HINCRBY', state_key, 'cw', int(shares.claw))
redis.call('HINCRBY', state_key, 'cp', int(shares.give))
redis.call('HINCRBY', state_key, 'dr', int(shares.discount_back))
-- Only when it did (most claw-backs find commerce enough): a reversal takes back what of the
-- purchase's instant awards refunds left in open (reversal.lua).
if from_open > 0 then redis.call('HINCRBY', state_key, 'co', int(from_open)) end
redis.call('PEXPIRE', state_key, ARG.record_ttl_ms)

return commit({
  original = o.id, amount = int(amount), clawed = int(shares.claw - expired), expired = int(expired), returned = int(shares.give), postings = postings, lots = lots, owed = int(owed), instead = instead,
}, recordOf('f', amount))
