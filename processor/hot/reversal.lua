-- A reversal: void a purchase, spend or redemption as if it never happened. A purchase's awards
-- are clawed back as a refund's are (commerce, then open, then commerce debt that later awards
-- settle); a redemption whose money has left the open balance is refused (insufficient_funds).
--
-- Everything is decided here from the original's record and state as this script reads them,
-- atomically: what to give back (what refunds have not given back already) and the original's
-- id, kind and amount, which fill the reply's and the entry's holes. Node reads nothing of them
-- before: a reading taken before the script could be stale by the time it runs (the original
-- committing in between, a refund racing).
--
-- Keys and arguments: hot/reversal.ts (KEY.originals the original's record hashes, its
-- reference's three periods; KEY.caps the contact's cap counters; KEY.expiry the shard's index
-- of contacts by earliest lot expiry; KEY.times the contact's birthday purchases by time;
-- KEY.deferred the shard's deferred undos; KEY.expired_lots the contact's expired lots;
-- ARG.ledger the original as the ledger has it, nil in the hot window; ARG.undo what a purchase
-- counted, read by Node from its journal entry or ledger row; ARG.award_lots a purchase's lots,
-- read with it, nil when Node did not read it; accounts.fees '' at the business's own venues).

-- A purchase reversed is one purchase fewer (none left: the next is the contact's first again),
-- and what it counted given back (counted.lua undoCounted); what it counted read by Node from the
-- ledger, or, the ledger down, deferred: ARG.undo.deferred names it for the deferred undos of the
-- shard (KEY.deferred), given back once the ledger answers (undo.lua, processor/deferred-undos.ts).
-- The contact left with no purchase, as before its first: the referral its first purchase made
-- (purchase.lua `rd`) is undone as if it never happened. The referrer's award, on the referrer's
-- shard, is reversed from an intent kept here in the outbox, as the award was made from one
-- (processor/referral-undo.ts); the referrer is the contact's again. Answers the intent, or nil.
local function undoReferral()
  local rd = redis.call('HGET', KEY.contact, 'rd')
  local bar = rd and string.find(rd, '|', 1, true)
  -- Written only as '<purchase>|<referrer>' (purchase.lua, rebuild): anything else is no referral.
  if not bar then return nil end
  local purchase, referrer = string.sub(rd, 1, bar - 1), string.sub(rd, bar + 1)
  local contact = string.sub(KEY.contact, string.find(KEY.contact, '}:', 1, true) + 2)
  -- The bytes processor/referrals.ts encodeUndo writes (ids need no escaping).
  local intent = '{"u":1,"b":"' .. ARG.business_id .. '","r":"' .. referrer .. '","c":"' .. contact .. '","p":"' .. purchase .. '"}'
  redis.call('ZADD', KEY.referrals, NOW, intent)
  redis.call('HSET', KEY.contact, 'rf', referrer)
  redis.call('HDEL', KEY.contact, 'rd')
  return intent
end

local function undoPurchase(undo)
  undoCounted(undo)
  redis.call('ZREM', KEY.times, undo.original)
  local purchases = tonumber(redis.call('HGET', KEY.contact, 'fp') or '0')
  -- Only 'fp': the latest purchase time ('lp') that contacts written by earlier versions may
  -- still hold is read by nothing, and deleting it here would clear it only for the few whose
  -- every purchase is reversed; a rebuild drops it for all (README, The hot window).
  if purchases > 1 then redis.call('HSET', KEY.contact, 'fp', int(purchases - 1)) else redis.call('HDEL', KEY.contact, 'fp') end
  -- Purchases reversed, only ever counted up: with 'fp' it tells birth-date.lua that a purchase
  -- and a reversal came since Node read them, which leave 'fp' as it was.
  redis.call('HINCRBY', KEY.contact, 'rv', 1)
  if undo.deferred then redis.call('HSET', KEY.deferred, ARG.id, undo.deferred) end
  if purchases <= 1 then return undoReferral() end
  return nil
end

local refused = prologue()
if refused then return refused end

local A = ARG.accounts
local ledger = ARG.ledger
local o, record = originalOf(KEY.originals, ARG.original_field, ledger and ledger.original)
if not o then
  if record == nil then
    -- Its reference is claimed but it is not recorded: the original is on its way (between its
    -- claim and its script: a slow original is when networks send reversals) or was refused.
    -- Mark it reversed, so that it is refused when its script runs, as an original that arrives
    -- after its reversal is; without the mark it was approved after this answer said it was not
    -- there.
    redis.call('HSET', KEY.originals[1], ARG.original_field, '!')
    redis.call('PEXPIRE', KEY.originals[1], ARG.record_ttl_ms, 'NX')
    -- A referral award looks in the periods of when it is made and the two before: made a moment
    -- before a period began that this undo marks, it would not see the mark in this one.
    if ARG.undo and ARG.undo.award == true then
      redis.call('HSET', KEY.originals[2], ARG.original_field, '!')
      redis.call('PEXPIRE', KEY.originals[2], ARG.record_ttl_ms, 'NX')
    end
  end
  -- Remembered, as every refusal on its merits (API.md: a repeat is answered the same, replayed):
  -- no original that is no transaction now (marked, or itself refused) ever becomes one.
  return refuse('original_not_found')
end
local kind = o.kind
-- An award is reversed only as a referral's undoing (processor/referral-undo.ts), never by a
-- terminal: a terminal's reversal names no award's reference, and the ledger's other kinds come
-- here as 'award' (refund.ts ledgerArg), no original.
local award = kind == 'award' and ARG.undo ~= nil and ARG.undo.award == true
if kind ~= 'purchase' and kind ~= 'spend' and kind ~= 'redemption' and not award then return refuse('original_not_found') end
local state_key = stateKeyOf(o.id)
local st = originalState(state_key, ledger and ledger.state)
if st.reversed then return refuse('already_reversed') end

local amount = o.amount
local postings = ''
-- A redemption's lots that come back already past their expiry (see below).
local expired_back = 0
-- What of a purchase's awards had expired already: not clawed back again (claw-back.lua ownShares).
local award_expired = 0
-- What its claw-back took from the wallet, and from which lots (claw-back.lua clawBack), as JSON: 'null' for none.
local clawed = 0
local clawed_lots = 'null'
-- What its claw-back noted owed (claw-back.lua noteOwed), or what a redemption's reversal settled of
-- such notes (settleOwed): the entry's, for rebuild; 'null' for a spend's reversal.
local owed = nil
-- What its claw-back took from other lots for its sale's redeemed ones (claw-back.lua noteInstead), as JSON.
local instead = 'null'
-- What came back into the open balance (the reply's returned_to_wallet): a purchase's wallet payment, a spend.
local returned = 0
-- The referral undone with the purchase: its intent, answered to Node, which makes it at once.
local referral_undo = nil
if kind == 'purchase' or award then
  -- Node read what this purchase (or award) counted before the script: a call made for another
  -- original (none: its record arrived since Node looked) is refused as stale, and Node reads again.
  local undo = ARG.undo
  if undo == nil or undo.original ~= o.id then return {'stale'} end
  -- What partial refunds have not clawed back or given back yet, less what of it expired.
  local claw = o.awarded - st.clawed
  -- What its instant_redeem awards put into the open balance, less what refunds took of it from
  -- open, comes back out of the open balance first (clawBack's open_first; see below).
  local to_open = o.to_open or 0
  local open_first = to_open - math.min(st.clawed_open, proportion(to_open, st.refunded, o.amount))
  local own = ownLots(o, claw, open_first)
  if own == nil then return {'stale'} end
  if award then undoCounted(undo) else referral_undo = undoPurchase(undo) end
  -- Its wallet payment back (commerce debt first: lib.lua backToOpen) before the claw-back, which
  -- then finds it there: taken first, a claw-back of a wallet short of the award booked commerce
  -- debt beside the open money the return then made, to be spent while the debt stood (a
  -- black-box audit, 2026-12-03).
  local give = o.paid - st.returned
  returned = give
  postings = joinPostings(postings, backToOpen(give, A.spends, A.open, A.commerce))
  -- What its instant_redeem awards put into the open balance, less what refunds took of it from
  -- open, comes back out of the open balance first: as if it never happened. Clawed back as a
  -- refund's (commerce first), it took commerce the contact had earned elsewhere, expiring and
  -- held to a pool, and left the award in open, to be spent anywhere (a black-box audit, 2026-12-04).
  -- What refunds took of it from open is their share of it as far as their claw-backs took open
  -- at all ('co'): commerce first, they took open only for what commerce lacked. Less their whole
  -- share (a first version), a reversal after a refund of half, commerce having covered it, left
  -- half the instant award in open and took as much commerce (a black-box audit, 2026-12-05).
  -- What open no longer holds (spent) is clawed back with the rest.
  local from_commerce, from_open
  from_commerce, from_open, clawed_lots, award_expired, owed, instead = clawBack(o, claw, st.refunded, o.amount, own, open_first)
  clawed = claw - award_expired
  local discount_back = o.discount - st.discount_returned
  if discount_back > 0 then postings = joinPostings(postings, posting(A.discounts, A.rewards, discount_back)) end
  if from_commerce > 0 then postings = joinPostings(postings, posting(A.commerce, A.rewards, from_commerce)) end
  if from_open > 0 then postings = joinPostings(postings, posting(A.open, A.rewards, from_open)) end
elseif kind == 'spend' then
  -- Back into the open balance, commerce debt first (lib.lua backToOpen).
  returned = amount
  postings = backToOpen(amount, A.spends, A.open, A.commerce)
else
  -- Back into the very lots it came from, with their expiry and pool; but what claw-backs since
  -- took from open for want of them (claw-back.lua owedOf, settleOwed: their award is clawed back
  -- already) stays in open, and what they took from other lots instead (noteInstead, settleOwed)
  -- goes back to those lots. What moves back to commerce settles commerce debt first, as an award
  -- does, and the rest goes into the lots. Given back whole, a purchase reversed and then its
  -- redemption left the award alive in the wallet and took as much open money (a black-box
  -- probe, 2026-12-05). Until 2026-12-06 what was settled paid the debt out of open as well.
  local lots = (st.lots and cjson.decode(st.lots)) or (ledger and ledger.lots) or {}
  -- From its `since` (redeem.lua), raised past the notes held when it committed, where it was.
  local since = st.since or (ledger and type(ledger.since) == 'string' and ledger.since) or string.sub(o.id, 5, 14)
  local settled, given, notes = settleOwed(lots, since)
  local out_of_open = amount - settled
  -- The money it moved into the open balance must still be there: spent, it cannot be voided
  -- (as a stored-value load whose funds were used cannot), and the open balance never goes below
  -- zero (API.md: only a refund's claw-back may leave a balance negative).
  local open = balances()
  if open < out_of_open then return refuse('insufficient_funds') end
  writeOwed(notes)
  local debt = tonumber(redis.call('HGET', KEY.contact, 'md') or '0')
  local debt_paid = math.min(out_of_open, debt)
  local back = lotsBack(given, debt_paid)
  owed = settled
  local earliest = 9999999999999
  addLots(back)
  for _, lot in ipairs(back) do
    local expiry = expiryOf(lot[1])
    if expiry < earliest then earliest = expiry end
    -- Expired while redeemed: Node expires it as soon as this commits (Expiry.expireDue), an
    -- expiry transaction of its own, so the wallet this answers leaves it out, as it would be
    -- had the redemption never happened.
    if expiry <= NOW then expired_back = expired_back + lot[2] end
  end
  -- The sweeper finds a contact's lots through the shard's expiry index (LT: its earliest), which
  -- may have dropped the contact while the lots were redeemed: they expire as they would have.
  if earliest < 9999999999999 then redis.call('ZADD', KEY.expiry, 'LT', earliest, string.sub(KEY.contact, string.find(KEY.contact, '}:', 1, true) + 2)) end
  if debt_paid == debt and debt_paid > 0 then redis.call('HDEL', KEY.contact, 'md') elseif debt_paid > 0 then redis.call('HINCRBY', KEY.contact, 'md', -debt_paid) end
  if out_of_open > 0 then
    redis.call('HINCRBY', KEY.contact, 'm', out_of_open)
    redis.call('HINCRBY', KEY.contact, 'o', -out_of_open)
    postings = posting(A.open, A.commerce, out_of_open)
  end
  -- The entry names the lots given back (rebuild's replay gives back these; '[]' for none).
  clawed_lots = lotsJson(back)
end
-- What of its fee's parts refunds have not given back, through the carry.
local fee_whole, fee_rem = feeParts(feeBaseOf(o, ARG.fee_on), ARG.fee_bp)
fee_whole, fee_rem = feeLeft(fee_whole, fee_rem, st.refunded, o.amount)
local fee_back = returnFee(KEY.fee_carries, A.fees, fee_whole, fee_rem)
if fee_back > 0 then postings = joinPostings(postings, posting(A.fee_income, A.fees, fee_back)) end
redis.call('HSET', state_key, 'rv', '1')
redis.call('PEXPIRE', state_key, ARG.record_ttl_ms)
local answer = commit({original = o.id, kind = kind, amount = int(amount), postings = postings, expired_back = expired_back, clawed = int(clawed), expired = int(award_expired), returned = int(math.max(returned, 0)), lots = clawed_lots, owed = owed and int(owed) or 'null', instead = instead}, recordOf('v', amount))
answer[4] = referral_undo or ''
return answer
