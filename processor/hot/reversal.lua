-- A reversal: void a purchase, spend or redemption as if it never happened. The balance may go
-- negative here (the money was already used); debt in commerce is settled by later awards.
--
-- Everything is decided here from the original's record as this script reads it, atomically:
-- what to give back (what refunds have not given back already) and the original's id, kind and
-- amount, which fill the reply's and the entry's holes. Node reads nothing before: a reading taken
-- before the script could be stale by the time it runs (the original committing in between, a
-- refund racing), and the reversal once committed from such a reading an empty reply and entry.
--
-- KEYS[6] the original's record
-- ARGV[10] contact commerce account   ARGV[11] contact open account   ARGV[12] rewards account
-- ARGV[13] the terminal's spends account   ARGV[14] discounts account
-- ARGV[15] contribution fee accounts 'debit|credit' ('' at the business's own venues)

local refused = prologue()
if refused then return refused end

local COMMERCE, OPEN, REWARDS, SPENDS, DISCOUNTS = ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14]
local o = redis.call('HMGET', KEYS[6], 'k', 'rv', 'id', 'a', 'w', 'cw', 'p', 'cp', 'ds', 'dr', 'fee', 'fr', 'lots')
local kind, original_id = o[1], o[3]
if not kind or not original_id then
  -- Its reference is claimed but it is not recorded: the original is on its way (between its
  -- claim and its script: a slow original is when networks send reversals) or was refused. Mark
  -- it reversed, so that it is refused when its script runs, as an original that arrives after
  -- its reversal is; without the mark it was approved after this answer said it was not there.
  redis.call('HSET', KEYS[6], 'rv', '1')
  redis.call('EXPIRE', KEYS[6], ARGV[5])
  return {'refused', 'original_not_found'}
end
if o[2] == '1' then return {'refused', 'already_reversed'} end
if kind ~= 'purchase' and kind ~= 'spend' and kind ~= 'redemption' then return {'refused', 'original_not_found'} end

local function field(i) return tonumber(o[i] or '0') end
local amount = field(4)
local postings = ''
if kind == 'purchase' then
  -- What partial refunds have not clawed back or given back yet.
  local from_commerce, from_open = clawBack(field(5) - field(6))
  local give = field(7) - field(8)
  if give > 0 then
    redis.call('HINCRBY', K_CONTACT, 'o', give)
    postings = joinPostings(postings, posting(SPENDS, OPEN, give))
  end
  local discount_back = field(9) - field(10)
  if discount_back > 0 then postings = joinPostings(postings, posting(DISCOUNTS, REWARDS, discount_back)) end
  if from_commerce > 0 then postings = joinPostings(postings, posting(COMMERCE, REWARDS, from_commerce)) end
  if from_open > 0 then postings = joinPostings(postings, posting(OPEN, REWARDS, from_open)) end
elseif kind == 'spend' then
  redis.call('HINCRBY', K_CONTACT, 'o', amount)
  postings = posting(SPENDS, OPEN, amount)
else
  -- Back into the very lots it came from, with their expiry and pool.
  for _, lot in ipairs(cjson.decode(o[13])) do redis.call('HINCRBY', K_LOTS, lot[1], lot[2]) end
  redis.call('HINCRBY', K_CONTACT, 'm', amount)
  redis.call('HINCRBY', K_CONTACT, 'o', -amount)
  postings = posting(OPEN, COMMERCE, amount)
end
local fee_back = field(11) - field(12)
if fee_back > 0 and ARGV[15] ~= '' then
  local bar = string.find(ARGV[15], '|', 1, true)
  postings = joinPostings(postings, posting(string.sub(ARGV[15], 1, bar - 1), string.sub(ARGV[15], bar + 1), fee_back))
end
redis.call('HSET', KEYS[6], 'rv', '1')
return commit({original = original_id, kind = kind, amount = int(amount), postings = postings}, {'k', 'reversal'})
