// What claw-backs have taken of a sale's lots (claw-back.lua lotsTakenAt) is computed in the shard
// script; core/money.ts lotsTakenAt is its spec, which rebuild's replay runs. Lua numbers are
// doubles, so the port finds each lot's next unit by long division: here the two must agree, on
// real Redis, on many random lots, sale amounts and refunded amounts, the largest included.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { amount_max, lotsTakenAt } from '../core/money.ts';
import { connectRedis, type RedisClient } from '../processor/stores.ts';

// Per case: the sale's amount, the refunded amount, the number of lots, then each lot's put.
const harness = `
local out, i = {}, 1
while i <= #ARGV do
  local amount, refunded, n = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local own = {}
  for j = 1, n do own[j] = {tostring(j), tonumber(ARGV[i + 2 + j])} end
  local taken = lotsTakenAt(own, refunded, amount)
  for j = 1, n do taken[j] = string.format('%d', taken[j]) end
  out[#out + 1] = table.concat(taken, ',')
  i = i + 3 + n
end
return out`;
const hot = join(import.meta.dirname, '..', 'processor', 'hot');
const source = ['refund-shares.lua', 'claw-back.lua'].map((file) => readFileSync(join(hot, file), 'utf8')).join('\n') + harness;

let redis: RedisClient;
beforeAll(async () => {
  redis = await connectRedis(process.env.REDIS_URL!);
});
afterAll(async () => {
  await redis.close();
});

interface Case {
  readonly amount: number;
  readonly refunded: number;
  readonly puts: readonly number[];
}

async function inLua(cases: readonly Case[]): Promise<string[]> {
  const args = cases.flatMap((c) => [String(c.amount), String(c.refunded), String(c.puts.length), ...c.puts.map(String)]);
  return (await redis.sendCommand(['EVAL', source, '0', ...args])) as string[];
}

const inTs = (c: Case) => lotsTakenAt(c.puts.map((put, i) => [String(i + 1), put] as const), c.refunded, c.amount).join(',');

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    amount: fc.oneof(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: amount_max })),
    cut: fc.nat(),
    // A sale's awards, each at most its amount (a 100% cashback), several together past it.
    puts: fc.array(fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: amount_max })), { minLength: 1, maxLength: 6 }),
  })
  .map(({ amount, cut, puts }) => ({ amount, refunded: cut % (amount + 1), puts: puts.map((put) => Math.min(put, amount)) }));

it('the script takes of each lot what core/money.ts lotsTakenAt does, on 3,000 random sales and refunded amounts', async () => {
  const cases = fc.sample(caseArb, { numRuns: 3_000, seed: 20261207 });
  const lua = await inLua(cases);
  const mismatches = cases.filter((c, i) => lua[i] !== inTs(c)).map((c) => ({ ...c, lua: lua[cases.indexOf(c)], ts: inTs(c) }));
  expect(mismatches.slice(0, 5)).toEqual([]);
});

it('CI’s counterexample, and the largest amounts: the script agrees', async () => {
  const cases: Case[] = [
    { amount: 10_420, refunded: 5_016, puts: [1, 562] },
    { amount: 10_420, refunded: 7_973, puts: [1, 562] },
    { amount: amount_max, refunded: amount_max - 1, puts: [amount_max, amount_max - 1, 1, 7] },
    { amount: amount_max, refunded: 1, puts: [amount_max, amount_max, amount_max] },
  ];
  expect(await inLua(cases)).toEqual(cases.map(inTs));
  expect(inTs(cases[0]!)).toBe('0,271');
});
