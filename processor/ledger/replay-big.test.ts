// Rebuild's replay of one contact with a long, busy life (the review "bigcontact"): a regular
// customer whose every purchase awards a lot that expires to the second, so that it holds tens of
// thousands of lots and the sweeper expires some every few minutes, each an expiry transaction.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ContactReplay, type HistoryRow, type ReplayContext } from './replay.ts';

const contact = 'con_big';
const commerce = `${contact}:commerce:EUR`;
const open = `${contact}:open:EUR`;
const rewards = 'bus_a:rewards:EUR';
const ctx: ReplayContext = { contact_id: contact, currency: 'EUR', offers: new Map([['off_c', { instant_redeem: false, per_contact: null }]]), tiers: null };
const minute_ms = 60_000;
const day_ms = 86_400_000;
const t0 = Date.UTC(2026, 0, 1);

let n = 0;
function row(kind: string, created_ms: number, extra: Partial<HistoryRow>): HistoryRow {
  return { id: `txn_${++n}`, kind, amount: 0, created_ms, at_ms: created_ms, original_id: null, awards: null, reason: null, lots: null, award_expired: 0, postings: [], timezone: 'UTC', ...extra };
}
const purchase = (at_ms: number, amount: number, expires_ms: number, pool: string | null = null) =>
  row('purchase', at_ms, { amount: 1_000, awards: [{ offer_id: 'off_c', kind: 'cashback', amount, pool, expires_at: new Date(expires_ms).toISOString() }], postings: [[rewards, commerce, amount]] });

