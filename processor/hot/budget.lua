-- Reserve up to ARGV[1] of an offer's budget ARGV[2] (KEYS[1]: what it has awarded so far).
-- Returns what was granted: the whole amount, what is left of the budget, or 0. One key, so it
-- runs on a Redis Cluster as on one Redis; the caller gives back what the shard script did not use.
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if grant <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], grant)
return grant
