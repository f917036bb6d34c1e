-- A terminal's reference, claimed for one request (see references.ts): the value it already has
-- in this period or one of the two before, else (mode 'claim') ARGV[2] written in this period.
--
-- KEYS[1..3] the reference's claim hashes, this period first (one bucket: one slot)
-- ARGV[1] field   ARGV[2] value   ARGV[3] ttl of this period's hash (ms)   ARGV[4] 'claim' | 'read'

for i = 1, 3 do
  local prior = redis.call('HGET', KEYS[i], ARGV[1])
  if prior then return prior end
end
if ARGV[4] == 'read' then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
-- NX: the hash's expiry is set once, by its first entry, so no write moves it.
redis.call('PEXPIRE', KEYS[1], ARGV[3], 'NX')
return false