describe('ContactReplay of one contact with a long life', () => {
  it('replays a year of purchases every 15 minutes (lots of 90 days, an expiry each 15 minutes after), looking at each lot a few times, not at every lot per expiry', () => {
    // 35,040 purchases (a lot each, 90 days), 26,400 expiry transactions (one lot each), some
    // refunds: 8,640 lots held at once. Each expiry read every lot: 26,400 × 8,640 = 228 million
    // lot visits (11 s on this machine) for a single contact, in rebuild's one pass.
    const r = new ContactReplay(ctx);
    const step = 15 * minute_ms;
    const validity = 90 * day_ms;
    let lots_total = 0;
    let expired_total = 0;
    const expiries: { at: number; amount: number }[] = [];
    let applied = 0;
    for (let i = 0; i < 35_040; i++) {
      const at = t0 + i * step;
      // The sweeper's expiry of the lot that expired since the last purchase.
      const due = at - validity - step + 1_000;
      if (due >= t0) {
        r.apply(row('expiry', at - 500, { amount: 2, postings: [[commerce, rewards, 2]] }));
        expired_total += 2;
        expiries.push({ at, amount: 2 });
        applied++;
      }
      r.apply(purchase(at, 2, at + 1_000 + validity));
      applied++;
      lots_total += 2;
    }
    const out = r.result();
    expect(out.lots.reduce((s, [, a]) => s + a, 0)).toBe(lots_total - expired_total);
    expect(r.warnings).toEqual([]);
    expect(out.earliest_expiry).toBe(Math.min(...out.lots.map(([f]) => Number(f.slice(0, 13)))));
    // Each expiry looks at the lots it expires and the next one: 52,800 looks, against 228 million.
    // And at least one each: an expiry that went round the lots' order (reading every lot again)
    // would look at none.
    expect(r.lots_visited).toBeLessThanOrEqual(2 * applied);
    expect(r.lots_visited).toBeGreaterThanOrEqual(expiries.length);
  }, 60_000);

  it('replays a contact holding 150,000 lots (a year of purchases, two pools): no RangeError from its earliest expiry', () => {
    const r = new ContactReplay(ctx);
    for (let i = 0; i < 75_000; i++) {
      const at = t0 + i * 7 * minute_ms;
      r.apply(row('purchase', at, {
        amount: 1_000,
        awards: [
          { offer_id: 'off_c', kind: 'cashback', amount: 20, pool: null, expires_at: new Date(at + 365 * day_ms).toISOString() },
          { offer_id: 'off_c', kind: 'cashback', amount: 1, pool: 'X', expires_at: new Date(at + 365 * day_ms).toISOString() },
        ],
        postings: [[rewards, commerce, 21]],
      }));
    }
    const out = r.result();
    expect(out.lots).toHaveLength(150_000);
    expect(out.earliest_expiry).toBe(t0 + 365 * day_ms);
  }, 60_000);

  it('takes and expires the very lots that sorting every lot took (lots by expiry and pool, awards, claw-backs, expiries, redemptions and their reversals)', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('award' as const), amount: fc.integer({ min: 1, max: 50 }), expiry: fc.integer({ min: 1, max: 30 }), pool: fc.constantFrom(null, 'X', 'Y') }),
      fc.record({ kind: fc.constant('claw' as const), amount: fc.integer({ min: 1, max: 120 }) }),
      fc.record({ kind: fc.constant('expire' as const), at: fc.integer({ min: 1, max: 30 }) }),
      fc.record({ kind: fc.constant('redeem' as const), amount: fc.integer({ min: 1, max: 80 }) }),
      fc.record({ kind: fc.constant('reverse' as const) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const r = new ContactReplay(ctx);
        // The model: every lot read and sorted at each step, as replay did before.
        const model = new Map<string, number>();
        let debt = 0;
        const add = (f: string, a: number) => {
          const left = (model.get(f) ?? 0) + a;
          if (left === 0) model.delete(f);
          else model.set(f, left);
        };
        const takeSorted = (want: number) => {
          const taken: [string, number][] = [];
          for (const f of [...model.keys()].sort()) {
            if (want <= 0) break;
            const take = Math.min(model.get(f)!, want);
            add(f, -take);
            taken.push([f, take]);
            want -= take;
          }
          return taken;
        };
        const redemptions: { id: string; lots: [string, number][] }[] = [];
        const at = (k: number) => t0 + k * 1_000;
        for (const s of steps) {
          const total = [...model.values()].reduce((a, b) => a + b, 0);
          if (s.kind === 'award') {
            r.apply(row('purchase', t0, { amount: 1_000, awards: [{ offer_id: 'off_c', kind: 'cashback', amount: s.amount, pool: s.pool, expires_at: new Date(at(s.expiry)).toISOString() }], postings: [[rewards, commerce, s.amount]] }));
            const settle = Math.min(debt, s.amount);
            debt -= settle;
            if (s.amount > settle) add(`${String(at(s.expiry)).padStart(13, '0')}|${s.pool ?? ''}`, s.amount - settle);
          } else if (s.kind === 'claw') {
            r.apply(row('refund', t0, { postings: [[commerce, rewards, s.amount]] }));
            const from_lots = Math.min(s.amount, Math.max(total - debt, 0));
            debt += s.amount - from_lots;
            takeSorted(from_lots);
          } else if (s.kind === 'expire') {
            let expired = 0;
            for (const [f, a] of [...model]) if (Number(f.slice(0, 13)) <= at(s.at)) { expired += a; model.delete(f); }
            r.apply(row('expiry', at(s.at), { postings: expired > 0 ? [[commerce, rewards, expired]] : [] }));
          } else if (s.kind === 'redeem') {
            const want = Math.min(s.amount, Math.max(total - debt, 0));
            if (want <= 0) continue;
            const lots = takeSorted(want);
            const t = row('redemption', t0, { amount: want, lots, postings: [[commerce, open, want]] });
            r.apply(t);
            redemptions.push({ id: t.id, lots });
          } else {
            const red = redemptions.pop();
            if (red === undefined) continue;
            const back = red.lots.reduce((a, [, b]) => a + b, 0);
            for (const [f, a] of red.lots) add(f, a);
            r.apply(row('reversal', t0, { original_id: red.id, postings: [[open, commerce, back]] }));
          }
          const out = r.result();
          expect(new Map(out.lots)).toEqual(model);
          expect(out.debt).toBe(debt);
        }
      }),
      { numRuns: 300 },
    );
  });
});
