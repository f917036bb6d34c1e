-- A claw-back of a purchase's award (refund.lua, reversal.lua): from its own lots first, what of
-- them had expired written off, not taken again; the contact's expired lots (KEY.expired_lots,
-- written by expire.lua) against the lots of the purchase clawed back (ARG.award_lots, Node's
-- reading of its journal entry or ledger row: a record keeps amounts only).

-- The purchase `o`'s own lots ({field, amount}, earliest expiry first) for a claw-back of
-- `claw`: ARG.award_lots when they name it; nil when Node must read them first (the script
-- answers stale). Taken first, they leave the contact's other lots as they would be had the
-- purchase never happened: what is left expires when it would have, and what expired of the
-- purchase's is told from the rest (ownShares). Taken from the earliest lots instead, a
-- refund of the later of two sales took the earlier's lot, whose expiry then found it gone and
-- expired the later's: a refund of the earlier then found nothing of its own expired and clawed
-- its award back a second time (commerce −100 for an award of 100). Needless (none) when
-- nothing is clawed back, when the purchase put nothing into commerce lots, or when the contact
-- holds one lot that covers the whole claw-back and no expired lots: nothing to choose from, and
-- nothing of its own found gone to note (noteOwed), unless that lot is another sale's (its own
-- redeemed: the claw-back then takes that lot, and the redemption's reversal gives the own lot
-- back whole; the sum is right, the lot is not). A contact holding none is asked for: what of its
-- own lots the claw-back finds gone is noted for their redemption's reversal (until 2026-12-05 it
-- was not asked for, and nothing was noted).
--
-- Needless whether or not Node gave the lots (ARG.award_lots): until 2026-12-06 given lots were
-- taken first, so the same history noted what it found gone or not as Node had read the purchase
-- or not (a business with caps or budgets reads it), and rebuild's replay (processor/ledger/
-- replay.ts, which mirrors this) could not tell: a rebuild probe found owed lots a rebuilt Redis
-- held and the live one did not, and the redemption's reversal after them answered otherwise.
local function ownLots(o, claw)
  if claw <= 0 or o.awarded - (o.to_open or 0) <= 0 then return {} end
  if redis.call('EXISTS', KEY.expired_lots) == 0 and redis.call('HLEN', KEY.lots) == 1 then
    local held = redis.call('HVALS', KEY.lots)
    if tonumber(held[1]) >= claw then return {} end
  end
  local given = ARG.award_lots
  if given ~= nil and given.original == o.id then return given.lots end
  return nil
end

-- Each own lot's share of a claw-back that takes the purchase from `before` to `after` of its
-- amount refunded (a reversal: to all of it): of what the purchase put in the lot, that part,
-- cumulative and floored as refund shares are, so that its shares over any sequence of refunds
-- add up to what it put in. All together at most the claw-back `claw` (floors of each lot can
-- add up to one more than the floor of their sum). What a lot's share finds in it is taken from
-- it; what it does not (the lot expired, or was redeemed) is written off from what the lot's
-- expiry took, as far as the contact's expired lots still remember it (expired since
-- ARG.award_lots.remembered_from_ms): it left the wallet at its expiry, as it would have had the
-- purchase never happened, and is not taken again. Returns what each lot holds (`there`), its
-- share and what of the share was written off; the write-off is made.
local function ownShares(o, own, claw, before, after)
  local there, share, written = {}, {}, {}
  if #own == 0 then return there, share, written end
  local fields = {}
  for i, lot in ipairs(own) do fields[i] = lot[1] end
  local held = redis.call('HMGET', KEY.lots, unpack(fields))
  local remembered = redis.call('EXISTS', KEY.expired_lots) == 1
  local shared = 0
  for i, lot in ipairs(own) do
    there[i] = tonumber(held[i] or '0')
    share[i] = math.min(proportion(lot[2], after, o.amount) - proportion(lot[2], before, o.amount), claw - shared)
    shared = shared + share[i]
    written[i] = 0
    local expiry = expiryOf(lot[1])
    if remembered and share[i] > there[i] and expiry <= NOW and expiry >= ARG.award_lots.remembered_from_ms then
      local left = tonumber(redis.call('HGET', KEY.expired_lots, lot[1]) or '0')
      written[i] = math.min(share[i] - there[i], left)
      if written[i] == left and left > 0 then redis.call('HDEL', KEY.expired_lots, lot[1])
      elseif written[i] > 0 then redis.call('HINCRBY', KEY.expired_lots, lot[1], -written[i]) end
    end
  end
  return there, share, written
