-- An OTP as a terminal presents it, atomically with the count of wrong ones (a check before the
-- lookup and a count after it, two commands, let every guess sent at once pass the check).
--   'alone' (a spend): the code names the contact; it is a guess at every live OTP of the
--     business, checked against the terminal's and source's limits (core/guesses.ts).
--   'for' (a purchase paying by OTP): the purchase names the contact; a wrong code is a try
--     against that contact's OTPs, which die after ARG.tries_max of them (KEY.tries). Never
--     refused for what others guessed at the terminal: the tries bound the odds.
-- Answers {'ok', contact_id}, {'rate_limited'} ({'rate_limited', 'counted'} for a wrong code
-- counted past the soft limit), {'otp_invalid'}, or {'otp_invalid', 'void'} when the contact's
-- OTPs have just run out of tries (the gateway deletes them).
--
-- Keys and arguments: hot/otp.ts.

local function wrongTry()
  countGuess()
  local tries = redis.call('INCR', KEY.tries)
  if tries == 1 then redis.call('EXPIRE', KEY.tries, ARG.tries_ttl_s) end
  if tries >= ARG.tries_max then return {'otp_invalid', 'void'} end
  return {'otp_invalid'}
end

if ARG.mode == 'alone' then
  local limited = guessLimits()
  if limited == 'hard' then return {'rate_limited'} end
  local contact_id = redis.call('GET', KEY.code)
  if contact_id then return {'ok', contact_id} end
  countGuess()
  if limited == 'soft' then return {'rate_limited', 'counted'} end
  return {'otp_invalid'}
end
if tonumber(redis.call('GET', KEY.tries) or '0') >= ARG.tries_max then return {'otp_invalid'} end
if redis.call('GET', KEY.code) == ARG.contact_id then return {'ok', ARG.contact_id} end
return wrongTry()
