-- One purchase, atomically, in one round trip: idempotency, balance changes, the journal entry
-- and the stored reply. Node has already resolved the contact and evaluated the offers.
--
-- KEYS[1] contact hash   KEYS[2] reply key   KEYS[3] transaction key   KEYS[4] journal stream
-- ARGV[1] request hash   ARGV[2] business id   ARGV[3] commerce delta   ARGV[4] open delta
-- ARGV[5] reply without its closing wallet   ARGV[6] journal entry (JSON)
-- ARGV[7] reply ttl seconds   ARGV[8] journal length max   ARGV[9] pending record ttl seconds
--
-- Returns {'ok', reply} | {'replay', status .. '\n' .. reply} | {'conflict'}
--       | {'contact_not_found'} | {'unavailable'}

local prior = redis.call('GET', KEYS[2])
if prior then
  local sep = string.find(prior, '\n', 1, true)
  if string.sub(prior, 1, sep - 1) ~= ARGV[1] then return {'conflict'} end
  return {'replay', string.sub(prior, sep + 1)}
end

-- The CIM index may name a contact of another business only if a token collided; refuse rather
-- than touch another business's wallet.
if redis.call('HGET', KEYS[1], 'b') ~= ARGV[2] then return {'contact_not_found'} end

-- A journal the ledger writer is not draining must not grow without bound: refuse new work.
if redis.call('XLEN', KEYS[4]) >= tonumber(ARGV[8]) then return {'unavailable'} end

local commerce = redis.call('HINCRBY', KEYS[1], 'm', ARGV[3])
local open = redis.call('HINCRBY', KEYS[1], 'o', ARGV[4])
local reply = ARGV[5] .. '"wallet":{"open":' .. open .. ',"commerce":' .. commerce .. '}}'
redis.call('XADD', KEYS[4], '*', 'e', ARGV[6], 'r', reply)
redis.call('SET', KEYS[2], ARGV[1] .. '\n201\n' .. reply, 'EX', ARGV[7])
-- Readable by id until the ledger writer has recorded it (the writer deletes it then).
redis.call('SET', KEYS[3], ARGV[6], 'EX', ARGV[9])
return {'ok', reply}
