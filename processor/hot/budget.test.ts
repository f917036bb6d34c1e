// budget.lua against the test Redis (database 15), called through its definition (budget.ts).

import { describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import type { RedisClient } from '../stores.ts';
import { budgetKey } from './keys.ts';
import { specRedisForFile } from './script-spec.ts';

let redis: RedisClient;

specRedisForFile(15, (r) => (redis = r));

describe('budget.lua', () => {
  it('grants the whole amount, then what is left, then nothing; concurrent reservations never exceed the budget', async () => {
    const offer_id = newId('off');
    expect(await redis.budgetScript({ offer_id, amount: 60, budget: 100 })).toBe(60);
    expect(await redis.budgetScript({ offer_id, amount: 60, budget: 100 })).toBe(40);
    expect(await redis.budgetScript({ offer_id, amount: 60, budget: 100 })).toBe(0);
    expect(await redis.get(budgetKey(offer_id))).toBe('100');

    const other = newId('off');
    const grants = await Promise.all(Array.from({ length: 50 }, () => redis.budgetScript({ offer_id: other, amount: 7, budget: 100 })));
    expect(grants.reduce((a, b) => a + b, 0)).toBe(100);
  });
});
