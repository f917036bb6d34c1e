-- A reversal: void a purchase, spend or redemption as if it never happened. The balance may go
-- negative here (the money was already used); debt in commerce is settled by later awards.
--
-- Everything is decided here from the original's record and state as this script reads them,
-- atomically: what to give back (what refunds have not given back already) and the original's
-- id, kind and amount, which fill the reply's and the entry's holes. Node reads nothing of them
-- before: a reading taken before the script could be stale by the time it runs (the original
-- committing in between, a refund racing).
--
-- KEYS[8..10] the original's record hashes (its reference's three periods)
-- ARGV[10] contact commerce account   ARGV[11] contact open account   ARGV[12] rewards account
-- ARGV[13] the terminal's spends account   ARGV[14] discounts account
-- ARGV[15] contribution fee accounts 'debit|credit' ('' at the business's own venues)
-- ARGV[16] the original's record field
-- ARGV[17..19] the original, its state and lots as the ledger has them ('' in the hot window)

local refused = prologue()
if refused then return refused end

local COMMERCE, OPEN, REWARDS, SPENDS, DISCOUNTS = ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14]
local o, record = originalOf(8, ARGV[16], ARGV[17])
if not o then
  if record == nil then
    -- Its reference is claimed but it is not recorded: the original is on its way (between its
    -- claim and its script: a slow original is when networks send reversals) or was refused.
    -- Mark it reversed, so that it is refused when its script runs, as an original that arrives
    -- after its reversal is; without the mark it was approved after this answer said it was not
    -- there.
    redis.call('HSET', KEYS[8], ARGV[16], '!')
    redis.call('PEXPIRE', KEYS[8], ARGV[5], 'NX')
  end
  return {'refused', 'original_not_found'}
end
local kind = o.kind
if kind ~= 'purchase' and kind ~= 'spend' and kind ~= 'redemption' then return {'refused', 'original_not_found'} end
local state_key = stateKeyOf(o.id)
local st = originalState(state_key, ARGV[18])
if st[6] == '1' then return {'refused', 'already_reversed'} end

local function field(i) return tonumber(st[i] ~= false and st[i] ~= '' and st[i] or '0') end
local amount = o.amount
local postings = ''
if kind == 'purchase' then
  -- What partial refunds have not clawed back or given back yet.
  local from_commerce, from_open = clawBack(o.awarded - field(2))
  local give = o.paid - field(3)
  if give > 0 then
    redis.call('HINCRBY', K_CONTACT, 'o', give)
    postings = joinPostings(postings, posting(SPENDS, OPEN, give))
  end
  local discount_back = o.discount - field(5)
  if discount_back > 0 then postings = joinPostings(postings, posting(DISCOUNTS, REWARDS, discount_back)) end
  if from_commerce > 0 then postings = joinPostings(postings, posting(COMMERCE, REWARDS, from_commerce)) end
  if from_open > 0 then postings = joinPostings(postings, posting(OPEN, REWARDS, from_open)) end
elseif kind == 'spend' then
  redis.call('HINCRBY', K_CONTACT, 'o', amount)
  postings = posting(SPENDS, OPEN, amount)
else
  -- Back into the very lots it came from, with their expiry and pool.
  local lots = st[7] or (ARGV[19] ~= '' and ARGV[19]) or '[]'
  for _, lot in ipairs(cjson.decode(lots)) do redis.call('HINCRBY', K_LOTS, lot[1], lot[2]) end
  redis.call('HINCRBY', K_CONTACT, 'm', amount)
  redis.call('HINCRBY', K_CONTACT, 'o', -amount)
  postings = posting(OPEN, COMMERCE, amount)
end
local fee_back = o.fee - field(4)
if fee_back > 0 and ARGV[15] ~= '' then
  local bar = string.find(ARGV[15], '|', 1, true)
  postings = joinPostings(postings, posting(string.sub(ARGV[15], 1, bar - 1), string.sub(ARGV[15], bar + 1), fee_back))
end
redis.call('HSET', state_key, 'rv', '1')
redis.call('PEXPIRE', state_key, ARGV[5])
return commit({original = o.id, kind = kind, amount = int(amount), postings = postings}, recordOf('v', amount))
