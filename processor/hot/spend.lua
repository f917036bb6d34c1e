-- A spend: debit the open balance, never below zero, by OTP or wallet code.
--
-- KEYS[8] the contact's OTP hash
-- ARGV[10] amount   ARGV[11] method ('otp'|'wallet')   ARGV[12] OTP   ARGV[13] contribution fee

local refused = prologue()
if refused then return refused end

local amount = tonumber(ARGV[10])
local why = spendRefusal(amount, ARGV[11], ARGV[12], KEYS[8])
if why then return {'refused', why} end
spendApply(amount, ARGV[11], ARGV[12], KEYS[8])

return commit({}, recordOf('s', amount, 0, 0, 0, tonumber(ARGV[13])))
