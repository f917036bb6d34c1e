-- A spend: debit the open balance, never below zero, by OTP or wallet code.
--
-- Keys and arguments: hot/spend.ts.

local refused = prologue()
if refused then return refused end

local amount = ARG.amount
local why = spendRefusal(amount, ARG.method, ARG.otp, KEY.otp)
if why then return refuse(why) end
spendApply(amount, ARG.method, ARG.otp, KEY.otp)

return commit({}, recordOf('s', amount, 0, 0, 0, ARG.fee))
