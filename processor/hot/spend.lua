-- A spend: debit the open balance, never below zero, by OTP or wallet code.
--
-- Keys and arguments: hot/spend.ts.

local refused = prologue()
if refused then return refused end

local amount = ARG.amount
local why = spendRefusal(amount, ARG.method, ARG.otp, KEY.otp)
if why then return refuse(why) end
spendApply(amount, ARG.method, ARG.otp, KEY.otp)

local A = ARG.accounts
local postings = posting(A.open, A.spends, amount)
local fee = chargeFee(KEY.fee_carries, A.fees, feeParts(amount, ARG.fee_bp))
if fee > 0 then postings = joinPostings(postings, posting(A.fees, A.fee_income, fee)) end
return commit({postings = postings}, recordOf('s', amount))
