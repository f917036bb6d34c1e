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
-- nothing to note (noteOwed notes only what commerce did not cover), though that lot may be
-- another sale's (its own redeemed: the claw-back then takes that lot, and the redemption's
-- reversal gives the own lot back; the sum is right, the lot is not). A contact holding none is
-- asked for: what of its own lots the claw-back finds gone and takes from open is noted for
-- their redemption's reversal (until 2026-12-05 it was not asked for, and nothing was noted).
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

-- What of its share each own lot lacked that no expiry wrote off (redeemed since, or taken by
-- another purchase's claw-back) and this claw-back could not find in commerce either: it took that
-- from open or as debt (`beyond`: what it took beyond commerce, less what a reversal takes back
-- of the purchase's own instant awards from open). Remembered per lot (KEY.owed_lots, keys.ts
-- owedLotsKey) for a redemption's reversal (reversal.lua), which leaves that much where the
-- claw-back took it instead of moving it back to commerce. What commerce covered is not noted:
-- the redemption's reversal moves that back to commerce, as it would be had the sale never
-- happened. Until 2026-12-06 every lack was noted, and the one-lot case (ownLots) noted none:
-- two sales, a redemption of the first's lot, the first reversed (from the second's lots), then
-- the redemption reversed answered open 200 / commerce 500 for 0 / 700; a redemption, a refund,
-- the purchase reversed, then the redemption reversed answered 422 for 0 / 0 (a rebuild probe,
-- 2026-12-06). Returns what it noted.
local OWED_LOTS_KEPT_MS = 7776000000 -- keys.ts owed_lots_kept_ms, the same
local function noteOwed(own, there, share, written, beyond)
  local noted = 0
  for i, lot in ipairs(own) do
    local lacked = math.min(share[i] - written[i] - there[i], beyond - noted)
    if lacked > 0 then
      redis.call('HINCRBY', KEY.owed_lots, lot[1], lacked)
      noted = noted + lacked
    end
  end
  if noted > 0 then redis.call('PEXPIRE', KEY.owed_lots, OWED_LOTS_KEPT_MS) end
  return noted
end

-- A redemption's reversal (reversal.lua) of `lots` ({field, amount}, what it took): what of it
-- claw-backs took from open or as debt instead (noteOwed), up to all of it: first what they noted
-- of the lots it took, then of any other (sorted by field: rebuild's replay settles alike), for
-- a claw-back's note names the lot its own share lacked, which may be a lot this redemption did
-- not take (a refund took a redeemed lot's share from the sale's other lot, which its reversal
-- then found short; settled by its own lots alone, a redemption, a refund, the purchase reversed,
-- then the redemption reversed was 422 for 0 / 0: a rebuild probe, 2026-12-06). Returns what it
-- settles, the lots to give back (each less what was settled of it, what was settled of other
-- lots off its latest lots first), and the owed lots as they are then (field → amount, and the
-- fields changed), written by writeOwed once the reversal is sure.
local function settleOwed(lots)
  local flat = redis.call('HGETALL', KEY.owed_lots)
  local left, fields, changed = {}, {}, {}
  for i = 1, #flat, 2 do
    left[flat[i]] = tonumber(flat[i + 1])
    fields[#fields + 1] = flat[i]
  end
  table.sort(fields)
  local own, settled, taken = {}, 0, 0
  for i, lot in ipairs(lots) do
    own[i] = math.min(left[lot[1]] or 0, lot[2])
    if own[i] > 0 then left[lot[1]] = left[lot[1]] - own[i]; changed[#changed + 1] = lot[1] end
    settled = settled + own[i]
    taken = taken + lot[2]
  end
  local beyond = 0
  for _, field in ipairs(fields) do
    local take = math.min(left[field], taken - settled - beyond)
    if take > 0 then left[field] = left[field] - take; beyond = beyond + take; changed[#changed + 1] = field end
  end
  local back, off = {}, beyond
  for i = #lots, 1, -1 do
    local give = lots[i][2] - own[i]
    local less = math.min(give, off)
    off = off - less
    if give > less then table.insert(back, 1, {lots[i][1], give - less}) end
  end
  return settled + beyond, back, left, changed
end

-- settleOwed's owed lots written: each changed field as left, or gone.
local function writeOwed(left, changed)
  for _, field in ipairs(changed) do
    if left[field] > 0 then redis.call('HSET', KEY.owed_lots, field, int(left[field])) else redis.call('HDEL', KEY.owed_lots, field) end
  end
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
-- again; 'null' for none), what was written off, and what it noted owed (noteOwed: the entry's
-- `owed`, which rebuild's replay notes alike). `open_first` changes only where the money comes
-- from, never how much: the write-off is of the whole claw's shares (rebuild's replay computes
-- it so, processor/ledger/replay.ts).
local function clawBack(o, claw, before, after, own, open_first)
  if claw <= 0 then return 0, 0, 'null', 0, 0 end
  local there, share, written = ownShares(o, own, claw, before, after)
  local expired = 0
  for i in ipairs(own) do expired = expired + written[i] end
  local amount = claw - expired
  local open, commerce = balances()
  local open_back = math.max(0, math.min(open_first or 0, amount, open))
  open = open - open_back
  amount = amount - open_back
  local from_commerce = math.min(amount, math.max(commerce, 0))
  local owed = noteOwed(own, there, share, written, amount - from_commerce)
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
  return from_commerce + debt, from_open, #from > 0 and lotsJson(from) or 'null', expired, owed
end
