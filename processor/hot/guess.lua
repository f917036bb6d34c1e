-- A wallet or contact code's guess, counted before the code is looked up and given back if it
-- was right. The code lives in the CIM index, in another Cluster slot than the counters, so the
-- check and the lookup cannot be one script: counting first keeps the limit exact when many
-- guesses arrive at once (a check, then a count after the lookup, let every concurrent guess
-- pass the check). The gateway sends this and the lookup together: one wait for Redis.
--
-- Keys and arguments: hot/guess.ts.

if ARG.mode == 'give_back' then
  -- Never below zero; a counter back at zero is deleted: only wrong guesses keep a key.
  for i = 1, #KEY.counters do
    local n = tonumber(redis.call('GET', KEY.counters[i]) or '0')
    if n == 1 then redis.call('DEL', KEY.counters[i]) elseif n > 1 then redis.call('DECR', KEY.counters[i]) end
  end
  return {'given_back'}
end
local limited = guessLimits()
if limited == 'hard' then return {'rate_limited'} end
countGuess()
return {'reserved', limited == 'soft' and 1 or 0}
