-- An OTP as a terminal sends it: the contact whose live code it is, counting a wrong code against
-- the terminal, atomically with the check of that count. A check before the lookup and a count
-- after it (two commands) let every guess sent at once pass the check: a thousand concurrent
-- guesses were a thousand tries, not otp_failures_max.
--
-- Keys and arguments: hot/otp.ts (KEY.code the code's index entry, KEY.failures the terminal's
-- wrong codes this minute).

if tonumber(redis.call('GET', KEY.failures) or '0') >= ARG.failures_max then return {'rate_limited'} end
local contact_id = redis.call('GET', KEY.code)
if contact_id then return {'ok', contact_id} end
redis.call('INCR', KEY.failures)
redis.call('EXPIRE', KEY.failures, ARG.failures_ttl_s)
return {'otp_invalid'}
