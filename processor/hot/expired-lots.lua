-- What of a claw-back had expired already (refund.lua, reversal.lua): the contact's expired lots
-- (KEY.expired_lots, written by expire.lua) against the lots of the purchase clawed back
-- (ARG.award_lots, Node's reading of its journal entry or ledger row).

-- What of the claw-back `claw` of purchase `o` had expired already, written off; nil when Node
-- must name the purchase's lots first (ARG.award_lots, read from its journal entry or ledger
-- row: the record keeps amounts only), which only a contact with expired lots remembered needs.
-- A claw-back does not take that again: it left the wallet at its expiry, as it would have had
-- the purchase never happened. In proportion, as the claw-back is (API.md): of what expired of
-- the purchase's award (what its claw-backs wrote off before, `written`, its state's xw, and what
-- its lots, expired since ARG.award_lots.remembered_from_ms, still find remembered, each up to
-- its amount in the lot), the share of the purchase refunded once this claw-back is made,
-- `after` of o.amount (a reversal: all of it), less what was written off before.
local function expiredOfClaw(o, claw, written, after)
  if claw <= 0 or redis.call('EXISTS', KEY.expired_lots) == 0 then return 0 end
  local given = ARG.award_lots
  if given == nil or given.original ~= o.id then return nil end
  local held, remembered, found = 0, 0, {}
  for _, lot in ipairs(given.lots) do
    held = held + lot[2]
    local expiry = expiryOf(lot[1])
    if expiry <= NOW and expiry >= given.remembered_from_ms then
      local left = tonumber(redis.call('HGET', KEY.expired_lots, lot[1]) or '0')
      if left > 0 then
        found[#found + 1] = {lot[1], math.min(lot[2], left), left}
        remembered = remembered + found[#found][2]
      end
    end
  end
  local want = math.min(claw, math.floor(math.min(written + remembered, held) * after / o.amount) - written)
  -- Taken in the lots' order (earliest expiry first), each up to what it found.
  local taken = 0
  for _, f in ipairs(found) do
    if taken >= want then break end
    local take = math.min(f[2], want - taken)
    if take == f[3] then redis.call('HDEL', KEY.expired_lots, f[1]) else redis.call('HINCRBY', KEY.expired_lots, f[1], -take) end
    taken = taken + take
  end
  return taken
end
