-- Refund arithmetic in the shard script: a port of core/refund.ts, which is the spec
-- (test/refund-shares.test.ts checks on many random inputs that the two agree, against Redis).
--
-- Shares are cumulative and floored: after refunds totalling R of an original amount A, the
-- award clawed back so far is floor(W × R / A). Each refund takes the difference from what was
-- taken before, so no sequence of partial refunds ever takes more than the award, and a full
-- refund takes exactly the award. Computed here, from the record as the script reads it, so that
-- concurrent refunds never work from a stale reading and never need to retry.

-- Lua numbers are doubles, exact for integers below 2^53; x × part can reach 2^80.
local B = 4096 -- 2^12

-- q, r with n = q × d + r, 0 <= r < d, for integers 0 <= n < 2^53, 0 < d: the quotient of the
-- doubles can round up to the next integer, so it is corrected by the remainder.
local function divmod(n, d)
  local q = math.floor(n / d)
  local r = n - q * d
  if r < 0 then return q - 1, r + d end
  if r >= d then return q + 1, r - d end
  return q, r
end

-- floor(x × part / whole) exactly, for integers 0 <= x < 2^53 and 0 <= part <= whole <= 10^12
-- (< 2^40; amounts have at most 12 digits), or a part past whole while qx × part (below) stays
-- under 2^53 (claw-back.lua unitAt). x = qx × whole + rx gives qx × part (at most x) plus
-- floor(rx × part / whole), which is a long division taking `part` 12 bits at a time: every
-- intermediate is below 10^12 × 2^13 < 2^53.
local function proportion(x, part, whole)
  local qx, rx = divmod(x, whole)
  local digits, p = {}, part
  while p > 0 do
    local d = p % B
    digits[#digits + 1] = d
    p = (p - d) / B
  end
  local q, r = 0, 0
  for i = #digits, 1, -1 do
    local qq
    qq, r = divmod(r * B + rx * digits[i], whole)
    q = q * B + qq
  end
  return qx * part + q, r
end

-- What refunds of `refunded` of `amount` give back of a fee of `whole` units and `rem`
-- 1/10000ths: floor((10000 × whole + rem) × refunded / amount) 1/10000ths, as w (the proportion
-- of whole alone) and r (the rest, in 1/10000ths; it may pass 10000). core/refund.ts feeGivenBack
-- is the spec. With whole × refunded = w × amount + rw, the rest is
-- floor((10000 × rw + rem × refunded) / amount), each product taken apart by proportion so that
-- nothing passes 2^53.
local function feeGivenBack(whole, rem, refunded, amount)
  if refunded == 0 then return 0, 0 end
  local w, rw = proportion(whole, refunded, amount)
  local a1, b1 = proportion(10000, rw, amount)
  local a2, b2 = proportion(rem, refunded, amount)
  local r = a1 + a2
  if b1 + b2 >= amount then r = r + 1 end
  return w, r
end

-- The shares of a refund of `amount` given the original's state s (amount, awarded, discount,
-- paid, fee_whole and fee_rem: the parts of its fee, lib.lua feeParts; refunded, clawed,
-- discount_returned, returned), or nil if it would exceed the original. The fee's parts go back
-- in proportion, each refund what the proportion of the refunded total adds (lib.lua returnFee).
local function refundShares(s, amount)
  if amount <= 0 or amount ~= math.floor(amount) or s.refunded + amount > s.amount then return nil end
  local after = s.refunded + amount
  local w_after, r_after = feeGivenBack(s.fee_whole, s.fee_rem, after, s.amount)
  local w_before, r_before = feeGivenBack(s.fee_whole, s.fee_rem, s.refunded, s.amount)
  return {
    claw = proportion(s.awarded, after, s.amount) - s.clawed,
    discount_back = proportion(s.discount, after, s.amount) - s.discount_returned,
    give = proportion(s.paid, after, s.amount) - s.returned,
    fee_back = w_after - w_before,
    fee_rem_back = r_after - r_before,
  }
end

-- What of a fee's parts (whole, rem: lib.lua feeParts) refunds of `refunded` of the original's
-- `amount` have not given back: what a reversal gives back (refundShares' fee shares of what is
-- left, summed).
local function feeLeft(whole, rem, refunded, amount)
  local w, r = feeGivenBack(whole, rem, refunded, amount)
  return whole - w, rem - r
end
