-- A claw-back of a purchase's award (refund.lua, reversal.lua): from its own lots first, what of
-- them had expired written off, not taken again; the contact's expired lots (KEY.expired_lots,
-- written by expire.lua) against the lots of the purchase clawed back (ARG.award_lots, Node's
-- reading of its journal entry or ledger row: a record keeps amounts only).

-- The purchase `o`'s own lots ({field, amount}, earliest expiry first) for a claw-back of
-- `claw`: ARG.award_lots when they name it; nil when Node must read them first (the script
-- answers stale). Taken first, they leave the contact's other lots as they would be had the
-- purchase never happened: what is left expires when it would have, and what expired of the
-- purchase's is told from the rest (expiredOfClaw). Taken from the earliest lots instead, a
-- refund of the later of two sales took the earlier's lot, whose expiry then found it gone and
-- expired the later's: a refund of the earlier then found nothing of its own expired and clawed
-- its award back a second time (commerce −100 for an award of 100). Needless (none) when
-- nothing is clawed back, or the contact holds one lot at most and no expired lots: there is
-- nothing to choose from.
local function ownLots(o, claw)
  local given = ARG.award_lots
  if given ~= nil and given.original == o.id then return given.lots end
  if claw <= 0 then return {} end
  if redis.call('HLEN', KEY.lots) <= 1 and redis.call('EXISTS', KEY.expired_lots) == 0 then return {} end
  return nil
end

-- What of the claw-back `claw` of purchase `o` had expired already, written off: it left the
-- wallet at its expiry, as it would have had the purchase never happened. In proportion, as the
-- claw-back is (API.md): of what expired of the purchase's award (what its claw-backs wrote off
-- before, `written`, its state's xw, and what its lots `own` (ownLots), expired since
-- ARG.award_lots.remembered_from_ms, still find remembered, each up to its amount in the lot),
-- the share of the purchase refunded once this claw-back is made, `after` of o.amount (a
-- reversal: all of it), less what was written off before.
local function expiredOfClaw(o, own, claw, written, after)
  if claw <= 0 or #own == 0 or redis.call('EXISTS', KEY.expired_lots) == 0 then return 0 end
  local from_ms = ARG.award_lots.remembered_from_ms
  local held, remembered, found = 0, 0, {}
  for _, lot in ipairs(own) do
    local expiry = expiryOf(lot[1])
    if expiry < 9999999999999 then held = held + lot[2] end
    if expiry <= NOW and expiry >= from_ms then
      local left = tonumber(redis.call('HGET', KEY.expired_lots, lot[1]) or '0')
      if left > 0 then
        found[#found + 1] = {lot[1], math.min(lot[2], left), left}
        remembered = remembered + found[#found][2]
      end
    end
  end
  local want = math.min(claw, proportion(math.min(written + remembered, held), after, o.amount) - written)
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

-- How much of `want` to take from each of the purchase's own lots (ownLots), each lot holding
-- `there`: first each lot's share of the whole claw-back `claw` of the `awarded` (in proportion to
-- what the purchase put in it, cumulative and floored as refund shares are: what a smaller sale
-- would have put in it less), as far as it holds; then what is still wanted (a lot that expired,
-- whose share was written off, or was redeemed) from what they hold beyond, in their order, up to
-- what the purchase put in each (a lot of two sales dated the same second is one).
local function ownShares(own, there, want, claw, awarded)
  local took, taken, put = {}, 0, 0
  for i, lot in ipairs(own) do
    local before = proportion(claw, math.min(put, awarded), awarded)
    put = put + lot[2]
    local share = proportion(claw, math.min(put, awarded), awarded) - before
    took[i] = math.max(0, math.min(share, there[i], want - taken))
    taken = taken + took[i]
  end
  for i, lot in ipairs(own) do
    if taken >= want then break end
    local more = math.max(0, math.min(there[i], lot[2]) - took[i])
    more = math.min(more, want - taken)
    took[i] = took[i] + more
    taken = taken + more
  end
  return took
end

-- Take up to `want` of the claw-back `claw` from the purchase's own lots (ownShares); returns what
-- it took from which lot ({field, amount}).
local function takeOwnLots(own, want, claw, awarded)
  local from, whole = {}, {}
  if #own == 0 or want <= 0 then return from end
  local fields = {}
  for i, lot in ipairs(own) do fields[i] = lot[1] end
  local held = redis.call('HMGET', KEY.lots, unpack(fields))
  local there = {}
  for i in ipairs(own) do there[i] = tonumber(held[i] or '0') end
  local took = ownShares(own, there, want, claw, awarded)
  for i, lot in ipairs(own) do
    if took[i] > 0 then
      if took[i] == there[i] then whole[#whole + 1] = lot[1] else redis.call('HINCRBY', KEY.lots, lot[1], -took[i]) end
      from[#from + 1] = {lot[1], took[i]}
    end
  end
  dropLots(whole)
  return from
end

-- Claw `amount` of the claw-back `claw` of purchase `o` back (what of it had expired written off
-- already): commerce first (what is there: the purchase's own lots `own`, then the earliest
-- others), then open (what is there), and the rest as commerce debt that later awards settle.
-- Returns the amounts taken from commerce and open, and the lots it took, as JSON (the entry's
-- lots, which rebuild's replay takes again), 'null' for none.
local function clawBack(o, claw, amount, own)
  if amount <= 0 then return 0, 0, 'null' end
  local open, commerce = balances()
  local from_commerce = math.min(amount, math.max(commerce, 0))
  local from = takeOwnLots(own, from_commerce, claw, o.awarded)
  local taken = 0
  for _, f in ipairs(from) do taken = taken + f[2] end
  if from_commerce > taken then
    local _, others = takeLots(eligibleLots(nil, nil, from_commerce - taken), from_commerce - taken)
    for _, f in ipairs(others) do from[#from + 1] = f end
  end
  local from_open = math.min(amount - from_commerce, math.max(open, 0))
  local debt = amount - from_commerce - from_open
  if from_commerce + debt > 0 then redis.call('HINCRBY', KEY.contact, 'm', -(from_commerce + debt)) end
  if debt > 0 then redis.call('HINCRBY', KEY.contact, 'md', debt) end
  if from_open > 0 then redis.call('HINCRBY', KEY.contact, 'o', -from_open) end
  return from_commerce + debt, from_open, #from > 0 and lotsJson(from) or 'null'
end
