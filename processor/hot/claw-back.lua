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
--
-- The one-lot case also wants commerce to cover the whole claw-back, nothing taken from open first
-- (`open_first`, a reversal's instant awards), and no redemption by the contact since the sale
-- (the contact's `lr`, redeem.lua): then none of the sale's lots was redeemed, so none lacks
-- (noteInstead, noteOwed). Taken without it, a refund after a redemption of the sale's lot about
-- to expire took that lot's share from the sale's other lot and noted nothing; the redemption's
-- reversal gave it back to the expiring lot, and the sale's reversal clawed it back again once it
-- had expired (commerce −250 where 0 was due). And no notes (KEY.owed_lots): another sale's
-- claw-back that found its own lot redeemed took this sale's lot instead (noteInstead), with no
-- redemption since this sale; taken as needless, this claw-back took the one lot left (a third
-- sale's) and noted nothing, so the redemption's reversal, following the other's note, gave the
-- money back to this sale's lot, which then expired, and the third sale's reversal booked debt
-- (0 / −100 where 0 / 0 was due: a black-box probe, 2026-12-07, test/claw-back-instead-chain.test.ts).
-- How long before the sale a redemption still counts as since it: ids are stamped by the gateway
-- that took the request, as it came in, so a redemption made after the sale may carry an earlier
-- time (a gateway's clock behind another's, a request that waited). Within it the claw-back reads
-- the sale's lots, which is always right, only slower.
local REDEEMED_SINCE_SLACK_MS = 60000
local function ownLots(o, claw, open_first)
  if claw <= 0 or o.awarded - (o.to_open or 0) <= 0 then return {} end
  if (open_first or 0) <= 0 and redis.call('EXISTS', KEY.expired_lots, KEY.owed_lots) == 0 and redis.call('HLEN', KEY.lots) == 1 then
    local held = redis.call('HVALS', KEY.lots)
    local c = redis.call('HMGET', KEY.contact, 'm', 'lr')
    local redeemed_since = c[2] and idTimeMs(c[2]) >= idTimeMs(string.sub(o.id, 5, 14)) - REDEEMED_SINCE_SLACK_MS
    if tonumber(held[1]) >= claw and tonumber(c[1] or '0') >= claw and not redeemed_since then return {} end
  end
  local given = ARG.award_lots
  if given ~= nil and given.original == o.id then return given.lots end
  return nil
end

-- The refunded amount at which the `n`th unit of a lot the purchase put `put` in is taken:
-- ceil(n × amount / put) (lotsTakenAt). proportion's long division holds for a `part` past its
-- `whole` too (amount below 2^40, n at most put).
local function unitAt(n, amount, put)
  local q, r = proportion(n, amount, put)
  if r > 0 then return q + 1 end
  return q
end

-- Each lot's units whose floor has come once `refunded` of `amount` is refunded.
local function unitsBefore(own, refunded, amount)
  local taken, total = {}, 0
  for i, lot in ipairs(own) do
    taken[i] = math.min(lot[2], (proportion(lot[2], refunded, amount)))
    total = total + taken[i]
  end
  return taken, total
end

-- What claw-backs have taken of each of the purchase's own lots once `refunded` of its `amount`
-- is refunded (core/money.ts lotsTakenAt is the spec, for rebuild's replay): the lots' units in
-- one fixed order (by the refunded amount at which each unit's own floor comes, the earliest lot
-- on a tie), of which the first floor(awarded × refunded / amount) are taken, as far as the lots
-- hold: a claw-back takes its sale's lots first. The prefix of one order whatever the refunds: no
-- lot's part ever shrinks, and by the whole each lot gives up what it put in. Until 2026-12-07
-- the count was the lots' own floor (the same when they are the whole award), and a sale whose
-- award had paid commerce debt, or put part of itself in open, was shared as if its lots held
-- less of the claw-back than a claw-back that finds them takes (ownShares, takeOwnLots): the rest
-- was noted as found nowhere (a black-box probe: 422 for a redemption's reversal that should
-- have moved nothing). (Spare units from the earliest lot, cut off its later shares, until
-- 2026-12-07 too: a sale awarding 1 and 562 refunded by 5,016, 2,957 and 2,447 of 10,420 took 2
-- of the first lot and 561 of the second; CI's fast-check property found it.)
-- Units given one by one at most (lotsTakenAt); past it, by halving.
local SPARE_UNITS_MAX = 64
local function lotsTakenAt(own, refunded, amount, awarded)
  local total, largest = 0, 0
  for _, lot in ipairs(own) do
    total = total + lot[2]
    largest = math.max(largest, lot[2])
  end
  local count = math.min((proportion(awarded, refunded, amount)), total)
  if count <= 0 then
    local none = {}
    for i in ipairs(own) do none[i] = 0 end
    return none
  end
  local taken, got = unitsBefore(own, refunded, amount)
  local spare = count - got
  if (spare < 0 or spare >= #own) and total <= 999999999999 then
    -- An award its lots are not all of: from the units whose floor has come at
    -- floor(count × amount / total), which are at most `count` and fewer by less than the lots
    -- and total / amount, unit by unit as below. (Halving over every refunded amount cost 40 µs
    -- of Redis a call, 210 µs with 12-digit amounts, measured on this machine.)
    taken, got = unitsBefore(own, (proportion(amount, count, total)), amount)
    spare = count - got
  end
  -- unitAt's long division is exact for a lot of at most 12 digits (refund-shares.lua proportion):
  -- past it (three 100% awards of a 12-digit sale into one lot), by halving too, which divides by
  -- the sale's amount only (a review found a unit taken from the other lot, 2026-12-07).
  if spare < 0 or spare > SPARE_UNITS_MAX or largest > 999999999999 then
    -- Lots larger than the sale, many units coming at one refunded amount: the refunded amount
    -- whose units reach `count`, by halving, and its units given in lot order (they come together).
    local lo, hi = 1, amount
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      local _, n = unitsBefore(own, mid, amount)
      if n >= count then hi = mid else lo = mid + 1 end
    end
    taken, got = unitsBefore(own, lo - 1, amount)
    spare = count - got
    local at_lo = unitsBefore(own, lo, amount)
    for i in ipairs(own) do
      local n = math.min(spare, at_lo[i] - taken[i])
      taken[i], spare = taken[i] + n, spare - n
    end
    assert(spare == 0, 'lotsTakenAt: units past the lots')
    return taken
  end
  local next_at = {}
  for i, lot in ipairs(own) do next_at[i] = taken[i] < lot[2] and unitAt(taken[i] + 1, amount, lot[2]) or math.huge end
  for _ = 1, spare do
    local soonest = 1
    for i = 2, #own do if next_at[i] < next_at[soonest] then soonest = i end end
    taken[soonest] = taken[soonest] + 1
    next_at[soonest] = taken[soonest] < own[soonest][2] and unitAt(taken[soonest] + 1, amount, own[soonest][2]) or math.huge
  end
  return taken
end

-- Each own lot's share of a claw-back that takes the purchase from `before` to `after` of its
-- amount refunded (a reversal: to all of it): what claw-backs have taken of it at `after` less at
-- `before` (lotsTakenAt, of the award o.awarded). Together the claw-back `claw` as far as the
-- lots hold (the whole of it when they are the whole award); never more (were the award less
-- than its lots, which no script makes, cut off the earliest lots').
-- What a lot's share finds in it is taken from it; what it does not (the lot expired, or was
-- redeemed) is written off from what the lot's expiry took, as far as the contact's expired
-- lots still remember it (expired since ARG.award_lots.remembered_from_ms): it left the wallet
-- at its expiry, as it would have had the purchase never happened, and is not taken again.
-- Returns what each lot holds (`there`), its share and what of the share was written off; the
-- write-off is made.
local function ownShares(o, own, claw, before, after)
  local there, share, written = {}, {}, {}
  if #own == 0 then return there, share, written end
  local fields = {}
  for i, lot in ipairs(own) do fields[i] = lot[1] end
  local held = redis.call('HMGET', KEY.lots, unpack(fields))
  local remembered = redis.call('EXISTS', KEY.expired_lots) == 1
  local at_before, at_after = lotsTakenAt(own, before, o.amount, o.awarded), lotsTakenAt(own, after, o.amount, o.awarded)
  local over = -claw
  for i in ipairs(own) do
    share[i] = at_after[i] - at_before[i]
    over = over + share[i]
  end
  for i in ipairs(own) do
    if over <= 0 then break end
    local cut = math.min(share[i], over)
    share[i], over = share[i] - cut, over - cut
  end
  for i, lot in ipairs(own) do
    there[i] = tonumber(held[i] or '0')
    written[i] = 0
    local expiry = expiryOf(lot[1])
    -- Not also `expiry <= NOW`: what the contact's expired lots remember, a sweep expired, by the
    -- clock of the gateway that ran it. A claw-back on a gateway whose clock lags took a lot that
    -- had expired seconds before as not yet expired, and its share again from other lots, open
    -- or as debt: the money left the wallet twice (a probe of two gateways 2 s apart,
    -- 2026-12-07: commerce debt in 8 runs of 100 once everything was reversed).
    if remembered and share[i] > there[i] and expiry >= ARG.award_lots.remembered_from_ms then
      local left = tonumber(redis.call('HGET', KEY.expired_lots, lot[1]) or '0')
      written[i] = math.min(share[i] - there[i], left)
      if written[i] == left and left > 0 then redis.call('HDEL', KEY.expired_lots, lot[1])
      elseif written[i] > 0 then redis.call('HINCRBY', KEY.expired_lots, lot[1], -written[i]) end
    end
  end
  return there, share, written
end

-- What a claw-back takes from open: up to `open_first` first, then commerce, then open (clawBack).
local function openTaken(open, commerce, amount, open_first)
  local open_back = math.max(0, math.min(open_first or 0, amount, open))
  local rest = amount - open_back
  local from_commerce = math.min(rest, math.max(commerce, 0))
  return open_back + math.min(rest - from_commerce, math.max(open - open_back, 0))
end

-- What a claw-back owes a redemption's reversal: what it takes from open because its sale's own
-- lots were redeemed (`lacked`: their shares it did not find, expiry aside), measured as what it
-- takes from open less what it would take were those lots still in commerce and their money not
-- in open. The redemption's reversal (reversal.lua settleOwed) leaves that much in open instead of
-- moving it back to commerce: the claw-back took it there already. What commerce covered anyway
-- (another sale's lots, or its sale's other lot beyond that lot's share) is owed nothing: the
-- redemption's reversal moves that back to commerce, as it would be had the redemption never
-- happened. Until 2026-12-06 every lack was owed, wherever the money came from, and the one-lot
-- case (ownLots) owed none: two sales, a redemption of the first's lot, the first reversed from
-- the second's lots, then the redemption reversed left 100 in open for 0 / 700; a redemption, a
-- refund, the sale reversed, then the redemption reversed was 422 for 0 / 0 (a rebuild probe). And
-- a reversal whose instant awards took the redemption's money from open (open_first) owed it as
-- debt, which the redemption's reversal then paid out of open: 422 where nothing was to move (a
-- review). `open` and `commerce` are the balances before the claw-back.
local function owedOf(lacked, open, commerce, amount, open_first)
  if lacked <= 0 then return 0 end
  local owed = openTaken(open, commerce, amount, open_first) - openTaken(math.max(open - lacked, 0), commerce + lacked, amount, open_first)
  return math.max(0, math.min(owed, lacked))
end

-- What of its sale's lacking lots' shares left (`lacks_left`, noteInstead's) beyond `owed` the
-- claw-back took as commerce debt (of its `debt`): owed to the redemption as what it took from open
-- is, and noted alike, so that the redemption's reversal settles it (leaves that much in open, not
-- moved back into the lot): the debt stood for the lot the redemption had taken. Noted nowhere
-- until 2026-12-06, the redemption's reversal, after an award had paid that debt and a spend's
-- reversal put money in open, moved the money into the sale's lot, expired by then: its sale's
-- claw-back had taken that lot already, as debt, and with every transaction reversed the wallet
-- ended at 0 / -1000 (a black-box probe); with the debt paid by a spend's reversal it was 422.
local function debtOwed(lacks_left, owed, debt)
  local left = 0
  for _, n in ipairs(lacks_left) do left = left + n end
  return math.max(0, math.min(debt, left - owed))
end

-- Notes `owed` against the own lots that lacked it, each up to its lack, in their order, under
-- this claw-back's id (KEY.owed_lots, keys.ts owedLotsKey: '<id without txn_><lot field>' →
-- amount, kept 90 days after the latest note): a redemption's reversal settles only what was
-- noted after the redemption (a note before it cannot be its doing: a review found an unrelated
-- later redemption's reversal settling an older note, its money left in open).
local OWED_LOTS_KEPT_MS = 7776000000 -- keys.ts owed_lots_kept_ms, the same

-- The id a claw-back files its notes under: its own (without 'txn_'), its 10 time characters
-- raised to the contact's latest redemption's (`lr`) when they are before it. A redemption's
-- reversal settles the notes made since it, told by those characters; a claw-back made after the
-- redemption under an id stamped before it (answered stale and sent again meanwhile, or taken by
-- a gateway whose clock lags) made its notes as if before, and the reversal passed them by: its
-- money went back to the lot the claw-back had found gone (a review: 422 with 3 s of skew). The
-- rebuild's replay (processor/ledger/replay.ts noteId) files them alike, in journal order.
--
-- And past every note the contact holds: claw-backs commit in Redis's order, not their ids'
-- (stamped as each request came in, by its gateway's clock), and a redemption's reversal follows
-- notes in field order, a chain of lots taken in place of others (Y → X, then X → Z) in the order
-- it was made. Two claw-backs committed in the opposite order to their ids' times had their notes
-- followed as X → Z, then Y → X: the reversal stopped at X, an expired lot, and that money
-- expired a second time (a black-box probe, 2026-12-07: 0 / −312 after everything was reversed,
-- 1 run in 460 of ten requests at a time; 0 / −100 one at a time across two gateways 2 s apart).
-- Raised to the millisecond after the latest note when it is not after it. One id per call (the
-- shared Lua is made once per library: remembered with the call's id, ARG.id).
local note_id_of, note_id
local function noteId()
  if note_id_of == ARG.id then return note_id end
  local id = string.sub(ARG.id, 5)
  local lr = redis.call('HGET', KEY.contact, 'lr')
  if lr and bytesBefore(string.sub(id, 1, 10), lr) then id = lr .. string.sub(id, 11) end
  local latest = latestNote(KEY.owed_lots)
  if latest ~= nil and not bytesBefore(latest, id) then id = idTimeChars(idTimeMs(latest) + 1) .. string.sub(id, 11) end
  note_id_of, note_id = ARG.id, id
  return id
end
local function noteOwed(own, lacked, owed)
  if owed <= 0 then return end
  local id, left = noteId(), owed
  for i, lot in ipairs(own) do
    local n = math.min(lacked[i], left)
    if n > 0 then
      redis.call('HINCRBY', KEY.owed_lots, id .. lot[1], n)
      left = left - n
    end
  end
  redis.call('PEXPIRE', KEY.owed_lots, OWED_LOTS_KEPT_MS)
end

-- What of its sale's lacking lots' shares (`lacked`, as owedOf) the claw-back found in commerce
-- all the same, in other lots (`substitutes`, {field, amount} in the order it took them: its sale's
-- other lots beyond their shares, then the contact's earliest): the latest of them, as far as the
-- lacks not owed go (had the redeemed lots been there, it would have stopped before those). Noted
-- per lacking lot, in order, under this claw-back's id ('<id without txn_>><lot field>' →
-- '[[other lot, amount], ...]'), for the redemption that took the lot: its reversal gives that
-- back to the other lot, not to its own, as if it never happened; given back to its own lot, a
-- lot about to expire took money of one that was not, and the sale's reversal found it expired
-- and clawed it back again (commerce −50 where 0 was due), and money of a merchant's pool went
-- back to a pool any merchant redeems (a black-box probe, 2026-12-06). Returns the notes as the
-- entry's `instead` ([[lot, other lot, amount], ...]; 'null' for none), and each lot's lack left
-- for noteOwed.
local function noteInstead(own, lacked, owed, substitutes)
  local lacked_all, found = 0, 0
  for i in ipairs(own) do lacked_all = lacked_all + lacked[i] end
  for _, s in ipairs(substitutes) do found = found + s[2] end
  local skip = found - math.min(lacked_all - owed, found)
  local sources = {}
  for _, s in ipairs(substitutes) do
    local off = math.min(s[2], skip)
    skip = skip - off
    if s[2] > off then sources[#sources + 1] = {s[1], s[2] - off} end
  end
  local id, instead, left, k = #sources > 0 and noteId() or '', {}, {}, 1
  for i, lot in ipairs(own) do
    local want, targets = lacked[i], {}
    while want > 0 and k <= #sources do
      local n = math.min(want, sources[k][2])
      targets[#targets + 1] = {sources[k][1], n}
      instead[#instead + 1] = '[' .. cjson.encode(lot[1]) .. ',' .. cjson.encode(sources[k][1]) .. ',' .. int(n) .. ']'
      sources[k][2], want = sources[k][2] - n, want - n
      if sources[k][2] == 0 then k = k + 1 end
    end
    if #targets > 0 then redis.call('HSET', KEY.owed_lots, id .. '>' .. lot[1], lotsJson(targets)) end
    left[i] = want
  end
  if #instead == 0 then return 'null', left end
  redis.call('PEXPIRE', KEY.owed_lots, OWED_LOTS_KEPT_MS)
  return '[' .. table.concat(instead, ',') .. ']', left
end

-- A claw-back's note of what it took from open or as commerce debt beyond its own lots' lacks
-- (`wanting`: the part of the award beyond its lots, which paid debt or went to open, wanting
-- other lots, or what commerce lacked), under its id and WANTING_LOT, which sorts after every lot
-- field: had a redemption the contact made never happened, its lots would have been there, and
-- the claw-back would have taken them, commerce first (settleOwed settles it from whatever that
-- redemption's reversal would give back, after the claw-back's notes of its own lots). Noted only
-- for a contact that ever redeemed (`lr`). Unnoted until 2026-12-07, a redemption's reversal asked
-- for those lots back though the claw-back had taken their worth from open: 422 with none of its
-- money spent (a black-box probe: debt of 999, a sale awarding 4,999 (lot 4,000), another sale's
-- lot of 4,999, both redeemed, the first sale reversed, then the redemption: 422 with 4,000 in
-- open, where 201 moving it into the second sale's lot was due). Returns what it noted.
local WANTING_LOT = '~'
local function noteWanting(wanting)
  if wanting <= 0 or redis.call('HEXISTS', KEY.contact, 'lr') == 0 then return 0 end
  redis.call('HINCRBY', KEY.owed_lots, noteId() .. WANTING_LOT, wanting)
  redis.call('PEXPIRE', KEY.owed_lots, OWED_LOTS_KEPT_MS)
  return wanting
end

-- The notes (noteOwed) a redemption made at `since` (its id's 10 time characters) may settle:
-- those noted since, in field order (time, then lot). A field written before 2026-12-06 is a lot
-- field alone (its 14th character the lot's '|'), of no known time: taken as noted since.
-- Each note {field, lot, left} (noteOwed) or {field, lot, targets} (noteInstead: the 27th
-- character '>'), in field order: the order they were made in.
local function owedNotes(since)
  local flat = redis.call('HGETALL', KEY.owed_lots)
  local notes = {}
  for i = 1, #flat, 2 do
    local field = flat[i]
    local untimed = string.sub(field, 14, 14) == '|'
    if untimed or not bytesBefore(string.sub(field, 1, 10), since) then
      if not untimed and string.sub(field, 27, 27) == '>' then
        notes[#notes + 1] = {field = field, lot = string.sub(field, 28), targets = cjson.decode(flat[i + 1])}
      else
        notes[#notes + 1] = {field = field, lot = untimed and field or string.sub(field, 27), left = tonumber(flat[i + 1])}
      end
    end
  end
  table.sort(notes, function(a, b) return bytesBefore(a.field, b.field) end)
  return notes
end

-- A redemption's reversal (reversal.lua) of `lots` ({field, amount}, what it took), made at
-- `since`: each lot's amount followed through the notes claw-backs made since, in the order they
-- made them. A lot taken instead (noteInstead) passes its amount on to the other lot, as far as
-- it goes; what a claw-back took from open for a lot (noteOwed) is settled from what that lot
-- holds by then, and stays in open. So a redeemed lot's share a refund took from the sale's other
-- lot, which the sale's reversal then found short and took from open, is followed there and
-- settled; and a note of a lot this redemption never reached (another redemption's doing) is
-- left alone: settled by any note, up to the redemption's amount (a first version), a
-- redemption's reversal left its own merchant-pool lot short and open money in its place, and the
-- other redemption's reversal then brought back a reversed sale's lot (a black-box probe,
-- 2026-12-06). Returns what it settles, what goes back where ({field, amount}: its lots first,
-- then the others as reached), and the notes (writeOwed writes those changed once it is sure).
local function settleOwed(lots, since)
  local notes = owedNotes(since)
  local order, amount = {}, {}
  local function add(field, n)
    if amount[field] == nil then
      order[#order + 1] = field
      amount[field] = 0
    end
    amount[field] = amount[field] + n
  end
  for _, lot in ipairs(lots) do add(lot[1], lot[2]) end
  local settled = 0
  for _, n in ipairs(notes) do
    if n.targets then
      for _, t in ipairs(n.targets) do
        local m = math.min(t[2], amount[n.lot] or 0)
        if m > 0 then
          t[2], n.changed, amount[n.lot] = t[2] - m, true, amount[n.lot] - m
          add(t[1], m)
        end
      end
    elseif n.lot == WANTING_LOT then
      for _, field in ipairs(order) do
        local s = math.min(n.left, amount[field])
        if s > 0 then
          n.left, n.changed, amount[field] = n.left - s, true, amount[field] - s
          settled = settled + s
        end
      end
    else
      local s = math.min(n.left, amount[n.lot] or 0)
      if s > 0 then
        n.left, n.changed, amount[n.lot] = n.left - s, true, amount[n.lot] - s
        settled = settled + s
      end
    end
  end
  local given = {}
  for _, field in ipairs(order) do given[#given + 1] = {field, amount[field]} end
  return settled, given, notes
end

-- settleOwed's notes written: each changed one as left, or gone.
local function writeOwed(notes)
  for _, n in ipairs(notes) do
    if n.changed and n.targets then
      local targets = {}
      for _, t in ipairs(n.targets) do if t[2] > 0 then targets[#targets + 1] = t end end
      if #targets > 0 then redis.call('HSET', KEY.owed_lots, n.field, lotsJson(targets)) else redis.call('HDEL', KEY.owed_lots, n.field) end
    elseif n.changed and n.left > 0 then redis.call('HSET', KEY.owed_lots, n.field, int(n.left))
    elseif n.changed then redis.call('HDEL', KEY.owed_lots, n.field) end
  end
end

-- The lots a redemption's reversal gives back: settleOwed's, less `less` (the commerce debt it
-- pays) off the latest of them first.
local function lotsBack(given, less)
  local back = {}
  for i = #given, 1, -1 do
    local off = math.min(given[i][2], less)
    less = less - off
    if given[i][2] > off then table.insert(back, 1, {given[i][1], given[i][2] - off}) end
  end
  return back
end

-- Take `want` from the purchase's own lots: each its share as far as it holds, then what is
-- still wanted (a share a lot lacked and no expiry wrote off: redeemed) from what they hold
-- beyond, in their order, up to what the purchase put in each (a lot of two sales dated the same
-- second is one). Returns what it took from which lot ({field, amount}), and what of that beyond
-- their shares.
local function takeOwnLots(own, there, share, want)
  local took, taken, from, whole, beyond = {}, 0, {}, {}, {}
  for i in ipairs(own) do
    took[i] = math.max(0, math.min(share[i], there[i], want - taken))
    taken = taken + took[i]
  end
  for i, lot in ipairs(own) do
    local more = math.max(0, math.min(math.min(there[i], lot[2]) - took[i], want - taken))
    took[i] = took[i] + more
    taken = taken + more
    if more > 0 then beyond[#beyond + 1] = {lot[1], more} end
    if took[i] > 0 then
      if took[i] == there[i] then whole[#whole + 1] = lot[1] else redis.call('HINCRBY', KEY.lots, lot[1], -took[i]) end
      from[#from + 1] = {lot[1], took[i]}
    end
  end
  dropLots(whole)
  return from, beyond
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
  if claw <= 0 then return 0, 0, 'null', 0, 0, 'null' end
  local there, share, written = ownShares(o, own, claw, before, after)
  local expired, lacked, lacked_all = 0, {}, 0
  for i in ipairs(own) do
    expired = expired + written[i]
    lacked[i] = math.max(0, share[i] - written[i] - there[i])
    lacked_all = lacked_all + lacked[i]
  end
  local amount = claw - expired
  local open, commerce = balances()
  local owed = owedOf(lacked_all, open, commerce, amount, open_first)
  local open_back = math.max(0, math.min(open_first or 0, amount, open))
  open = open - open_back
  amount = amount - open_back
  local from_commerce = math.min(amount, math.max(commerce, 0))
  local from, substitutes = takeOwnLots(own, there, share, from_commerce)
  local taken = 0
  for _, f in ipairs(from) do taken = taken + f[2] end
  if from_commerce > taken then
    local _, others = takeLots(eligibleLots(nil, nil, from_commerce - taken), from_commerce - taken)
    for _, f in ipairs(others) do
      from[#from + 1] = f
      substitutes[#substitutes + 1] = {f[1], f[2]}
    end
  end
  local instead, lacks_left = noteInstead(own, lacked, owed, substitutes)
  local from_open = math.min(amount - from_commerce, math.max(open, 0))
  local debt = amount - from_commerce - from_open
  owed = owed + debtOwed(lacks_left, owed, debt)
  noteOwed(own, lacks_left, owed)
  owed = owed + noteWanting(from_open + debt - owed)
  if from_commerce + debt > 0 then redis.call('HINCRBY', KEY.contact, 'm', -(from_commerce + debt)) end
  if debt > 0 then redis.call('HINCRBY', KEY.contact, 'md', debt) end
  from_open = from_open + open_back
  if from_open > 0 then redis.call('HINCRBY', KEY.contact, 'o', -from_open) end
  return from_commerce + debt, from_open, #from > 0 and lotsJson(from) or 'null', expired, owed, instead
end
