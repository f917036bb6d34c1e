-- What of a claw-back had expired already (refund.lua, reversal.lua): the contact's expired lots
-- (KEY.expired_lots, written by expire.lua) against the lots of the purchase clawed back
-- (ARG.award_lots, Node's reading of its journal entry or ledger row).

-- Write off up to `want` of the original's lots (`lots`: {field, amount} of its commerce awards)
-- past their expiry, since `remembered_from_ms` (older ones are forgotten, hot/original.ts
-- AwardLots): what the expiry took out of each and no claw-back wrote off yet
-- (KEY.expired_lots, expire.lua). A claw-back does not take that again: it left the wallet at its
-- expiry, as it would have had the purchase never happened. Returns the amount written off.
local function writeOffExpired(lots, want, remembered_from_ms)
  local written = 0
  for _, lot in ipairs(lots) do
    if written >= want then break end
    local expiry = expiryOf(lot[1])
    if expiry <= NOW and expiry >= remembered_from_ms then
      local left = tonumber(redis.call('HGET', KEY.expired_lots, lot[1]) or '0')
      local take = math.min(lot[2], left, want - written)
      if take > 0 then
        if take == left then redis.call('HDEL', KEY.expired_lots, lot[1]) else redis.call('HINCRBY', KEY.expired_lots, lot[1], -take) end
        written = written + take
      end
    end
  end
  return written
end

-- What of the claw-back `claw` of purchase `o` had expired already, written off; nil when Node
-- must name the purchase's lots first (ARG.award_lots, read from its journal entry or ledger
-- row: the record keeps amounts only), which only a contact with expired lots remembered needs.
-- In proportion, as the claw-back is (API.md): of what expired of the purchase's award (what its
-- claw-backs wrote off before, `written`, its state's xw, and what its lots still find
-- remembered), the share of the purchase refunded once this claw-back is made, `after` of
-- o.amount (a reversal: all of it), less what was written off before.
local function expiredOfClaw(o, claw, written, after)
  if claw <= 0 or redis.call('EXISTS', KEY.expired_lots) == 0 then return 0 end
  local given = ARG.award_lots
  if given == nil or given.original ~= o.id then return nil end
  local held, remembered = 0, 0
  for _, lot in ipairs(given.lots) do
    held = held + lot[2]
    local expiry = expiryOf(lot[1])
    if expiry <= NOW and expiry >= given.remembered_from_ms then
      remembered = remembered + math.min(lot[2], tonumber(redis.call('HGET', KEY.expired_lots, lot[1]) or '0'))
    end
  end
  local expired = math.min(written + remembered, held)
  local want = math.min(claw, math.floor(expired * after / o.amount) - written)
  if want <= 0 then return 0 end
  return writeOffExpired(given.lots, want, given.remembered_from_ms)
end
