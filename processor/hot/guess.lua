-- A wallet or contact code's guess. The code lives in the CIM index, in another Cluster slot
-- than the counters, so the check and the lookup cannot be one script. The gateway sends the
-- reservation with the lookup (one wait for Redis), then settles it, without waiting for the
-- answer: 'right' releases it, 'wrong' counts it. One connection runs its commands in order, so
-- the terminal's next guess through this gateway finds it settled.
--
-- Exact under concurrency without counting right codes: a guess is admitted only while the
-- wrong guesses counted (KEY.counters) plus those being looked up now (KEY.pending, beside each)
-- stay under each hard limit, so guesses sent at once are never tried past it. A guess that
-- would overfill a hard limit only with pending ones is answered 'busy', not refused: those may
-- all be right (a till's burst of genuine codes), and the gateway asks again once they settle.
-- The soft limit counts pending guesses too: past it a wrong code is answered 429 (a right one
-- still passes), as when every guess was counted first. Until 2026-12-04 every guess was
-- counted before its lookup and given back if right, so a burst of over 100 right codes at one
-- terminal was refused 429 (a black-box probe).
--
-- Modes: 'reserve' → {'reserved', soft} | {'busy'} | {'rate_limited'} (a hard limit reached by
-- wrong guesses: every guess refused; soft 1: past the soft limit, a wrong code is answered
-- 429); 'right' → {'released'}; 'wrong' → {'counted'}; 'give_back' (a wrong guess counted, given
-- back: a spend's retry whose code is gone since) → {'given_back'}.
--
-- Keys and arguments: hot/guess.ts.

-- One less in `key`, never below zero; a key back at zero is deleted: only live counts keep one.
local function decrement(key)
  local n = tonumber(redis.call('GET', key) or '0')
  if n == 1 then redis.call('DEL', key) elseif n > 1 then redis.call('DECR', key) end
end

local function release()
  for i = 1, #KEY.pending do decrement(KEY.pending[i]) end
end

if ARG.mode == 'give_back' then
  for i = 1, #KEY.counters do decrement(KEY.counters[i]) end
  return {'given_back'}
end
if ARG.mode == 'right' then
  release()
  return {'released'}
end
if ARG.mode == 'wrong' then
  release()
  countGuess()
  return {'counted'}
end

if guessLimits() == 'hard' then return {'rate_limited'} end
local soft = 0
for i, limit in ipairs(ARG.limits) do
  local wrong = tonumber(redis.call('GET', KEY.counters[i]) or '0')
  local pending = tonumber(redis.call('GET', KEY.pending[i]) or '0')
  if wrong + pending >= limit.max then
    if limit.hard == 1 then return {'busy'} end
    soft = 1
  end
end
for i, limit in ipairs(ARG.limits) do
  if redis.call('INCR', KEY.pending[i]) == 1 then redis.call('EXPIRE', KEY.pending[i], limit.ttl_s) end
end
return {'reserved', soft}
