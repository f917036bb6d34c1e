-- Counters of wrong guesses (core/guesses.ts): KEY.counters, and ARG.limits beside them
-- ({max, ttl_s, hard} each). Shared by guess.lua and otp.lua.

-- 'hard' when a hard limit is reached (every guess refused), 'soft' when only the soft one is
-- (a wrong guess is answered rate_limited, a right one passes), else nil.
local function guessLimits()
  local soft = nil
  for i, limit in ipairs(ARG.limits) do
    if tonumber(redis.call('GET', KEY.counters[i]) or '0') >= limit.max then
      if limit.hard == 1 then return 'hard' end
      soft = 'soft'
    end
  end
  return soft
end

-- One wrong guess more in every counter; a counter made now lives past its window (ttl_s).
local function countGuess()
  for i, limit in ipairs(ARG.limits) do
    if redis.call('INCR', KEY.counters[i]) == 1 then redis.call('EXPIRE', KEY.counters[i], limit.ttl_s) end
  end
end
