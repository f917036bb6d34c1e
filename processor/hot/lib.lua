-- Shared by every shard script (prepended to each when it is loaded). A shard script moves one
-- contact's money atomically: idempotency, balances, the journal entry and its record, in one
-- round trip. All keys carry the contact's shard hash tag.
--
-- KEYS[1] contact hash   KEYS[2] lots hash   KEYS[3..5] the record hashes of the request's
-- reference, this period first (see references.ts)   KEYS[6] this transaction id -> its
-- journal entry's id, until the ledger has it   KEYS[7] journal stream   KEYS[8..] command's own
-- ARGV[1] the reference's record field   ARGV[2] business id   ARGV[3] transaction id
-- ARGV[4] now (ms)   ARGV[5] ttl of this period's record hash (ms)   ARGV[6] journal length max
-- ARGV[7] pending entry ttl s   ARGV[8] reply template   ARGV[9] journal entry template
-- ARGV[10..] command's own
--
-- Templates are JSON written by Node with \1name\1 holes for what only the script knows (the
-- balances after, amounts clawed back, postings). JSON.stringify escapes control characters, so
-- no client-supplied string can contain a hole.
--
-- Contact hash fields: b business, o open balance, m commerce balance (= lots - md),
-- md commerce debt (from claw-backs, settled by later awards), x spend blocked.
-- Lots hash: '<expiry ms, 13 digits>|<pool>' -> amount > 0; sorting the fields sorts by expiry.
-- A record: '<transaction id without txn_>|<kind letter>|amount|awarded|paid|discount|fee', zeros
-- left empty, or '!' for an original reversed before it arrived (references.ts parses it).

local K_CONTACT, K_LOTS, K_PENDING, K_JOURNAL = KEYS[1], KEYS[2], KEYS[6], KEYS[7]
local RECORD_FIELD, BUSINESS, TXN_ID, NOW = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

-- Integers as text without Lua's %.14g exponent form.
local function int(n) return string.format('%d', n) end

local function fill(template, values)
  return (string.gsub(template, '\1(%w+)\1', values))
end

