import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileOffers, evaluatePurchase, type Offer, type PurchaseContext } from './offer.ts';
import { offerSchema } from './schemas.ts';

let n = 0;
function offer(input: Record<string, unknown>): Offer {
  n++;
  return { ...offerSchema.parse({ name: `o${n}`, goal: 'spend', ...input }), id: `off_${String(n).padStart(4, '0')}`, created_at: `2026-01-01T00:00:${String(n % 60).padStart(2, '0')}Z` };
}
const ctx: PurchaseContext = { amount: 2000, merchant_id: 'mer_1', venue_id: 'ven_1', at_ms: Date.parse('2026-06-01T12:00:00Z'), tier: null, tags: [] };

describe('offer evaluation', () => {
  it('percent and fixed spend offers, with min_amount and max_award', () => {
    const offers = [offer({ award: { percent: 5 } }), offer({ award: { fixed: 300 }, conditions: { min_amount: 2001 } }), offer({ award: { percent: 50 }, max_award: 250 })];
    const r = evaluatePurchase(compileOffers(offers, 'all'), ctx);
    expect(r.awards.map((a) => a.amount)).toEqual([100, 250]);
    expect(r.discount).toBe(0);
  });

  it('conditions on merchants, venues, tags, tiers and the validity window', () => {
    const offers = [
      offer({ award: { fixed: 1 }, conditions: { merchants: ['mer_2'] } }),
      offer({ award: { fixed: 2 }, conditions: { venues: ['ven_1'] } }),
      offer({ award: { fixed: 4 }, conditions: { tags: ['student'] } }),
      offer({ award: { fixed: 8 }, conditions: { tiers: ['gold'] } }),
      offer({ award: { fixed: 16 }, valid_to: '2026-05-01T00:00:00Z' }),
      offer({ award: { fixed: 32 }, active: false }),
    ];
    const compiled = compileOffers(offers, 'all');
    expect(compiled.needs_profile).toBe(true);
    expect(evaluatePurchase(compiled, ctx).awards.map((a) => a.amount)).toEqual([2]);
    expect(evaluatePurchase(compiled, { ...ctx, tags: ['student'], tier: 'gold' }).awards.map((a) => a.amount)).toEqual([2, 4, 8]);
  });

  it('instant discounts are summed and never exceed the amount', () => {
    const offers = [offer({ kind: 'instant_discount', award: { fixed: 1500 } }), offer({ kind: 'instant_discount', award: { fixed: 1500 } })];
    const r = evaluatePurchase(compileOffers(offers, 'all'), ctx);
    expect(r.discount).toBe(2000);
  });

  it('best picks the largest; best_per_scheme the largest of each scheme', () => {
    const offers = [
      offer({ award: { fixed: 10 } }),
      offer({ award: { fixed: 30 }, scheme_id: 'sch_a' }),
      offer({ award: { fixed: 20 }, scheme_id: 'sch_a' }),
      offer({ award: { fixed: 5 }, scheme_id: 'sch_b' }),
    ];
    expect(evaluatePurchase(compileOffers(offers, 'best'), ctx).awards.map((a) => a.amount)).toEqual([30]);
    expect(evaluatePurchase(compileOffers(offers, 'best_per_scheme'), ctx).awards.map((a) => a.amount).sort((a, b) => a - b)).toEqual([5, 10, 30]);
  });

  it('properties: awards non-negative, within max_award; best never above all', () => {
    const arbOffer = fc.record({
      kind: fc.constantFrom('cashback', 'instant_discount'),
      award: fc.oneof(fc.record({ percent: fc.integer({ min: 0, max: 10_000 }).map((bp) => bp / 100) }), fc.record({ fixed: fc.integer({ min: 0, max: 100_000 }) })),
      max_award: fc.option(fc.integer({ min: 0, max: 50_000 }), { nil: undefined }),
      scheme_id: fc.constantFrom(undefined, 'sch_a', 'sch_b'),
      conditions: fc.record({ min_amount: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }) }),
    });
    fc.assert(
      fc.property(fc.array(arbOffer, { maxLength: 12 }), fc.integer({ min: 1, max: 999_999_999_999 }), (inputs, amount) => {
        const offers = inputs.map((i) => offer(JSON.parse(JSON.stringify(i))));
        const c = { ...ctx, amount };
        const all = evaluatePurchase(compileOffers(offers, 'all'), c);
        const best = evaluatePurchase(compileOffers(offers, 'best'), c);
        const per = evaluatePurchase(compileOffers(offers, 'best_per_scheme'), c);
        const byId = new Map(offers.map((o) => [o.id, o]));
        for (const r of [all, best, per]) {
          expect(r.discount).toBeGreaterThanOrEqual(0);
          expect(r.discount).toBeLessThanOrEqual(amount);
          for (const a of r.awards) {
            expect(Number.isSafeInteger(a.amount)).toBe(true);
            expect(a.amount).toBeGreaterThan(0);
            const o = byId.get(a.offer_id)!;
            if (o.max_award !== undefined) expect(a.amount).toBeLessThanOrEqual(o.max_award);
          }
        }
        const total = (r: typeof all) => r.awards.reduce((s, a) => s + a.amount, 0);
        expect(total(best)).toBeLessThanOrEqual(total(per));
        expect(total(per)).toBeLessThanOrEqual(total(all));
        expect(best.awards.length).toBeLessThanOrEqual(1);
      }),
    );
  });
});
