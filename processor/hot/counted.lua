-- What a reversed purchase counted, given back (reversal.lua at once, undo.lua when it was
-- deferred): its awards' cap counts, and its tier units taken from its period wherever the
-- contact's counters still hold it, never below zero (processor/ledger/replay.ts unpurchased
-- derives the same from the ledger). KEY.caps the contact's cap counters, KEY.contact its hash.
local function undoCounted(undo)
  for _, field in ipairs(undo.caps) do
    local n = tonumber(redis.call('HGET', KEY.caps, field) or '0')
    if n > 1 then redis.call('HINCRBY', KEY.caps, field, -1) elseif n == 1 then redis.call('HDEL', KEY.caps, field) end
  end
  for _, p in ipairs(undo.periods) do
    local field = 'u' .. p.kind
    local stored = redis.call('HGET', KEY.contact, field)
    if stored then
      local key, now, prev = string.match(stored, '^([^|]*)|([^|]*)|(.*)$')
      now, prev = tonumber(now), tonumber(prev)
      if key == p.current or key == p.next then
        if key == p.current then now = math.max(0, now - undo.units) else prev = math.max(0, prev - undo.units) end
        redis.call('HSET', KEY.contact, field, key .. '|' .. string.format('%d', now) .. '|' .. string.format('%d', prev))
      end
    end
  end
end
