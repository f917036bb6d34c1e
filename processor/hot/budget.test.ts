// budget.lua against the test Redis (database 15), called through its definition (budget.ts).

import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import type { RedisClient } from '../stores.ts';
import { budgetBusyKey, budgetKey, budgetPendingKey } from './keys.ts';
import { specRedisForFile } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(15, (r) => (redis = r));

const at_s = 1_796_000_000;
const reserve = (offer_id: string, amount: number, budget: number, final = true, s = at_s, now_ms = s * 1000) => redis.budgetScript({ mode: 'reserve', offer_id, amount, budget, at_s: s, final, now_ms });
const settle = (offer_id: string, clear: number, give_back: number, s = at_s) => redis.budgetScript({ mode: 'settle', offer_id, at_s: s, clear, give_back });

describe('budget.lua', () => {
  it('grants the whole amount, then what is left, then nothing; concurrent reservations never exceed the budget', async () => {
    const offer_id = newId('off');
    expect(await reserve(offer_id, 60, 100)).toBe(60);
    expect(await reserve(offer_id, 60, 100)).toBe(40);
    expect(await reserve(offer_id, 60, 100)).toBe(0);
    expect(await redis.get(budgetKey(offer_id))).toBe('100');

    const other = newId('off');
    const grants = await Promise.all(Array.from({ length: 50 }, () => reserve(other, 7, 100, false)));
    // 14 whole awards; the other 36 are short only for what those hold pending: busy, not cut to 2.
    expect(grants.filter((g) => g > 0)).toEqual(Array.from({ length: 14 }, () => 7));
    expect(grants.filter((g) => g === -1)).toHaveLength(36);
    expect(await reserve(other, 7, 100, true)).toBe(2); // the last ask takes what is left
    expect(await redis.get(budgetKey(other))).toBe('100');
  });

  it('busy while the budget falls short only for reservations pending; settled, what they gave back is granted', async () => {
    const offer_id = newId('off');
    expect(await reserve(offer_id, 80, 100, false)).toBe(80);
    // 20 left, 80 pending: not granted short, asked to wait.
    expect(await reserve(offer_id, 50, 100, false)).toBe(-1);
    // The first purchase's shard script refused its award (a per-contact cap): all of it back.
    expect(await settle(offer_id, 80, 80)).toBe(0);
    expect(await reserve(offer_id, 50, 100, false)).toBe(50);
    // Kept: settled with nothing given back, the budget stays used and nothing is pending.
    expect(await settle(offer_id, 50, 0)).toBe(0);
    expect(await redis.get(budgetKey(offer_id))).toBe('50');
    expect(await redis.hLen(budgetPendingKey(offer_id))).toBe(0);
    // Nothing pending: what is left, at once.
    expect(await reserve(offer_id, 80, 100, false)).toBe(50);
  });

  it('a reservation pending in a later second counts too (a purchase asks again with the second it began in)', async () => {
    const offer_id = newId('off');
    expect(await reserve(offer_id, 100, 100, false, at_s + 1)).toBe(100);
    expect(await reserve(offer_id, 100, 100, false, at_s)).toBe(-1);
    expect(await settle(offer_id, 100, 100, at_s + 1)).toBe(0);
    expect(await reserve(offer_id, 100, 100, false, at_s)).toBe(100);
  });

  it('a final ask takes what is left whatever is pending; a partial give-back leaves the rest pending', async () => {
    const offer_id = newId('off');
    expect(await reserve(offer_id, 90, 100, false)).toBe(90);
    expect(await reserve(offer_id, 30, 100, true)).toBe(10);
    expect(await settle(offer_id, 40, 40)).toBe(0); // 40 of the 90 given back early
    expect(await redis.hGet(budgetPendingKey(offer_id), String(at_s))).toBe('60'); // 50 + 10 still held
    expect(await redis.get(budgetKey(offer_id))).toBe('60');
  });

  it('a spell of busy answers lasts at most 2 s, then every ask takes what is left at once until a second without a busy answer (a probe: at a budget’s end under reversals every purchase waited its 2 s)', async () => {
    const offer_id = newId('off');
    const t0 = at_s * 1000;
    expect(await reserve(offer_id, 90, 100, false)).toBe(90);
    // Others asking meanwhile, a reservation always pending (given back and taken again).
    for (const dt of [0, 500, 1_000, 1_500, 1_999]) expect(await reserve(offer_id, 30, 100, false, at_s, t0 + dt), `at +${dt} ms`).toBe(-1);
    expect(await reserve(offer_id, 30, 100, false, at_s, t0 + 2_000)).toBe(10);
    expect(await reserve(offer_id, 30, 100, false, at_s + 2, t0 + 2_500)).toBe(0);
    expect(await redis.get(budgetKey(offer_id))).toBe('100');
    // Some given back: still past the spell, the next ask takes it, pending or not.
    expect(await settle(offer_id, 10, 10)).toBe(0);
    expect(await reserve(offer_id, 30, 100, false, at_s + 2, t0 + 2_900)).toBe(10);
    // A second with no busy answer ends the spell: the next busy answer begins another.
    expect(await settle(offer_id, 10, 10)).toBe(0);
    for (const dt of [4_000, 4_900, 5_800, 5_999]) expect(await reserve(offer_id, 30, 100, false, at_s + 4, t0 + dt), `at +${dt} ms`).toBe(-1);
    expect(await reserve(offer_id, 30, 100, false, at_s + 6, t0 + 6_000)).toBe(10);
    expect(await redis.pTTL(budgetBusyKey(offer_id))).toBeLessThanOrEqual(3_000);
  });

  it('a reservation never settled stops counting as pending after 10 s: spent, never over-awarded', async () => {
    const offer_id = newId('off');
    expect(await reserve(offer_id, 100, 100, false, at_s)).toBe(100);
    expect(await reserve(offer_id, 10, 100, false, at_s + 9)).toBe(-1);
    expect(await reserve(offer_id, 10, 100, false, at_s + 10)).toBe(0);
    expect(await redis.get(budgetKey(offer_id))).toBe('100');
    // A late settle of a second dropped since gives back what it says, and clears nothing.
    await redis.hDel(budgetPendingKey(offer_id), String(at_s));
    expect(await settle(offer_id, 100, 30)).toBe(0);
    expect(await redis.get(budgetKey(offer_id))).toBe('70');
    expect(await redis.hLen(budgetPendingKey(offer_id))).toBe(0);
    expect(await redis.ttl(budgetPendingKey(offer_id))).toBeLessThanOrEqual(11);
  });
});
