-- The ledger's backlog on one shard's journal (processor/ledger/writer.ts journalBacklog): the
-- entries the ledger has not recorded, counted at one instant, sending no entry back: the
-- consumer group's pending entries (delivered, not yet acknowledged: the writer acknowledges
-- after the commit) and the entries after its last-delivered id. Each run read is bounded by
-- ARG.counted_max (entries are read to be counted, in Redis). Answers {backlog, exact}: exact 0
-- only when both runs passed the bound (trimming stopped during an outage), the stream's length
-- less the pending standing for them. Keys and arguments: hot/backlog.ts. Reads only (no-writes).
local key = KEY.journal
local length = redis.call('XLEN', key)
if length == 0 then return {0, 1} end
local groups = redis.pcall('XINFO', 'GROUPS', key)
if type(groups) ~= 'table' or groups.err then return {length, 1} end
local pending, last
for _, g in ipairs(groups) do
  local fields = {}
  for i = 1, #g, 2 do fields[g[i]] = g[i + 1] end
  if fields['name'] == ARG.group then
    pending, last = fields['pending'], fields['last-delivered-id']
  end
end
-- No group yet: no writer has read the stream, every entry is the backlog.
if last == nil then return {length, 1} end
-- Few undelivered (the writer keeps up): counted. Many (an outage): the stream's length less the
-- entries up to the last delivered, a short run then (the writer trims below what it
-- acknowledged, and acknowledges nothing while PostgreSQL is away).
local after = #redis.call('XRANGE', key, '(' .. last, '+', 'COUNT', ARG.counted_max)
if after < ARG.counted_max then return {pending + after, 1} end
local upto = #redis.call('XRANGE', key, '-', last, 'COUNT', ARG.counted_max)
if upto < ARG.counted_max then return {pending + length - upto, 1} end
return {math.max(length, pending + after), 0}
