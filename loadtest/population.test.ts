import { describe, expect, it } from 'vitest';
import { purchaseSchema } from '../core/schemas.ts';
import { basketOfAtLeast, card } from './population.ts';

describe('basketOfAtLeast', () => {
  it('reaches the amount asked, and its lines sum to it as a purchase must', () => {
    for (const min of [1, 5_000, 10_000, 50_000]) {
      const b = basketOfAtLeast(min);
      const items = JSON.parse(b.items) as { amount: number }[];
      expect(b.amount).toBeGreaterThanOrEqual(min);
      expect(items.reduce((sum, i) => sum + i.amount, 0)).toBe(b.amount);
      const body = { reference: 'r', cim: { type: 'card', value: card(0) }, amount: b.amount, currency: 'EUR', items };
      expect(purchaseSchema.safeParse(body).success).toBe(true);
    }
  });
});
