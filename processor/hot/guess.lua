-- A wallet or contact code's guess, counted before the code is looked up and given back if it
-- was right. The code lives in the CIM index, in another Cluster slot than the counters, so the
-- check and the lookup cannot be one script: counting first keeps the limit exact when many
-- guesses arrive at once (a check, then a count after the lookup, let every concurrent guess
-- pass the check). The gateway sends this and the lookup together: one wait for Redis.
--
-- Keys and arguments: hot/guess.ts.

if ARG.mode == 'give_back' then
  for i = 1, #KEY.counters do
    if tonumber(redis.call('GET', KEY.counters[i]) or '0') > 0 then redis.call('DECR', KEY.counters[i]) end
  end
  return {'given_back'}
end
local limited = guessLimits()
if limited == 'hard' then return {'rate_limited'} end
countGuess()
return {'reserved', limited == 'soft' and 1 or 0}
