-- Shared by every shard script (loaded once into the library beside them: hot/library.ts). A
-- shard script moves one contact's money atomically: idempotency, balances, the journal entry
-- and its record, in one round trip. All keys carry the contact's shard hash tag.
--
-- Keys and arguments by name (KEY, ARG: the header generated from the layouts in
-- processor/hot/shard-script.ts, every shard script's, and <script>.ts, the script's own):
-- KEY.contact hash   KEY.lots hash   KEY.lot_order the lots by expiry (see indexLots)
-- KEY.records the record hashes of the request's reference, this period first (see references.ts)
-- KEY.pending this transaction id -> its journal entry's id, until the ledger has it
-- KEY.journal stream
-- ARG.record_field the reference's record field   ARG.business_id   ARG.id transaction id
-- ARG.now_ms   ARG.record_ttl_ms ttl of this period's record hash   ARG.journal_length_max
-- ARG.pending_ttl_s   ARG.reply reply template   ARG.entry journal entry template
--
-- Templates are JSON written by Node with \1name\1 holes for what only the script knows (the
-- balances after, amounts clawed back, postings): hot/template.ts.
--
-- Contact hash fields: b business, o open balance, m commerce balance (= lots - md),
-- md commerce debt (from claw-backs, settled by later awards), x spend blocked.
-- Lots hash: '<expiry ms, 13 digits>|<pool>' -> amount > 0; sorting the fields sorts by expiry.
-- Lot order (a contact's lots past LOTS_UNINDEXED_MAX): sorted set, score the expiry ms, member the
-- lot's field; equal scores sort by member, so it orders lots exactly as sorting their fields does.
-- A record: '<transaction id without txn_>|<kind letter>|amount|awarded|paid|discount||to_open'
-- (the empty field held a fee in records written before 2026-12-04), zeros left empty and
-- trailing ones left out, or '!' for an original reversed before it arrived (references.ts parses it).

-- NOW is the call's ARG.now_ms (hot/library.ts sets it before the script runs).

-- Integers as text without Lua's %.14g exponent form.
local function int(n) return string.format('%d', n) end

-- Byte order, whatever the locale Redis runs in (Lua's < on strings is strcoll): rebuild's
-- replay sorts notes alike (Buffer.compare).
local function bytesBefore(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- The time in ms of an id's 10 time characters (core/ids.ts: Crockford's base32, lower case).
local ID_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'
local function idTimeMs(chars)
  local ms = 0
  for i = 1, 10 do ms = ms * 32 + string.find(ID_ALPHABET, string.sub(chars, i, i), 1, true) - 1 end
  return ms
end

-- An id's 10 time characters for `ms` (core/ids.ts base32Time).
local function idTimeChars(ms)
  local chars = {}
  for i = 10, 1, -1 do
    local digit = ms % 32
    chars[i] = string.sub(ID_ALPHABET, digit + 1, digit + 1)
    ms = (ms - digit) / 32
  end
  return table.concat(chars)
end

-- The latest note a claw-back filed in `owed_key` (claw-back.lua noteOwed, noteInstead): its
-- field's first 26 characters (an id: time, then randomness), nil if none. A field of before
-- 2026-12-06 is a lot alone, of no time (its 14th character the lot's '|'), and is passed over.
-- Most contacts hold none: EXISTS first, so that a redemption's commands stay those of its lots
-- (test/big-contact.test.ts counts its HKEYS: none, as no lot field list is read).
local function latestNote(owed_key)
  if redis.call('EXISTS', owed_key) == 0 then return nil end
  local latest
  for _, field in ipairs(redis.call('HKEYS', owed_key)) do
    if string.sub(field, 14, 14) ~= '|' then
      local noted = string.sub(field, 1, 26)
      if latest == nil or bytesBefore(latest, noted) then latest = noted end
    end
  end
  return latest
end

local function fill(template, values)
  return (string.gsub(template, '[\1\2](%w+)[\1\2]', values))
end

-- The record under `field` in the hashes `keys` (one reference's three periods).
local function findRecord(keys, field)
  for _, key in ipairs(keys) do
    local v = redis.call('HGET', key, field)
    if v then return v end
  end
  return nil
end

-- The pending pointer of transaction `id` (same shard, so same slot as KEY.pending).
local function pendingKey(id)
  return string.match(KEY.pending, '^(.-}:)') .. id
end

-- A repeated request: its reply from the journal while the ledger has not recorded it, with the
-- entry's id (DURABILITY=sync records it before answering), else {'recorded', id} (Node reads the
-- reply from the ledger).
local function replayOf(record)
  local id = 'txn_' .. string.sub(record, 1, string.find(record, '|', 1, true) - 1)
  local journal_id = redis.call('GET', pendingKey(id))
  if journal_id then
    local found = redis.call('XRANGE', KEY.journal, journal_id, journal_id)
    if found[1] then
      local fields = found[1][2]
      for i = 1, #fields, 2 do
        if fields[i] == 'r' then return {'replay', fields[i + 1], journal_id} end
      end
    end
  end
  return {'recorded', id}
end

-- Stream ids compared as numbers ('<ms>-<seq>').
local function idBelow(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end

-- Trim the journal below its oldest entry the ledger may not have (as the writer's trim does,
-- processor/ledger/writer.ts): the oldest pending one of the writers' group ('ledger',
-- journal_group in keys.ts), or the first it has not delivered. No group: nothing is recorded.
local function trimRecorded()
  local last_delivered
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEY.journal)) do
    local fields = {}
    for i = 1, #group, 2 do fields[group[i]] = group[i + 1] end
    if fields['name'] == 'ledger' then last_delivered = fields['last-delivered-id'] end
  end
  if not last_delivered then return end
  local ms, seq = string.match(last_delivered, '^(%d+)-(%d+)$')
  local min_id = ms .. '-' .. int(tonumber(seq) + 1)
  local pending = redis.call('XPENDING', KEY.journal, 'ledger')
  if pending[1] > 0 and pending[2] and idBelow(pending[2], min_id) then min_id = pending[2] end
  redis.call('XTRIM', KEY.journal, 'MINID', min_id)
end

-- The refusal as the ledger keeps it (processor/refusals.ts Refusal): the request's own journal
-- entry, which names its business, terminal, reference, claim hash, contact and time, with its
-- holes null, a refusal's id and the code. Only what a template holds, so no JSON is parsed here.
local function refusalJson(code)
  local entry = string.gsub(string.gsub(ARG.entry, '\1%w+\1', 'null'), '\2%w+\2', '')
  assert(string.sub(entry, 1, 11) == '{"id":"txn_', 'a journal entry starts with its transaction id')
  return '{"id":"rfs_' .. string.sub(entry, 12, -2) .. ',"code":"' .. code .. '"}'
end

-- Idempotency and the checks every command makes before touching money. Returns a reply table to
-- return at once, or nil to go on. A request that differs from the one that took its reference
-- never gets here: its claim (claim.lua, before this script) refused it.
local function prologue()
  -- Every script that may commit is given its reply and entry; an empty one committed is a reply
  -- that says nothing and an entry the ledger cannot record. Refused before anything is written
  -- (a Lua error after a write would leave the write).
  if ARG.reply == '' or ARG.entry == '' then return {'no_template'} end
  local prior = findRecord(KEY.records, ARG.record_field)
  -- Reversed while on its way here, its reference already claimed (see reversal.lua): refused,
  -- and journaled for the ledger as every refusal is (the mark stays: no record is written).
  if prior == '!' then
    redis.call('XADD', KEY.journal, '*', 'x', refusalJson('already_reversed'))
    return {'refused', 'already_reversed'}
  end
  -- Refused before (see refuse): the same refusal again, as a replay.
  if prior and string.sub(prior, 1, 1) == '-' then return {'refused', string.sub(prior, 2), 'replayed'} end
  if prior then return replayOf(prior) end
  -- A token naming another business's contact would be a collision: never touch that wallet.
  if redis.call('HGET', KEY.contact, 'b') ~= ARG.business_id then return {'contact_not_found'} end
  -- A journal the ledger writer is not draining must not grow without bound: refused past
  -- journal_length_max entries behind the ledger (OPERATIONS.md). The stream also holds entries
  -- the ledger has (the writer trims them once a second): at the bound, those go first.
  local length = redis.call('XLEN', KEY.journal)
  if length >= ARG.journal_length_max and length > 0 then
    trimRecorded()
    length = redis.call('XLEN', KEY.journal)
  end
  if length >= ARG.journal_length_max then return {'unavailable'} end
  return nil
end

-- A refusal the request earned on its merits (the wallet's funds, its OTP, its original's state),
-- remembered under its reference as a transaction is ('-' and the code), so that a repeat gets the
-- same answer (API.md: the original status and body) while the hot window remembers it; the
-- request's claim already holds its body's hash, so only the same body gets here again. Journaled
-- for the ledger in the same call, as a transaction is: Node appending it after the answer lost it
-- to a kill in between, and its repeat, answered from the record, was forgotten by a rebuild
-- (the black-box audit of 2026-12-03).
local function refuse(code)
  local refusal = refusalJson(code)
  redis.call('HSET', KEY.records[1], ARG.record_field, '-' .. code)
  redis.call('PEXPIRE', KEY.records[1], ARG.record_ttl_ms, 'NX')
  redis.call('XADD', KEY.journal, '*', 'x', refusal)
  return {'refused', code}
end

local function balances()
  local v = redis.call('HMGET', KEY.contact, 'o', 'm')
  return tonumber(v[1] or '0'), tonumber(v[2] or '0')
end

-- A contact's lots are also kept in expiry order (KEY.lot_order) once it holds more than this
-- many, so that a redemption, a claw-back and the sweeper read only the earliest lots they take:
-- a customer buying every day holds thousands of lots, each to the second, and reading and
-- sorting them all took 12 ms of Redis per redemption at 4,196 lots (the review "bigcontact"),
-- while every other script waited. Below it, reading and sorting every lot costs less than
-- keeping the order beside them (a key more per contact, a write more per award).
-- What holds: every member of the lot order is a field of the lots hash (whoever takes a lot out
-- takes it out of both: dropLots), so an order as long as the hash orders every lot.
-- The same as keys.ts lots_unordered_max (rebuild writes the order past it).
local LOTS_UNINDEXED_MAX = 64
-- Lots read from the order per call (ZRANGE, HMGET): a redemption of a little reads a batch.
local LOTS_READ_BATCH = 128
-- Lots per ZADD, HDEL or ZREM of many, within what Lua's unpack can spread (8,000 values).
local LOTS_WRITE_BATCH = 1000

local function expiryOf(field) return tonumber(string.sub(field, 1, 13)) end

-- Put lots into the lot order: `fields` a list, or `lots` of {field, amount} (at = 1).
local function orderLots(list, at)
  for first = 1, #list, LOTS_WRITE_BATCH do
    local args = {}
    for i = first, math.min(first + LOTS_WRITE_BATCH - 1, #list) do
      local field = at and list[i][at] or list[i]
      args[#args + 1] = expiryOf(field)
      args[#args + 1] = field
    end
    redis.call('ZADD', KEY.lot_order, unpack(args))
  end
end

-- Make the lot order complete for a hash of `n` lots: unless it is as long, it is built anew from
-- the hash (its first use past LOTS_UNINDEXED_MAX; or lots written by rebuild or an earlier
-- version, which keep only the hash).
local function indexLots(n)
  if redis.call('ZCARD', KEY.lot_order) == n then return end
  redis.call('DEL', KEY.lot_order)
  orderLots(redis.call('HKEYS', KEY.lots))
end

-- Add to lots: `adds` a list of {field, amount > 0}, each field once.
local function addLots(adds)
  if #adds == 0 then return end
  local n = redis.call('HLEN', KEY.lots)
  if n + #adds > LOTS_UNINDEXED_MAX then
    indexLots(n)
    orderLots(adds, 1)
  end
  for _, a in ipairs(adds) do redis.call('HINCRBY', KEY.lots, a[1], a[2]) end
end

-- Take whole lots out (their fields), of the hash and of the order.
local function dropLots(fields)
  for first = 1, #fields, LOTS_WRITE_BATCH do
    local last = math.min(first + LOTS_WRITE_BATCH - 1, #fields)
    redis.call('HDEL', KEY.lots, unpack(fields, first, last))
    redis.call('ZREM', KEY.lot_order, unpack(fields, first, last))
  end
end

-- The lots from the order, earliest first, from rank `rank` (0-based), that `admit` lets through,
-- until they add up to `want` (nil: all). Returns them as {field, amount} and their sum. Read by
-- rank, a batch at a time: each read costs the batch, not the lots before it (an offset would).
local function orderedLots(rank, admit, want)
  local lots, sum = {}, 0
  while true do
    local fields = redis.call('ZRANGE', KEY.lot_order, rank, rank + LOTS_READ_BATCH - 1)
    if #fields == 0 then return lots, sum end
    local amounts = redis.call('HMGET', KEY.lots, unpack(fields))
    for i, field in ipairs(fields) do
      local amount = tonumber(amounts[i] or '0')
      if amount > 0 and admit(field) then
        lots[#lots + 1] = {field, amount}
        sum = sum + amount
        if want ~= nil and sum >= want then return lots, sum end
      end
    end
    if #fields < LOTS_READ_BATCH then return lots, sum end
    rank = rank + #fields
  end
end

-- Every lot, read and sorted by field (so by expiry): for a contact of few lots. The lot order, if
-- one was kept while it held more, is dropped: this path does not keep it.
local function sortedLots(admit)
  redis.call('DEL', KEY.lot_order)
  local flat = redis.call('HGETALL', KEY.lots)
  local lots, sum = {}, 0
  for i = 1, #flat, 2 do
    local field, amount = flat[i], tonumber(flat[i + 1])
    if admit(field) then
      lots[#lots + 1] = {field, amount}
      sum = sum + amount
    end
  end
  table.sort(lots, function(a, b) return a[1] < b[1] end)
  return lots, sum
end

-- Lots, earliest expiry first: for a redemption at `merchant_code` ('' for the business's own
-- venues) those usable now that the pool rule allows (no pool; or a pool not in `restricted`, the
-- set of the business's pools named after one of its merchant codes; or the merchant's own
-- pool); for a claw-back (merchant_code nil) every lot, expired ones too while the sweeper has not
-- expired them yet (they still count in m). Enough of them to add up to `want` (nil: all; fewer
-- if they do not reach it), and their sum.
local function eligibleLots(merchant_code, restricted, want)
  local function admit(field)
    if merchant_code == nil then return true end
    local pool = string.sub(field, 15)
    return expiryOf(field) > NOW and (pool == '' or pool == merchant_code or not restricted[pool])
  end
  local n = redis.call('HLEN', KEY.lots)
  if n <= LOTS_UNINDEXED_MAX then return sortedLots(admit) end
  indexLots(n)
  -- A redemption starts after the lots expired already (not swept yet), a claw-back at the first.
  local rank = merchant_code == nil and 0 or redis.call('ZCOUNT', KEY.lot_order, '-inf', int(NOW))
  return orderedLots(rank, admit, want)
end

-- Take up to `want` from the given lots in order; returns the amount taken and what came from
-- which lot ({field, amount}, to give it back on a reversal).
local function takeLots(lots, want)
  local taken, from, whole = 0, {}, {}
  for _, lot in ipairs(lots) do
    if taken >= want then break end
    local take = math.min(lot[2], want - taken)
    if take == lot[2] then whole[#whole + 1] = lot[1] else redis.call('HINCRBY', KEY.lots, lot[1], -take) end
    taken = taken + take
    from[#from + 1] = {lot[1], take}
  end
  dropLots(whole)
  return taken, from
end

-- A lot field holds its pool's name, which is the business's text: any character, '"' and '\'
-- among them, so it is escaped as JSON (a reversal decodes this list to give the lots back).
local function lotsJson(from)
  local parts = {}
  for i, f in ipairs(from) do parts[i] = '[' .. cjson.encode(f[1]) .. ',' .. int(f[2]) .. ']' end
  return '[' .. table.concat(parts, ',') .. ']'
end

local function posting(debit, credit, amount)
  return '["' .. debit .. '","' .. credit .. '",' .. int(amount) .. ']'
end

-- A record's tail: the kind letter and its amounts (amount, awarded, paid, discount, 0, to_open), zeros
-- left empty and trailing ones left out (readers take a missing amount as 0): a byte or two a
-- transaction, for as long as the window remembers it.
local function recordOf(kind, ...)
  local parts, last = {kind}, 1
  for i, v in ipairs({...}) do
    if v == 0 then
      parts[i + 1] = ''
    else
      parts[i + 1] = int(v)
      last = i + 1
    end
  end
  return table.concat(parts, '|', 1, last)
end

-- Append the journal entry, record the transaction (what refunds and reversals read of it:
-- `record`, from recordOf), keep the entry findable by
-- transaction id until the ledger has it (a pointer into the journal, not a copy). The reply is
-- kept once, in the journal; the ledger keeps it after.
-- Answers {'ok', reply, journal entry id}; scripts append their own answers after these.
local function commit(values, record)
  local open, commerce = balances()
  values.open = int(open)
  -- expired_back: commerce money this commit gave back (reversal.lua) or awarded (applyAwards)
  -- already expired, which Node expires at once after it: the wallet answered leaves it out.
  values.commerce = int(commerce - (values.expired_back or 0))
  local reply = fill(ARG.reply, values)
  local entry = fill(ARG.entry, values)
  local journal_id = redis.call('XADD', KEY.journal, '*', 'e', entry, 'r', reply)
  redis.call('HSET', KEY.records[1], ARG.record_field, string.sub(ARG.id, 5) .. '|' .. record)
  -- NX: set once, by the hash's first record, so that it expires a window after its period.
  redis.call('PEXPIRE', KEY.records[1], ARG.record_ttl_ms, 'NX')
  redis.call('SET', KEY.pending, journal_id, 'EX', ARG.pending_ttl_s)
  return {'ok', reply, journal_id}
end

local kind_names = {p = 'purchase', s = 'spend', r = 'redemption', f = 'refund', v = 'reversal', a = 'award', x = 'expiry'}

-- A record's value (see commit) as a table: id, kind (its name), amount, awarded, paid,
-- discount, to_open (of a purchase's awards, what went into the open balance: instant_redeem;
-- recorded since 2026-12-04, 0 before). The seventh field is left empty: records written before
-- 2026-12-04 hold the fee there, read by nothing since refunds and reversals give a fee back from
-- these amounts (feeBaseOf).
local function parseRecord(value)
  local f = {}
  for part in string.gmatch(value .. '|', '([^|]*)|') do f[#f + 1] = part end
  local function n(i) return tonumber(f[i] ~= nil and f[i] ~= '' and f[i] or '0') end
  return {id = 'txn_' .. f[1], kind = kind_names[f[2]], amount = n(3), awarded = n(4), paid = n(5), discount = n(6), to_open = n(8)}
end

-- The original of a refund or reversal: its record under `field` in `keys` (the hot window),
-- else `ledger`, the same as Node read it from the ledger (nil if Node found its reference
-- claimed). Returns the original as parseRecord does, or nil and the record ('!': marked
-- reversed before it arrived; nil: claimed but not recorded).
local function originalOf(keys, field, ledger)
  local v = findRecord(keys, field)
  -- Marked reversed before it arrived, or a request that was refused: no transaction.
  if v == '!' or (v and string.sub(v, 1, 1) == '-') then return nil, v end
  if v then return parseRecord(v), v end
  if ledger then return ledger, 'ledger' end
  return nil, nil
end

-- The state key of transaction `id` on this shard (hot/keys.ts stateKey): named here, where the
-- id is first known; same hash tag as the contact's key, so the same slot.
local function stateKeyOf(id)
  return 'v:' .. string.match(KEY.contact, '^c:({[^}]*})') .. ':' .. id
end

-- What refunds and reversals have done to an original so far, from its state hash (fields rf, cw,
-- cp, dr, rv, lots): {refunded, clawed (what expired of it included), returned (of its wallet
-- payment), discount_returned, reversed, lots (a redemption's, JSON; nil if none)}. The fee given
-- back is not kept: it follows from these (refund-shares.lua). States written before 2026-12-04
-- may hold an `fr`, read by nothing.
-- `init` is what the ledger holds of it (hot/original.ts), given by Node when the hot path no
-- longer remembers the original; it is used only if the state is not here.
local function originalState(key, init)
  if init and redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'rf', int(init.refunded), 'cw', int(init.clawed), 'cp', int(init.returned),
      'dr', int(init.discount_returned), 'rv', init.reversed and '1' or '')
    if (init.clawed_open or 0) > 0 then redis.call('HSET', key, 'co', int(init.clawed_open)) end
    -- Kept as long as the hot window, whether the call then changes it or refuses: a refused one
    -- left it for ever (a review, 2026-12-04).
    redis.call('PEXPIRE', key, ARG.record_ttl_ms)
  end
  local v = redis.call('HMGET', key, 'rf', 'cw', 'cp', 'dr', 'rv', 'lots', 'co', 'since')
  local function n(i) return tonumber(v[i] ~= false and v[i] ~= '' and v[i] or '0') end
  -- 'co': what refunds' claw-backs took from the open balance (commerce first: only what commerce
  -- lacked), so that a reversal knows what of the instant awards is still there to take back.
  -- 'since': a redemption's, where redeem.lua raised it past its id's time.
  return {refunded = n(1), clawed = n(2), returned = n(3), discount_returned = n(4), reversed = v[5] == '1', lots = v[6] or nil, clawed_open = n(7), since = v[8] or nil}
end

-- Whether this contact may spend `amount` now (by OTP `otp` when method is 'otp'): nil if so,
-- else the refusal's code. otp_key is the contact's OTP hash: code -> '<amount>|<expires ms>'.
local function spendRefusal(amount, method, otp, otp_key)
  if redis.call('HGET', KEY.contact, 'x') == '1' then return 'spend_blocked' end
  if method == 'otp' then
    local v = redis.call('HGET', otp_key, otp)
    if not v then return 'otp_invalid' end
    local bar = string.find(v, '|', 1, true)
    if tonumber(string.sub(v, bar + 1)) <= NOW then return 'otp_expired' end
    -- The OTP authorises a spend of at most its amount.
    if amount > tonumber(string.sub(v, 1, bar - 1)) then return 'otp_invalid' end
  end
  local open = tonumber(redis.call('HGET', KEY.contact, 'o') or '0')
  if open < amount then return 'insufficient_funds' end
  return nil
end

local function spendApply(amount, method, otp, otp_key)
  -- Used once, even for less than its amount.
  if method == 'otp' then redis.call('HDEL', otp_key, otp) end
  redis.call('HINCRBY', KEY.contact, 'o', -amount)
end

local function joinPostings(a, b)
  if a == '' then return b end
  if b == '' then return a end
  return a .. ',' .. b
end

-- Wallet money given back (a spend voided; a purchase's wallet payment returned by its refunds
-- or reversal): into the open balance, commerce debt first, as an award's money goes. Had the
-- payment never been made, the claw-back that made the debt would have found it in open; put
-- beside the debt, it could be spent again while the debt stood (black-box probes, 2026-12-06:
-- a spend's reversal 500 / -500 where 0 / 0 was due; a paid purchase's reversal 100 / -200 where
-- 0 / -100 was due). Rebuild's replay takes what the postings move into commerce off the debt.
-- Returns its postings.
local function backToOpen(amount, spends_account, open_account, commerce_account)
  if amount <= 0 then return '' end
  local debt = tonumber(redis.call('HGET', KEY.contact, 'md') or '0')
  local debt_paid = math.min(amount, debt)
  if amount > debt_paid then redis.call('HINCRBY', KEY.contact, 'o', int(amount - debt_paid)) end
  local postings = posting(spends_account, open_account, amount)
  if debt_paid > 0 then
    redis.call('HINCRBY', KEY.contact, 'm', int(debt_paid))
    if debt_paid == debt then redis.call('HDEL', KEY.contact, 'md') else redis.call('HINCRBY', KEY.contact, 'md', int(-debt_paid)) end
    postings = joinPostings(postings, posting(open_account, commerce_account, debt_paid))
  end
  return postings
end

-- amount × bp / 10000, floored, exact for amounts up to 12 digits (Lua numbers are doubles).
local function applyBasisPoints(amount, bp)
  return math.floor(amount / 10000) * bp + math.floor((amount % 10000) * bp / 10000)
end

-- A merchant's contribution fee of bp basis points on `base`, in two parts: its whole minor units
-- and what the floor leaves, in 1/10000 of a unit ((base × bp) div and mod 10000, exact as above).
local function feeParts(base, bp)
  if base <= 0 or bp <= 0 then return 0, 0 end
  return applyBasisPoints(base, bp), ((base % 10000) * bp) % 10000
end

-- The base of the fee a transaction (a record, parseRecord) was charged at a merchant that
-- settles on `on` ('award', 'spend', '' at the business's own venues): what the business awarded
-- (cashback and discount), or the wallet money paid in.
local function feeBaseOf(o, on)
  if on == 'award' and o.kind == 'purchase' then return o.awarded + o.discount end
  if on == 'spend' then return o.kind == 'spend' and o.amount or o.paid end
  return 0
end

-- Floored on each transaction alone, a merchant whose customers earn small awards paid no fee at
-- all (10% of an award of 9 is 0, every time). What each floor leaves is carried instead, per
-- merchant on the shard (`carries`: the shard's hash of fees account → carry in 1/10000 of a
-- unit): chargeFee charges the whole part (whole, rem: feeParts) and a unit more when the carry
-- makes one; returnFee gives back a refund's or reversal's share of it (whole, rem) and a unit
-- more when the carry lacks rem. So on every shard a merchant's fees, net of what was given
-- back, times 10000, plus its carry, are the exact sum: a reversal leaves the carry as if the
-- sale never happened (the money audit of 2026-12-04 reversed every sale charged a unit and
-- rang it again, and paid no fee at all while returns left the carry alone).
local function moveCarry(carries, account, rem)
  local carry = tonumber(redis.call('HGET', carries, account) or '0') + rem
  local units = math.floor(carry / 10000)
  carry = carry - units * 10000
  if carry == 0 then redis.call('HDEL', carries, account) else redis.call('HSET', carries, account, int(carry)) end
  return units
end

local function chargeFee(carries, account, whole, rem)
  if account == '' then return 0 end
  if rem == 0 then return whole end
  return whole + moveCarry(carries, account, rem)
end

local function returnFee(carries, account, whole, rem)
  if account == '' then return 0 end
  if rem == 0 then return whole end
  return whole - moveCarry(carries, account, -rem)
end

-- A contact's cap counters are kept per offer and period: without this, buying every day at a
-- daily-capped offer would add a counter a day for ever. When a counter of a new period is made
-- and the contact holds more than CAPS_UNPRUNED_MAX, those of periods no purchase can be counted
-- in any more (before `kept`, by kind letter: core/cap-periods.ts, where the rule is tested) go.
-- Lifetime and once counters stay.
local CAPS_UNPRUNED_MAX = 16
local function pruneCaps(caps_key, kept)
  if redis.call('HLEN', caps_key) <= CAPS_UNPRUNED_MAX then return end
  local old = {}
  for _, field in ipairs(redis.call('HKEYS', caps_key)) do
    local period = string.sub(field, (string.find(field, '|', 1, true) or 0) + 1)
    local from = kept[string.sub(period, 1, 1)]
    if from and #period == #from and period < from then old[#old + 1] = field end
  end
  for first = 1, #old, LOTS_WRITE_BATCH do
    redis.call('HDEL', caps_key, unpack(old, first, math.min(first + LOTS_WRITE_BATCH - 1, #old)))
  end
end

-- What each award's guard and cap admit (admitted[i]), and of each resolution group (group > 0)
-- the best-placed award admitted (best[group]): the next best stands in for a winner its cap
-- refuses. Reads only; applyAwards makes them.
local function admitAwards(awards, first_purchase, caps_key, discount_room, wallet_room, times_key)
  local admitted, best = {}, {}
  for i, a in ipairs(awards) do
    local ok = true
    if a.guard == 'first_purchase' and not first_purchase then ok = false end
    -- First of its local day: no purchase (not reversed) in [since, before), whenever it was
    -- processed (a sale of the day forwarded after a purchase of the next is still its first).
    if a.guard == 'first_of_day' and (not times_key or redis.call('ZCOUNT', times_key, a.since, '(' .. int(a.before)) > 0) then ok = false end
    if ok and a.cap ~= '' and tonumber(redis.call('HGET', caps_key, a.cap) or '0') >= a.limit then ok = false end
    -- A group's discount with nothing to take off (the wallet pays the whole price): the next best.
    if ok and a.kind == 'd' and a.group > 0 and discount_room <= 0 then ok = false end
    -- Likewise a group's credit with no room left in the wallet (a discount may stand in).
    if ok and a.kind ~= 'd' and a.group > 0 and wallet_room <= 0 then ok = false end
    admitted[i] = ok
    local g = a.group
    if ok and g > 0 and (best[g] == nil or a.place < awards[best[g]].place) then best[g] = i end
  end
  return admitted, best
end

-- The most a contact's open and commerce balances may hold together after an award: the same as
-- core/money.ts wallet_balance_max. Lua numbers are doubles: past 2^53 a balance read or summed
-- here is off (a black-box probe's wallet showed one unit off at 9.2e15), and 15 digits leave any
-- amount room to be added exactly. Refunds and reversals giving money back may pass it.
local WALLET_BALANCE_MAX = 999999999999999

-- An award cut to `room`, what is left for it: its amount and reply JSON (the amount trimmed), or
-- nil when nothing is left (it is not made).
local function cutTo(room, amount, json)
  if amount <= room then return amount, json end
  if room <= 0 then return nil end
  return room, (string.gsub(json, '"amount":%d+', '"amount":' .. int(room), 1))
end

-- A credit award (kind 'c': commerce lot; 'o': open, instant_redeem) of `amount` added to
-- `credits` (applyAwards'), nothing written yet: commerce debt (from claw-backs) is settled first,
-- whichever balance the award lands in; the rest goes into the award's lot or into open.
local function creditAward(credits, kind, amount, field, accounts)
  local settle = math.min(credits.debt, amount)
  credits.debt = credits.debt - settle
  credits.settled = credits.settled + settle
  local postings = credits.postings
  if kind == 'c' then
    credits.to_commerce = credits.to_commerce + amount
    if amount > settle then
      local lot_add = credits.lot_add
      if lot_add[field] == nil then
        credits.lot_fields[#credits.lot_fields + 1] = field
        lot_add[field] = 0
      end
      lot_add[field] = lot_add[field] + amount - settle
    end
    local expiry = tonumber(string.sub(field, 1, 13))
    if expiry < credits.earliest then credits.earliest = expiry end
    postings[#postings + 1] = posting(accounts.rewards, accounts.commerce, amount)
    return
  end
  if settle > 0 then
    credits.to_commerce = credits.to_commerce + settle
    postings[#postings + 1] = posting(accounts.rewards, accounts.commerce, settle)
  end
  if amount > settle then
    credits.to_open = credits.to_open + amount - settle
    postings[#postings + 1] = posting(accounts.rewards, accounts.open, amount - settle)
  end
end

-- Awards Node evaluated, each checked here against what only the shard knows, atomically: its
-- guard (first purchase ever, first purchase of the day, once) and its per-contact cap. `awards`
-- as the layout names them (hot/awards.ts): kind ('c' commerce lot, 'o' open, 'd' instant
-- discount), amount, lot field, guard, guard since (ms), cap field ('' for none), cap limit, the
-- award's JSON for the reply, its resolution group (0: none) and place there (1: the best).
-- `accounts`: rewards, and the contact's commerce and open. caps_key: the contact's cap counters; expiry_key: the shard's index of contacts by earliest lot
-- expiry (for the sweeper). `discount_room`: what instant discounts may take off in all (the
-- price less what the wallet pays; 0 where there is no price): an instant discount is made for
-- what is left of it (its amount in the reply trimmed to that), and not at all when nothing is
-- (no cap counted; of a resolution group, the next best stands in), so that the discounts listed
-- add up to the discount (API.md). Likewise a credit (cashback, instant_redeem) is made for what
-- the wallet may still take, so that open + commerce never pass WALLET_BALANCE_MAX (of a group,
-- the next best stands in for one that finds no room). Returns the accepted awards' JSON, cashback
-- and discount totals, their postings, the accepted indexes (0-based) and the amounts they were made for, and
-- the contact's purchases not reversed as it read them (none: this is its first purchase),
-- what went into lots already expired, what went into the open balance (instant_redeem), and
-- what of the credits paid commerce debt (settled, in the awards' order: creditAward).
-- times_key: the contact's purchases by time (purchaseTimesKey), for guard first_of_day.
local function applyAwards(awards, caps_key, caps_kept, expiry_key, accounts, discount_room, times_key)
  -- One read of what the awards depend on and one write per field they change, however many
  -- awards there are: each call is Redis CPU and, for writes, a command in the AOF.
  local h = redis.call('HMGET', KEY.contact, 'fp', 'md', 'o', 'm')
  -- fp: the contact's purchases not reversed (absent: none; '1' also for a contact from before
  -- it was counted).
  local purchases = tonumber(h[1] or '0')
  local first_purchase = purchases <= 0
  local debt_before = tonumber(h[2] or '0')
  -- Debt counts (m is lots less md): an award paying it leaves the wallet no fuller than before.
  local wallet_room = WALLET_BALANCE_MAX - tonumber(h[3] or '0') - tonumber(h[4] or '0')
  local credits = {debt = debt_before, settled = 0, to_commerce = 0, to_open = 0, earliest = 9999999999999, lot_fields = {}, lot_add = {}, postings = {}}
  local parts, accepted, made = {}, {}, {}
  local cashback, discount = 0, 0
  local new_counter = false
  -- First what each award's guard and cap admit; then the awards made, in the order given (the
  -- reply's).
  local admitted, best = admitAwards(awards, first_purchase, caps_key, discount_room, wallet_room, times_key)
  for i, a in ipairs(awards) do
    local kind, amount, field, cap, json = a.kind, a.amount, a.lot, a.cap, a.json
    local make = admitted[i] and (a.group == 0 or best[a.group] == i)
    if make then
      -- A discount within the price's room, a credit within the wallet's.
      amount, json = cutTo(kind == 'd' and discount_room - discount or wallet_room - cashback, amount, json)
      make = amount ~= nil
    end
    if make then
      if cap ~= '' and redis.call('HINCRBY', caps_key, cap, 1) == 1 then new_counter = true end
      if kind == 'd' then
        discount = discount + amount
      else
        cashback = cashback + amount
        creditAward(credits, kind, amount, field, accounts)
      end
      parts[#parts + 1] = json
      accepted[#accepted + 1] = i - 1
      made[#made + 1] = amount
    end
  end
  -- expired: what went into lots already past their expiry (a purchase dated back further than
  -- its award's validity: a processor's clearing), which Node expires at once after the commit
  -- (Expiry.expireDue): the wallet answered leaves it out.
  local expired, adds = 0, {}
  for i, field in ipairs(credits.lot_fields) do
    adds[i] = {field, credits.lot_add[field]}
    if expiryOf(field) <= NOW then expired = expired + credits.lot_add[field] end
  end
  addLots(adds)
  if new_counter then pruneCaps(caps_key, caps_kept) end
  if credits.to_commerce > 0 then redis.call('HINCRBY', KEY.contact, 'm', credits.to_commerce) end
  local debt = credits.debt
  if debt ~= debt_before then
    if debt == 0 then redis.call('HDEL', KEY.contact, 'md') else redis.call('HSET', KEY.contact, 'md', int(debt)) end
  end
  if credits.to_open > 0 then redis.call('HINCRBY', KEY.contact, 'o', credits.to_open) end
  -- LT: the index keeps each contact's earliest expiry.
  if credits.earliest < 9999999999999 then redis.call('ZADD', expiry_key, 'LT', credits.earliest, string.sub(KEY.contact, string.find(KEY.contact, '}:', 1, true) + 2)) end
  return table.concat(parts, ','), cashback, discount, table.concat(credits.postings, ','), accepted, made, purchases, expired, credits.to_open, credits.settled
end

-- The entry's optional `settled` (templates.ts, Hole.optional): what of the awards paid commerce
-- debt before reaching their lots or open, left out when nothing did. A claw-back of the sale
-- then shares over what its lots were given, not over the awards (awards.ts awardLots).
local function settledField(settled)
  if settled <= 0 then return '' end
  return ',"settled":' .. int(settled)
end

-- Value units of tiers: add `units` to the current period of each period kind the business's
-- tiers use, keeping the previous period's total ('<period key>|<units>|<previous units>'). The
-- tier held is derived from these when read (core/tier.ts), so it is never stale.
-- periods: {kind ('m', 'q', 'y'), current, previous, next} each (period keys, as core/tier.ts
-- names them; keys of one kind sort as their periods do). A purchase dated in the period before
-- the counters' (its occurred_at before midnight, the counters already in the next period) counts
-- in their previous period and leaves the current one as it is; one dated earlier still counts in
-- no period a tier reads any more.
local function addTierUnits(units, periods)
  for _, p in ipairs(periods) do
    local kind, current, previous = p.kind, p.current, p.previous
    local stored = redis.call('HGET', KEY.contact, 'u' .. kind)
    local key, now, prev = '', 0, 0
    if stored then
      local b1 = string.find(stored, '|', 1, true)
      local b2 = string.find(stored, '|', b1 + 1, true)
      key, now, prev = string.sub(stored, 1, b1 - 1), tonumber(string.sub(stored, b1 + 1, b2 - 1)), tonumber(string.sub(stored, b2 + 1))
    end
    local write = true
    if key == current then
      now = now + units
    elseif key == p.next then
      prev = prev + units
      current = key
    elseif stored and key > current then
      write = false
    elseif key == previous then
      prev, now = now, units
    else
      prev, now = 0, units
    end
    if write then redis.call('HSET', KEY.contact, 'u' .. kind, current .. '|' .. int(now) .. '|' .. int(prev)) end
  end
end