end

-- What of its share each own lot lacked that no expiry wrote off: redeemed since (or taken by
-- another purchase's claw-back), so this claw-back takes it from elsewhere (other lots, open,
-- debt). Remembered per lot (KEY.owed_lots, keys.ts owedLotsKey) for the reversal of the
-- redemption that took it (reversal.lua), which gives that part back where this took it instead,
-- not to the lot: the award it came from is clawed back already.
local OWED_LOTS_KEPT_MS = 7776000000 -- keys.ts owed_lots_kept_ms, the same
local function noteOwed(own, there, share, written)
  local any = false
  for i, lot in ipairs(own) do
    local lacked = share[i] - written[i] - there[i]
    if lacked > 0 then
      redis.call('HINCRBY', KEY.owed_lots, lot[1], lacked)
      any = true
    end
  end
  if any then redis.call('PEXPIRE', KEY.owed_lots, OWED_LOTS_KEPT_MS) end
end

-- Take `want` from the purchase's own lots: each its share as far as it holds, then what is
-- still wanted (a share a lot lacked and no expiry wrote off: redeemed) from what they hold
-- beyond, in their order, up to what the purchase put in each (a lot of two sales dated the same
-- second is one). Returns what it took from which lot ({field, amount}).
local function takeOwnLots(own, there, share, want)
  local took, taken, from, whole = {}, 0, {}, {}
  for i in ipairs(own) do
    took[i] = math.max(0, math.min(share[i], there[i], want - taken))
    taken = taken + took[i]
  end
  for i, lot in ipairs(own) do
    local more = math.max(0, math.min(math.min(there[i], lot[2]) - took[i], want - taken))
    took[i] = took[i] + more
    taken = taken + more
    if took[i] > 0 then
      if took[i] == there[i] then whole[#whole + 1] = lot[1] else redis.call('HINCRBY', KEY.lots, lot[1], -took[i]) end
      from[#from + 1] = {lot[1], took[i]}
    end
  end
  dropLots(whole)
  return from
end

-- Claw back `claw` of purchase `o`, which takes it from `before` to `after` of its amount
-- refunded: what of it had expired written off (ownShares), then up to `open_first` from open
-- (a reversal: what the purchase's instant_redeem awards put there), the rest from commerce first
-- (what is there: the purchase's own lots `own`, then the earliest others), then open (what is
-- there), and the rest as commerce debt that later awards settle. Returns the amounts taken from
-- commerce and open, the lots it took as JSON (the entry's lots, which rebuild's replay takes
-- again; 'null' for none), and what was written off. `open_first` changes only where the money
-- comes from, never how much: the write-off is of the whole claw's shares (rebuild's replay
-- computes it so, processor/ledger/replay.ts).
local function clawBack(o, claw, before, after, own, open_first)
  if claw <= 0 then return 0, 0, 'null', 0 end
  local there, share, written = ownShares(o, own, claw, before, after)
  noteOwed(own, there, share, written)
  local expired = 0
  for i in ipairs(own) do expired = expired + written[i] end
  local amount = claw - expired
  local open, commerce = balances()
  local open_back = math.max(0, math.min(open_first or 0, amount, open))
  open = open - open_back
  amount = amount - open_back
  local from_commerce = math.min(amount, math.max(commerce, 0))
  local from = takeOwnLots(own, there, share, from_commerce)
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
  from_open = from_open + open_back
  if from_open > 0 then redis.call('HINCRBY', KEY.contact, 'o', -from_open) end
  return from_commerce + debt, from_open, #from > 0 and lotsJson(from) or 'null', expired
end
