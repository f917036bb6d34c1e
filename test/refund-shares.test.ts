// The refund arithmetic runs in the shard script (processor/hot/refund-shares.lua); core/refund.ts
// is its spec. Lua numbers are doubles, so the port does its products by long division: here
// the two must agree, on real Redis, on many random states of a purchase and refund amounts,
// the largest amounts included.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { amount_max, lotsTakenAt, proportion } from '../core/money.ts';
import { feeLeft, refundShares, type RefundState } from '../core/refund.ts';
import { connectRedis, type RedisClient } from '../processor/stores.ts';

// Eleven numbers per case: the state's ten fields in this order, then the refund amount.
const fields = ['amount', 'awarded', 'discount', 'paid', 'fee_whole', 'fee_rem', 'refunded', 'clawed', 'discount_returned', 'returned'] as const;
const harness = `
local out = {}
for i = 1, #ARGV, 11 do
  local s = {}
  for j, name in ipairs({${fields.map((f) => `'${f}'`).join(', ')}}) do s[name] = tonumber(ARGV[i + j - 1]) end
  local r = refundShares(s, tonumber(ARGV[i + 10]))
  local lw, lr = feeLeft(s.fee_whole, s.fee_rem, s.refunded, s.amount)
  if r then
    out[#out + 1] = string.format('%d,%d,%d,%d,%d|%d,%d', r.claw, r.discount_back, r.give, r.fee_back, r.fee_rem_back, lw, lr)
  else
    out[#out + 1] = string.format('-|%d,%d', lw, lr)
  end
end
return out`;
const source = readFileSync(join(import.meta.dirname, '..', 'processor', 'hot', 'refund-shares.lua'), 'utf8') + harness;

let redis: RedisClient;
beforeAll(async () => {
  redis = await connectRedis(process.env.REDIS_URL!);
});
afterAll(async () => {
  await redis.close();
});

interface Case {
  readonly state: RefundState;
  readonly refund: number;
}

async function inLua(cases: readonly Case[]): Promise<string[]> {
  const args = cases.flatMap((c) => [...fields.map((f) => String(c.state[f])), String(c.refund)]);
  return (await redis.sendCommand(['EVAL', source, '0', ...args])) as string[];
}

function inTs(c: Case): string {
  const r = refundShares(c.state, c.refund);
  const left = feeLeft(c.state.fee_whole, c.state.fee_rem, c.state.refunded, c.state.amount).join(',');
  return `${r === undefined ? '-' : `${r.claw},${r.discount_back},${r.give},${r.fee_back},${r.fee_rem_back}`}|${left}`;
}

/** A purchase's state after earlier refunds totalling `refunded`, as the script records it. */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    amount: fc.integer({ min: 1, max: amount_max }),
    // Several awards can add up past one amount's maximum.
    awarded: fc.oneof(fc.integer({ min: 0, max: amount_max }), fc.integer({ min: 0, max: 5 * amount_max })),
    discount_raw: fc.integer({ min: 0, max: amount_max }),
    paid_raw: fc.integer({ min: 0, max: amount_max }),
    fee_whole: fc.integer({ min: 0, max: amount_max }),
    fee_rem: fc.integer({ min: 0, max: 9_999 }),
    refunded_raw: fc.integer({ min: 0, max: amount_max }),
    refund_raw: fc.integer({ min: -2, max: amount_max }),
    exact: fc.boolean(),
  })
  .map(({ amount, awarded, discount_raw, paid_raw, fee_whole, fee_rem, refunded_raw, refund_raw, exact }) => {
    const discount = discount_raw % (amount + 1);
    const paid = paid_raw % (amount + 1);
    const refunded = refunded_raw % (amount + 1);
    // Mostly an amount that fits (what is left, or less); sometimes one that does not.
    const left = amount - refunded;
    const refund = exact ? left : refund_raw < 1 ? refund_raw : left === 0 ? refund_raw : refund_raw % (left + 2);
    const taken = (x: number) => proportion(x, refunded, amount);
    const state: RefundState = {
      amount, awarded, discount, paid, fee_whole, fee_rem, refunded,
      clawed: taken(awarded), discount_returned: taken(discount), returned: taken(paid),
    };
    return { state, refund };
  });

