-- A spend: debit the open balance, never below zero, by OTP or wallet code.
--
-- KEYS[6] the contact's OTP hash
-- ARGV[10] amount   ARGV[11] method ('otp'|'wallet')   ARGV[12] OTP   ARGV[13] record fields
-- ('name=value;')

local refused = prologue()
if refused then return refused end

local amount = tonumber(ARGV[10])
local why = spendRefusal(amount, ARGV[11], ARGV[12], KEYS[6])
if why then return {'refused', why} end
spendApply(amount, ARGV[11], ARGV[12], KEYS[6])

local record = {}
for name, value in string.gmatch(ARGV[13], '([%w_]+)=([^;]*);') do
  record[#record + 1] = name
  record[#record + 1] = value
end
return commit({}, record)
