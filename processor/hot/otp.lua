-- An OTP as a terminal sends it: the contact whose live code it is, counting a wrong code against
-- the terminal, atomically with the check of that count. A check before the lookup and a count
-- after it (two commands) let every guess sent at once pass the check: a thousand concurrent
-- guesses were a thousand tries, not otp_failures_max.
--
-- KEYS[1] the code's index entry   KEYS[2] the terminal's wrong codes this minute
-- ARGV[1] wrong codes allowed a minute   ARGV[2] ttl of the count (s)

if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[1]) then return {'rate_limited'} end
local contact_id = redis.call('GET', KEYS[1])
if contact_id then return {'ok', contact_id} end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {'otp_invalid'}
