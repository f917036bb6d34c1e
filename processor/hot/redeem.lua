-- A redemption: commerce lots into the open balance, earliest expiry first, only lots whose pool
-- the terminal's merchant may redeem.
--
-- Keys and arguments: hot/redeem.ts (amount nil: everything eligible; merchant_code '' at the
-- business's own venues; restricted_pools: the pools that redeem only at their merchant;
-- KEY.state: this redemption's state, the lots it took, for its reversal; KEY.owed_lots: the
-- contact's claw-backs' notes, which its reversal may settle).

local refused = prologue()
if refused then return refused end

local open, commerce = balances()
-- Commerce debt (from claw-backs) is owed before anything can be redeemed.
local redeemable = math.max(commerce, 0)
local want = ARG.amount
if want ~= nil and (want <= 0 or want > redeemable) then return refuse('insufficient_funds') end
local restricted = {}
for _, r in ipairs(ARG.restricted_pools) do restricted[r.pool] = true end
-- The earliest eligible lots that make up `want` (nil: every eligible lot).
local lots, eligible = eligibleLots(ARG.merchant_code, restricted, want)
if eligible > redeemable then eligible = redeemable end
want = want or eligible
if want <= 0 or want > eligible then return refuse('insufficient_funds') end

local taken, from = takeLots(lots, want)
redis.call('HINCRBY', KEY.contact, 'm', -taken)
redis.call('HINCRBY', KEY.contact, 'o', taken)
-- From when this redemption's reversal settles what claw-backs noted (claw-back.lua settleOwed):
-- its id's time characters, raised to the millisecond after the latest note the contact holds
-- when not after it. Ids are stamped as a request came in, by its gateway's clock, so one
-- committed after a claw-back may carry an earlier time (a request that waited, a gateway whose
-- clock lags); its reversal then settled a note made before it, meant for an earlier
-- redemption's reversal, and left in open the money it had taken from a lot. Kept in its state
-- and entry (null when its own time), where its reversal and rebuild's replay read it.
local at = string.sub(ARG.id, 5, 14)
local since, latest = at, latestNote(KEY.owed_lots)
if latest and not bytesBefore(string.sub(latest, 1, 10), at) then since = idTimeChars(idTimeMs(latest) + 1) end
-- When the contact last redeemed (the latest `since` of all, whatever order they came in): a
-- claw-back of a sale made before it must look at which of the sale's lots are gone
-- (claw-back.lua ownLots), and files its notes after it (claw-back.lua noteId).
local last = redis.call('HGET', KEY.contact, 'lr')
if not last or bytesBefore(last, since) then redis.call('HSET', KEY.contact, 'lr', since) end
local lots = lotsJson(from)
redis.call('HSET', KEY.state, 'lots', lots)
if since ~= at then redis.call('HSET', KEY.state, 'since', since) end
redis.call('PEXPIRE', KEY.state, ARG.record_ttl_ms)
return commit({redeemed = int(taken), lots = lots, since = since ~= at and ('"' .. since .. '"') or 'null', postings = posting(ARG.accounts.commerce, ARG.accounts.open, taken)}, recordOf('r', taken))