it('the shard script computes the same refund shares, and fee left for a reversal, as core/refund.ts', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(caseArb, { minLength: 1, maxLength: 100 }), async (cases) => {
      expect(await inLua(cases)).toEqual(cases.map(inTs));
    }),
    { numRuns: 100 },
  );
});

it('agrees at the edges: the largest amounts, one unit, nothing left, more than is left', async () => {
  const max = amount_max;
  const state = (amount: number, awarded: number, refunded: number): RefundState => ({
    amount, awarded, discount: amount, paid: amount - 1, fee_whole: awarded, fee_rem: 9_999, refunded,
    clawed: proportion(awarded, refunded, amount), discount_returned: proportion(amount, refunded, amount),
    returned: proportion(amount - 1, refunded, amount),
  });
  const cases: Case[] = [
    { state: state(max, max, 0), refund: max },
    { state: state(max, max, 0), refund: 1 },
    { state: state(max, max, max - 1), refund: 1 },
    { state: state(max, max - 1, 1), refund: max - 2 },
    { state: state(max, 5 * max, 123_456_789_012), refund: 876_543_210_000 },
    { state: state(max, max, max), refund: 1 },
    { state: state(1, max, 0), refund: 1 },
    { state: state(1, max, 0), refund: 2 },
    { state: state(100, 7, 0), refund: 0 },
    { state: state(100, 7, 0), refund: -1 },
  ];
  const lua = await inLua(cases);
  expect(lua).toEqual(cases.map(inTs));
  expect(lua[0]).toBe(`${max},${max},${max - 1},${max},9999|${max},9999`);
  expect(lua[5]).toBe('-|0,0'); // all refunded already: nothing left of the fee for a reversal
});

// What claw-backs have taken of a sale's lots (claw-back.lua lotsTakenAt) is computed in the shard
// script too; core/money.ts lotsTakenAt is its spec, which rebuild's replay runs. The port finds
// each lot's next unit by the same long division.

// Per case: the sale's amount, the refunded amount, the award, the number of lots, then each lot's put.
const lot_harness = `
local out, i = {}, 1
while i <= #ARGV do
  local amount, refunded, awarded, n = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local own = {}
  for j = 1, n do own[j] = {tostring(j), tonumber(ARGV[i + 3 + j])} end
  local taken = lotsTakenAt(own, refunded, amount, awarded)
  for j = 1, n do taken[j] = string.format('%d', taken[j]) end
  out[#out + 1] = table.concat(taken, ',')
  i = i + 4 + n
end
return out`;
const hot_dir = join(import.meta.dirname, '..', 'processor', 'hot');
const lot_source = ['refund-shares.lua', 'claw-back.lua'].map((file) => readFileSync(join(hot_dir, file), 'utf8')).join('\n') + lot_harness;

interface LotCase {
  readonly amount: number;
  readonly refunded: number;
  readonly puts: readonly number[];
  /** The sale's award: its lots and what paid commerce debt or went into open (absent: its lots alone). */
  readonly awarded?: number;
}

const awardOf = (c: LotCase) => c.awarded ?? c.puts.reduce((a, b) => a + b, 0);

async function lotsInLua(cases: readonly LotCase[]): Promise<string[]> {
  const args = cases.flatMap((c) => [String(c.amount), String(c.refunded), String(awardOf(c)), String(c.puts.length), ...c.puts.map(String)]);
  return (await redis.sendCommand(['EVAL', lot_source, '0', ...args])) as string[];
}

const lotsInTs = (c: LotCase) => lotsTakenAt(c.puts.map((put, i) => [String(i + 1), put] as const), c.refunded, c.amount, c.awarded).join(',');