-- The record under `field` in the hashes KEYS[first..first+2] (one reference's three periods).
local function findRecord(first, field)
  for i = first, first + 2 do
    local v = redis.call('HGET', KEYS[i], field)
    if v then return v end
  end
  return nil
end

-- The pending pointer of transaction `id` (same shard, so same slot as K_PENDING).
local function pendingKey(id)
  return string.match(K_PENDING, '^(.-}:)') .. id
end

-- A repeated request: its reply from the journal while the ledger has not recorded it, else
-- {'recorded', id} (Node reads the reply from the ledger).
local function replayOf(record)
  local id = 'txn_' .. string.sub(record, 1, string.find(record, '|', 1, true) - 1)
  local journal_id = redis.call('GET', pendingKey(id))
  if journal_id then
    local found = redis.call('XRANGE', K_JOURNAL, journal_id, journal_id)
    if found[1] then
      local fields = found[1][2]
      for i = 1, #fields, 2 do
        if fields[i] == 'r' then return {'replay', fields[i + 1]} end
      end
    end
  end
  return {'recorded', id}
end

-- Idempotency and the checks every command makes before touching money. Returns a reply table to
-- return at once, or nil to go on. A request that differs from the one that took its reference
-- never gets here: its claim (claim.lua, before this script) refused it.
local function prologue()
  -- Every script that may commit is given its reply and entry; an empty one committed is a reply
  -- that says nothing and an entry the ledger cannot record. Refused before anything is written
  -- (a Lua error after a write would leave the write).
  if ARGV[8] == '' or ARGV[9] == '' then return {'no_template'} end
  local prior = findRecord(3, RECORD_FIELD)
  -- Reversed while on its way here, its reference already claimed (see reversal.lua).
  if prior == '!' then return {'refused', 'already_reversed'} end
  if prior then return replayOf(prior) end
  -- A token naming another business's contact would be a collision: never touch that wallet.
  if redis.call('HGET', K_CONTACT, 'b') ~= BUSINESS then return {'contact_not_found'} end
  -- A journal the ledger writer is not draining must not grow without bound.
  if redis.call('XLEN', K_JOURNAL) >= tonumber(ARGV[6]) then return {'unavailable'} end
  return nil
end

local function balances()
  local v = redis.call('HMGET', K_CONTACT, 'o', 'm')
  return tonumber(v[1] or '0'), tonumber(v[2] or '0')
end

-- Lots, earliest expiry first: for a redemption at `merchant_code` ('' for the business's own
-- venues) those usable now that the pool rule allows; for a claw-back (merchant_code nil) every
-- lot, expired ones too while the sweeper has not expired them yet (they still count in m).
local function eligibleLots(merchant_code)
  local flat = redis.call('HGETALL', K_LOTS)
  local lots = {}
  for i = 1, #flat, 2 do
    local field, amount = flat[i], tonumber(flat[i + 1])
    local bar = string.find(field, '|', 1, true)
    local expiry = tonumber(string.sub(field, 1, bar - 1))
    local pool = string.sub(field, bar + 1)
    if merchant_code == nil or (expiry > NOW and (pool == '' or pool == merchant_code)) then
      lots[#lots + 1] = {field, amount}
    end
  end
  table.sort(lots, function(a, b) return a[1] < b[1] end)
  return lots
end

-- Take up to `want` from the given lots in order; returns the amount taken and what came from
-- which lot ({field, amount}, to give it back on a reversal).
local function takeLots(lots, want)
  local taken, from = 0, {}
  for _, lot in ipairs(lots) do
    if taken >= want then break end
    local take = math.min(lot[2], want - taken)
    if take == lot[2] then redis.call('HDEL', K_LOTS, lot[1]) else redis.call('HINCRBY', K_LOTS, lot[1], -take) end
    taken = taken + take
    from[#from + 1] = {lot[1], take}
  end
  return taken, from
end

-- A lot field holds its pool's name, which is the business's text: any character, '"' and '\'
-- among them, so it is escaped as JSON (a reversal decodes this list to give the lots back).
local function lotsJson(from)
  local parts = {}
  for i, f in ipairs(from) do parts[i] = '[' .. cjson.encode(f[1]) .. ',' .. int(f[2]) .. ']' end
  return '[' .. table.concat(parts, ',') .. ']'
end

-- Claw `amount` back: commerce first (what is there), then open (what is there), and the rest as
-- commerce debt that later awards settle. Returns the amounts taken from commerce and open.
local function clawBack(amount)
  if amount <= 0 then return 0, 0 end
  local open, commerce = balances()
  local from_commerce = math.min(amount, math.max(commerce, 0))
  if from_commerce > 0 then takeLots(eligibleLots(nil), from_commerce) end
  local from_open = math.min(amount - from_commerce, math.max(open, 0))
  local debt = amount - from_commerce - from_open
  if from_commerce + debt > 0 then redis.call('HINCRBY', K_CONTACT, 'm', -(from_commerce + debt)) end
  if debt > 0 then redis.call('HINCRBY', K_CONTACT, 'md', debt) end
  if from_open > 0 then redis.call('HINCRBY', K_CONTACT, 'o', -from_open) end
  return from_commerce + debt, from_open
end

local function posting(debit, credit, amount)
  return '["' .. debit .. '","' .. credit .. '",' .. int(amount) .. ']'
end

-- A record's tail: the kind letter and its amounts (amount, awarded, paid, discount, fee), zeros
-- left empty: a byte or two a transaction, for as long as the window remembers it.
local function recordOf(kind, ...)
  local parts = {kind}
  for i, v in ipairs({...}) do
    if v == 0 then parts[i + 1] = '' else parts[i + 1] = int(v) end
  end
  return table.concat(parts, '|')
end

-- Append the journal entry, record the transaction (what refunds and reversals read of it:
-- `record`, from recordOf), keep the entry findable by
-- transaction id until the ledger has it (a pointer into the journal, not a copy). The reply is
-- kept once, in the journal; the ledger keeps it after.
-- Answers {'ok', reply, journal entry id}; scripts append their own answers after these.
local function commit(values, record)
  local open, commerce = balances()
  values.open = int(open)
  values.commerce = int(commerce)
  local reply = fill(ARGV[8], values)
  local entry = fill(ARGV[9], values)
  local journal_id = redis.call('XADD', K_JOURNAL, '*', 'e', entry, 'r', reply)
  redis.call('HSET', KEYS[3], RECORD_FIELD, string.sub(TXN_ID, 5) .. '|' .. record)
  -- NX: set once, by the hash's first record, so that it expires a window after its period.
  redis.call('PEXPIRE', KEYS[3], ARGV[5], 'NX')
  redis.call('SET', K_PENDING, journal_id, 'EX', ARGV[7])
  return {'ok', reply, journal_id}
end

local kind_names = {p = 'purchase', s = 'spend', r = 'redemption', f = 'refund', v = 'reversal', a = 'award', x = 'expiry'}

-- A record's value (see commit) as a table: id, kind (its name), amount, awarded, paid,
-- discount, fee.
local function parseRecord(value)
  local f = {}
  for part in string.gmatch(value .. '|', '([^|]*)|') do f[#f + 1] = part end
  local function n(i) return tonumber(f[i] ~= nil and f[i] ~= '' and f[i] or '0') end
  return {id = 'txn_' .. f[1], kind = kind_names[f[2]], amount = n(3), awarded = n(4), paid = n(5), discount = n(6), fee = n(7)}
end

-- The original of a refund or reversal: its record under `field` in KEYS[first..first+2] (the
-- hot window), else `ledger`, the same written by Node from the ledger ('' if Node found its
-- reference claimed). Returns the parsed original, or nil and the record ('!': marked reversed
-- before it arrived; nil: claimed but not recorded).
local function originalOf(first, field, ledger)
  local v = findRecord(first, field)
  if v == '!' then return nil, v end
  if v then return parseRecord(v), v end
  if ledger ~= '' then return parseRecord(ledger), ledger end
  return nil, nil
end

-- The state key of transaction `id` on this shard (hot/keys.ts stateKey): named here, where the
-- id is first known; same hash tag as the contact's key, so the same slot.
local function stateKeyOf(id)
  return 'v:' .. string.match(K_CONTACT, '^c:({[^}]*})') .. ':' .. id
end

-- What refunds and reversals have done to an original so far: {rf refunded, cw clawed back, cp
-- payment returned, fr fee returned, dr discount returned, rv reversed, lots (a redemption's)}.
-- `init` ('rf|cw|cp|fr|dr|rv') is what the ledger holds of it, given by Node when the hot path
-- no longer remembers the original; it is used only if the state is not here.
local function originalState(key, init)
  if init ~= '' and redis.call('EXISTS', key) == 0 then
    local rf, cw, cp, fr, dr, rv = string.match(init, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
    redis.call('HSET', key, 'rf', rf, 'cw', cw, 'cp', cp, 'fr', fr, 'dr', dr, 'rv', rv)
  end
  return redis.call('HMGET', key, 'rf', 'cw', 'cp', 'fr', 'dr', 'rv', 'lots')
end

-- Whether this contact may spend `amount` now (by OTP `otp` when method is 'otp'): nil if so,
-- else the refusal's code. K_OTP is the contact's OTP hash: code -> '<amount>|<expires ms>'.
local function spendRefusal(amount, method, otp, K_OTP)
  if redis.call('HGET', K_CONTACT, 'x') == '1' then return 'spend_blocked' end
  if method == 'otp' then
    local v = redis.call('HGET', K_OTP, otp)
    if not v then return 'otp_invalid' end
    local bar = string.find(v, '|', 1, true)
    if tonumber(string.sub(v, bar + 1)) <= NOW then return 'otp_expired' end
    -- The OTP authorises a spend of at most its amount.
    if amount > tonumber(string.sub(v, 1, bar - 1)) then return 'otp_invalid' end
  end
  local open = tonumber(redis.call('HGET', K_CONTACT, 'o') or '0')
  if open < amount then return 'insufficient_funds' end
  return nil
end

local function spendApply(amount, method, otp, K_OTP)
  -- Used once, even for less than its amount.
  if method == 'otp' then redis.call('HDEL', K_OTP, otp) end
  redis.call('HINCRBY', K_CONTACT, 'o', -amount)
end

local function joinPostings(a, b)
  if a == '' then return b end
  if b == '' then return a end
  return a .. ',' .. b
end

-- amount × bp / 10000, floored, exact for amounts up to 12 digits (Lua numbers are doubles).
local function applyBasisPoints(amount, bp)
  return math.floor(amount / 10000) * bp + math.floor((amount % 10000) * bp / 10000)
end

-- Awards Node evaluated, each checked here against what only the shard knows, atomically: its
-- guard (first purchase ever, first purchase of the day, once) and its per-contact cap. Nine
-- arguments per award from ARGV[base]: kind ('c' commerce lot, 'o' open, 'd' instant discount),
-- amount, lot field, guard, guard since (ms), cap field, cap limit, award JSON, posting JSON.
-- K_CAPS: the contact's cap counters; K_EXPIRY: the shard's index of contacts by earliest lot
-- expiry (for the sweeper). Returns the accepted awards' JSON, cashback and discount totals,
-- their postings, the accepted indexes (0-based, comma-separated), and what it read of the
-- contact's history (whether this is its first purchase, its last purchase's time).
local function applyAwards(base, n, K_CAPS, K_EXPIRY)
  -- One read of what the awards depend on and one write per field they change, however many
  -- awards there are: each call is Redis CPU and, for writes, a command in the AOF.
  local h = redis.call('HMGET', K_CONTACT, 'fp', 'lp', 'md')
  local first_purchase = h[1] == false
  local last_purchase = tonumber(h[2] or '0')
  local debt = tonumber(h[3] or '0')
  local debt_before = debt
  local lot_fields, lot_add = {}, {}
  local to_commerce, to_open, earliest = 0, 0, 9999999999999
  local parts, postings, accepted = {}, {}, {}
  local cashback, discount = 0, 0
  for i = 0, n - 1 do
    local a = base + i * 9
    local kind, amount, field, guard = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3]
    local since, cap, limit = tonumber(ARGV[a + 4]), ARGV[a + 5], tonumber(ARGV[a + 6])
    local ok = true
    if guard == 'first_purchase' and not first_purchase then ok = false end
    if guard == 'first_of_day' and last_purchase >= since then ok = false end
    if ok and cap ~= '' and tonumber(redis.call('HGET', K_CAPS, cap) or '0') >= limit then ok = false end
    if ok then
      if cap ~= '' then redis.call('HINCRBY', K_CAPS, cap, 1) end
      if kind == 'd' then
        discount = discount + amount
      else
        cashback = cashback + amount
        if kind == 'c' then
          -- Into the commerce balance; commerce debt (from claw-backs) is settled first, the
          -- rest goes into the award's lot.
          to_commerce = to_commerce + amount
          local settle = math.min(debt, amount)
          debt = debt - settle
          if amount > settle then
            if lot_add[field] == nil then
              lot_fields[#lot_fields + 1] = field
              lot_add[field] = 0
            end
            lot_add[field] = lot_add[field] + amount - settle
          end
          local expiry = tonumber(string.sub(field, 1, 13))
          if expiry < earliest then earliest = expiry end
        else
          to_open = to_open + amount
        end
        postings[#postings + 1] = ARGV[a + 8]
      end
      parts[#parts + 1] = ARGV[a + 7]
      accepted[#accepted + 1] = tostring(i)
    end
  end
  for _, field in ipairs(lot_fields) do redis.call('HINCRBY', K_LOTS, field, lot_add[field]) end
  if to_commerce > 0 then redis.call('HINCRBY', K_CONTACT, 'm', to_commerce) end
  if debt ~= debt_before then
    if debt == 0 then redis.call('HDEL', K_CONTACT, 'md') else redis.call('HSET', K_CONTACT, 'md', int(debt)) end
  end
  if to_open > 0 then redis.call('HINCRBY', K_CONTACT, 'o', to_open) end
  -- LT: the index keeps each contact's earliest expiry.
  if earliest < 9999999999999 then redis.call('ZADD', K_EXPIRY, 'LT', earliest, string.sub(K_CONTACT, string.find(K_CONTACT, '}:', 1, true) + 2)) end
  return table.concat(parts, ','), cashback, discount, table.concat(postings, ','), table.concat(accepted, ','), first_purchase, last_purchase
end

-- Value units of tiers: add `units` to the current period of each period kind the business's
-- tiers use, keeping the previous period's total ('<period key>|<units>|<previous units>'). The
-- tier held is derived from these when read (core/tier.ts), so it is never stale.
-- periods: 'm|current|previous;q|...;y|...;'.
local function addTierUnits(units, periods)
  for kind, current, previous in string.gmatch(periods, '(%a)|([^|]*)|([^;]*);') do
    local stored = redis.call('HGET', K_CONTACT, 'u' .. kind)
    local key, now, prev = '', 0, 0
    if stored then
      local b1 = string.find(stored, '|', 1, true)
      local b2 = string.find(stored, '|', b1 + 1, true)
      key, now, prev = string.sub(stored, 1, b1 - 1), tonumber(string.sub(stored, b1 + 1, b2 - 1)), tonumber(string.sub(stored, b2 + 1))
    end
    if key == current then
      now = now + units
    elseif key == previous then
      prev, now = now, units
    else
      prev, now = 0, units
    end
    redis.call('HSET', K_CONTACT, 'u' .. kind, current .. '|' .. int(now) .. '|' .. int(prev))
  end
end
