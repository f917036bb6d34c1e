-- A deferred undo: what a purchase reversed while the ledger could not be read had counted (its
-- cap counts and tier units; reversal.lua gave back the purchase itself), given back now that
-- Node read it from the ledger. Once: the reversal's deferral (KEY.deferred, field ARG.reversal)
-- is taken out here, atomically with what it gives back; answers 1, or 0 when it was not there
-- (given back already). Keys and arguments: hot/undo.ts.
if redis.call('HDEL', KEY.deferred, ARG.reversal) == 0 then return 0 end
undoCounted(ARG.undo)
return 1