const lotCaseArb: fc.Arbitrary<LotCase> = fc
  .record({
    amount: fc.oneof(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: amount_max })),
    cut: fc.nat(),
    // A sale's awards, each at most its amount (a 100% cashback), several together past it.
    puts: fc.array(fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: amount_max })), { minLength: 1, maxLength: 6 }),
    // What of the award paid commerce debt or went into open: none for a third of the sales.
    more: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: amount_max })),
  })
  .map(({ amount, cut, puts, more }) => {
    const lots = puts.map((put) => Math.min(put, amount));
    return { amount, refunded: cut % (amount + 1), puts: lots, ...(more === 0 ? {} : { awarded: lots.reduce((a, b) => a + b, 0) + more }) };
  });

it('the script takes of each lot what core/money.ts lotsTakenAt does, on 3,000 random sales, awards and refunded amounts', async () => {
  const cases = fc.sample(lotCaseArb, { numRuns: 3_000, seed: 20261207 });
  const lua = await lotsInLua(cases);
  const mismatches = cases.flatMap((c, i) => (lua[i] === lotsInTs(c) ? [] : [{ ...c, lua: lua[i], ts: lotsInTs(c) }]));
  expect(mismatches.slice(0, 5)).toEqual([]);
});

it('lots of several awards past 12 digits (up to three 100% awards of a sale in one lot): the script agrees on 1,000 random cases', async () => {
  const sum = (puts: readonly number[]) => puts.reduce((a, b) => a + b, 0);
  const big = lotCaseArb.map((c) => {
    const puts = c.puts.map((put, i) => put * (1 + (i % 3)));
    return { ...c, puts, awarded: sum(puts) + (c.awarded === undefined ? 0 : c.awarded - sum(c.puts)) };
  });
  const cases = fc.sample(big, { numRuns: 1_000, seed: 20261208 });
  const lua = await lotsInLua(cases);
  const mismatches = cases.flatMap((c, i) => (lua[i] === lotsInTs(c) ? [] : [{ ...c, lua: lua[i], ts: lotsInTs(c) }]));
  expect(mismatches.slice(0, 5)).toEqual([]);
  expect(cases.some((c) => c.puts.some((put) => put > amount_max))).toBe(true);
});

it('CI’s counterexample, and the largest amounts: the script agrees', async () => {
  const cases: LotCase[] = [
    { amount: 10_420, refunded: 5_016, puts: [1, 562] },
    { amount: 10_420, refunded: 7_973, puts: [1, 562] },
    { amount: amount_max, refunded: amount_max - 1, puts: [amount_max, amount_max - 1, 1, 7] },
    { amount: amount_max, refunded: 1, puts: [amount_max, amount_max, amount_max] },
    // The probe's sale: an award of 1,014 that paid 912 of debt, lots of 89 and 13, a fifth refunded.
    { amount: 5_000, refunded: 1_000, puts: [89, 13], awarded: 1_014 },
    { amount: 5_000, refunded: 250, puts: [89, 13], awarded: 1_014 },
    { amount: amount_max, refunded: amount_max - 1, puts: [amount_max, 3, 1], awarded: 3 * amount_max },
    { amount: 2, refunded: 1, puts: [1_000, 3], awarded: 1_500 },
    // A lot past 12 digits (three 100% awards of a 12-digit sale into one lot): the script's
    // next-unit division was off by one there, and took a unit of the other lot (a review).
    { amount: 999_999_999_989, refunded: 133_000_000_019, puts: [2_999_999_999_967, 2_000_000_000_755], awarded: 5_000_000_000_742 },
  ];
  expect(await lotsInLua(cases)).toEqual(cases.map(lotsInTs));
  expect(lotsInTs(cases[0]!)).toBe('0,271');
  expect(lotsInTs(cases[4]!)).toBe('89,13');
  expect(lotsInTs(cases[8]!)).toBe('399000000060,266000000141');
});
