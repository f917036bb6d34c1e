-- An offer's budget (KEY.used: what it has awarded, or holds reserved, so far). One offer's keys
-- only, so it runs on a Redis Cluster as on one Redis.
--
-- 'reserve' ARG.amount of budget ARG.budget: answers what was granted, the whole amount, what is
-- left, or 0; or -1 ('busy') when the budget falls short only for amounts other purchases hold
-- reserved now (KEY.pending: reserved and not yet settled, by the second they were reserved in,
-- the last pending_window_s seconds read, and pending_ahead_s after). Those may all come back (a per-contact cap, a guard or
-- a refusal in their shard scripts): the gateway asks again once they settle, then with
-- ARG.final 1, which grants what is left whatever is pending. Until 2026-12-05 a budget that ran
-- out under concurrency gave out less than it held (4,400 of 5,000 with a per-contact cap of 3:
-- reservations given back after other purchases had been refused; a black-box probe).
-- 'settle' a reservation of second ARG.at_s: gives back ARG.give_back of KEY.used, and takes
-- ARG.clear out of what is pending (the amount reserved, kept or given back). A reservation
-- never settled (its gateway died) stops counting as pending after pending_window_s: spent,
-- never over-awarded. Keys and arguments: hot/budget.ts.
--
-- A spell of busy answers ends after busy_spell_ms (below): then every ask is granted what is left.

local pending_window_s = 10
-- Seconds after the asker's own read too: a purchase asks again with the second it began in, and
-- gateways' clocks differ; reservations made since in a later second are pending all the same.
-- Read only the window before, a reservation made in the next second went unseen and its
-- give-back came after the asker had been granted nothing (test/budget-exact.test.ts, 1 run in 15).
local pending_ahead_s = 5

if ARG.mode == 'settle' then
  if ARG.give_back > 0 then redis.call('DECRBY', KEY.used, ARG.give_back) end
  if ARG.clear > 0 then
    local field = tostring(ARG.at_s)
    if redis.call('HEXISTS', KEY.pending, field) == 1 and redis.call('HINCRBY', KEY.pending, field, -ARG.clear) <= 0 then
      redis.call('HDEL', KEY.pending, field)
    end
  end
  return 0
end

-- Whether reservations are pending in the window of the asker's second.
local function pendingNow()
  local fields = {}
  for s = ARG.at_s - pending_window_s + 1, ARG.at_s + pending_ahead_s do fields[#fields + 1] = tostring(s) end
  for _, v in ipairs(redis.call('HMGET', KEY.pending, unpack(fields))) do
    if v and tonumber(v) > 0 then return true end
  end
  return false
end

-- A spell of busy answers (KEY.busy: since, last; ARG.now_ms the asker's clock) lasts at most
-- busy_spell_ms, as long as one purchase asks (awards.ts: about 2 s); past it, and until no busy
-- answer has been given for busy_quiet_ms, every ask takes what is left at once, as a final one.
-- A burst settles within it, and is given out exactly as before; but a budget at its end while
-- reversals keep giving some of it back is reserved again at once and held pending nearly all
-- the time: every purchase of the offer was busy for its whole 2 s, 135–170 purchases/s and p50
-- 2.2 s against about 950/s (a probe, 2026-12-06). What a refused reservation gives back during
-- the spell's tail goes to the next ask.
local busy_spell_ms = 2000
local busy_quiet_ms = 1000
local function spellOver()
  local spell = redis.call('HMGET', KEY.busy, 'since', 'last')
  local since, last = tonumber(spell[1]), tonumber(spell[2])
  if since == nil or last == nil or ARG.now_ms - last > busy_quiet_ms then since = ARG.now_ms end
  redis.call('HSET', KEY.busy, 'since', string.format('%d', since), 'last', string.format('%d', math.max(ARG.now_ms, last or 0)))
  redis.call('PEXPIRE', KEY.busy, busy_spell_ms + busy_quiet_ms)
  return ARG.now_ms - since >= busy_spell_ms
end

local used = tonumber(redis.call('GET', KEY.used) or '0')
local grant = math.min(ARG.amount, ARG.budget - used)
if grant < ARG.amount and ARG.final == 0 and pendingNow() and not spellOver() then return -1 end
if grant <= 0 then return 0 end
redis.call('INCRBY', KEY.used, grant)
local field = tostring(ARG.at_s)
redis.call('HINCRBY', KEY.pending, field, grant)
-- Seconds past the window are dropped as the window moves on (a few at a time: bounded), and the
-- whole hash with the last reservation's: only reservations in flight keep it.
local stale = {}
for s = ARG.at_s - pending_window_s - 4, ARG.at_s - pending_window_s do stale[#stale + 1] = tostring(s) end
redis.call('HDEL', KEY.pending, unpack(stale))
redis.call('EXPIRE', KEY.pending, pending_window_s + 1)
return grant
