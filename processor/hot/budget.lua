-- Reserve up to ARG.amount of an offer's budget ARG.budget (KEY.used: what it has awarded so
-- far). Returns what was granted: the whole amount, what is left of the budget, or 0. One key, so
-- it runs on a Redis Cluster as on one Redis; the caller gives back what the shard script did not
-- use. Keys and arguments: hot/budget.ts.
local used = tonumber(redis.call('GET', KEY.used) or '0')
local grant = math.min(ARG.amount, ARG.budget - used)
if grant <= 0 then return 0 end
redis.call('INCRBY', KEY.used, grant)
return grant
