-- A purchase: awards into commerce lots (or open, for instant_redeem awards) and, with `pay`, a
-- spend from the open balance, atomically with the journal entry and the stored reply.
--
-- KEYS[6] the contact's OTP hash
-- ARGV[10] award to open   ARGV[11] pay amount (0: none)   ARGV[12] pay method ('otp'|'wallet'|'')
-- ARGV[13] OTP   ARGV[14] record fields (k, a, w, p, ds, fee) as 'name=value;'
-- ARGV[15..] commerce awards as pairs: lot field, amount

local refused = prologue()
if refused then return refused end

local pay = tonumber(ARGV[11])
if pay > 0 then
  local why = spendRefusal(pay, ARGV[12], ARGV[13], KEYS[6])
  if why then return {'refused', why} end
  spendApply(pay, ARGV[12], ARGV[13], KEYS[6])
end

for i = 15, #ARGV, 2 do awardCommerce(tonumber(ARGV[i + 1]), ARGV[i]) end
local to_open = tonumber(ARGV[10])
if to_open > 0 then redis.call('HINCRBY', K_CONTACT, 'o', to_open) end

local record = {}
for name, value in string.gmatch(ARGV[14], '([%w_]+)=([^;]*);') do
  record[#record + 1] = name
  record[#record + 1] = value
end
return commit({}, record)
