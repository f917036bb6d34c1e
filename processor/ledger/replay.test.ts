import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ContactReplay, type HistoryRow, type ReplayContext } from './replay.ts';
import { base32Time, newId } from '../../core/ids.ts';

const contact = 'con_a';
const commerce = `${contact}:commerce:EUR`;
const open = `${contact}:open:EUR`;
const rewards = 'bus_a:rewards:EUR';
const ctx: ReplayContext = {
  contact_id: contact,
  currency: 'EUR',
  offers: new Map([
    ['off_c', { instant_redeem: false, per_contact: { count: 2, period: 'day' } }],
    ['off_o', { instant_redeem: true, per_contact: null }],
  ]),
  tiers: { kinds: ['m'] },
};

let n = 0;
function row(kind: string, created_ms: number, extra: Partial<HistoryRow>): HistoryRow {
  return { id: `txn_${++n}`, kind, amount: 0, created_ms, at_ms: created_ms, original_id: null, awards: null, reason: null, lots: null, award_expired: 0, postings: [], timezone: 'UTC', ...extra };
}
const expiry = (ms: number) => new Date(ms).toISOString();
const award = (amount: number, expires_ms: number, offer_id = 'off_c') => ({ offer_id, kind: 'cashback', amount, pool: null, expires_at: expiry(expires_ms) });
const lotOf = (ms: number) => `${String(ms).padStart(13, '0')}|`;

describe('ContactReplay', () => {
  it('claws back from the earliest lots, leaves the rest as debt, which the next award settles first', () => {
    const r = new ContactReplay(ctx);
    const t0 = Date.UTC(2026, 5, 1, 10);
    r.apply(row('purchase', t0, { amount: 10_000, awards: [award(300, t0 + 2e9), award(200, t0 + 1e9), award(50, 0, 'off_o')], postings: [[rewards, commerce, 500], [rewards, open, 50]] }));
    r.apply(row('refund', t0 + 1, { postings: [[commerce, rewards, 700], [open, rewards, 50]] }));
    expect(r.result().lots).toEqual([]);
    expect(r.result().debt).toBe(200);
    r.apply(row('purchase', t0 + 2, { amount: 5_000, awards: [award(250, t0 + 3e9)], postings: [[rewards, commerce, 250]] }));
    const out = r.result();
    expect(out.lots).toEqual([[lotOf(t0 + 3e9), 50]]);
    expect(out.debt).toBe(0);
    expect(out.purchases).toBe(2);
    // No latest purchase time: rebuild writes none (rebuild-contacts.ts contactFields), as purchases do not.
    expect(out).not.toHaveProperty('last_purchase_ms');
    expect(out.units).toEqual([['um', '2026-06|15000|0']]);
    // Two awards of the capped offer today; the open one has no cap.
    expect(out.caps).toEqual([[`off_c|d2026-06-01`, 3]]);
    expect(r.warnings).toEqual([]);
  });

  it('an instant_redeem award settles debt first too (since 2026-12-03), and one recorded before that settled none', () => {
    const t0 = Date.UTC(2026, 11, 3, 10);
    const indebted = () => {
      const r = new ContactReplay(ctx);
      r.apply(row('purchase', t0, { amount: 10_000, awards: [award(100, t0 + 2e9)], postings: [[rewards, commerce, 100]] }));
      r.apply(row('refund', t0 + 1, { postings: [[commerce, rewards, 400]] }));
      expect(r.result().debt).toBe(300);
      return r;
    };
    // Now: the 200 into commerce settles 200 of the debt, 100 of the instant award the rest.
    const now = indebted();
    now.apply(row('purchase', t0 + 2, { amount: 5_000, awards: [award(200, t0 + 3e9), award(150, 0, 'off_o')], postings: [[rewards, commerce, 300], [rewards, open, 50]] }));
    expect(now.result()).toMatchObject({ lots: [], debt: 0 });
    expect(now.warnings).toEqual([]);
    // Before: the instant award went into the open balance whole, the debt left at 100.
    const before = indebted();
    before.apply(row('purchase', t0 + 2, { amount: 5_000, awards: [award(200, t0 + 3e9), award(150, 0, 'off_o')], postings: [[rewards, commerce, 200], [rewards, open, 150]] }));
    expect(before.result()).toMatchObject({ lots: [], debt: 100 });
    expect(before.warnings).toEqual([]);
  });

  it('a redemption recorded without its lots (before 2026-11-30) takes the earliest-expiring lots, and its reversal gives them back', () => {
    const r = new ContactReplay(ctx);
    const t0 = Date.UTC(2026, 10, 24, 10);
    // A lot already expired (not yet swept) is not redeemable: redeem.lua skipped it.
    r.apply(row('purchase', t0, { amount: 10_000, awards: [award(300, t0 + 2e9), award(200, t0 + 1e9), award(10, t0)], postings: [[rewards, commerce, 510]] }));
    // The release of 2026-11-24 journaled a redemption without the lots it took.
    const redemption = row('redemption', t0 + 1, { amount: 350, lots: null, postings: [[commerce, open, 350]] });
    r.apply(redemption);
    expect(r.result().lots.sort()).toEqual([[lotOf(t0), 10], [lotOf(t0 + 2e9), 150]]);
    r.apply(row('reversal', t0 + 2, { original_id: redemption.id, postings: [[open, commerce, 350]] }));
    expect(r.result().lots.sort()).toEqual([[lotOf(t0), 10], [lotOf(t0 + 1e9), 200], [lotOf(t0 + 2e9), 300]]);
  });

  it('dates purchase history, tier units and caps by occurred_at, as the scripts did, not by when it was processed', () => {
    // Born on 31 May: its purchases that day are kept by time.
    const r = new ContactReplay({ ...ctx, birth_date: '1990-05-31' });
    // Rung up at 23:50 on 31 May, processed (and recorded) at 00:10 on 1 June.
    const occurred = Date.UTC(2026, 4, 31, 23, 50);
    const processed = Date.UTC(2026, 5, 1, 0, 10);
    const p = { ...row('purchase', processed, { amount: 10_000, awards: [award(100, processed + 1e9)], postings: [[rewards, commerce, 100]] }), at_ms: occurred };
    r.apply(p);
    const out = r.result();
    expect(out.purchase_times).toEqual([[p.id, occurred]]);
    expect(out.units).toEqual([['um', '2026-05|10000|0']]);
    expect(out.caps).toEqual([['off_c|d2026-05-31', 1]]);
  });

  it('a purchase dated in the period before the counters’ counts in their previous period, as lib.lua addTierUnits does', () => {
    const r = new ContactReplay(ctx);
    const june = Date.UTC(2026, 5, 1, 0, 10);
    r.apply(row('purchase', june, { amount: 15_000 }));
    r.apply({ ...row('purchase', june + 1, { amount: 2_000 }), at_ms: Date.UTC(2026, 4, 31, 23, 50) });
    expect(r.result().units).toEqual([['um', '2026-06|15000|2000']]);
    // Two periods back: no period a tier reads.
    r.apply({ ...row('purchase', june + 2, { amount: 1_000 }), at_ms: Date.UTC(2026, 3, 30, 12) });
    expect(r.result().units).toEqual([['um', '2026-06|15000|2000']]);
  });

  it('a reversed purchase gives back its caps, itself and its tier units, as reversal.lua does', () => {
    const r = new ContactReplay({ ...ctx, birth_date: '1990-06-30' });
    const t0 = Date.UTC(2026, 5, 30, 12);
    const a = row('purchase', t0, { amount: 10_000, awards: [award(100, t0 + 2e9)], postings: [[rewards, commerce, 100]] });
    const b = row('purchase', t0 + 1, { amount: 3_000, awards: [award(100, t0 + 2e9)], postings: [[rewards, commerce, 100]] });
    r.apply(a);
    r.apply(b);
    // Reversed in July: June's units are the previous period's by then, and still taken.
    const c = row('purchase', Date.UTC(2026, 6, 1, 9), { amount: 500, awards: [], postings: [] });
    r.apply(c);
    r.apply(row('reversal', c.created_ms + 1, { original_id: a.id, postings: [[commerce, rewards, 100]] }));
    let out = r.result();
    expect(out.caps).toEqual([['off_c|d2026-06-30', 1]]);
    expect(out.purchases).toBe(2);
    // The birthday's purchases by time, for "first purchase of the day": the reversed one out
    // (reversal.lua), July 1st's not kept (purchase.lua).
    expect(out.purchase_times).toEqual([[b.id, b.at_ms]]);
    expect(out.units).toEqual([['um', '2026-07|500|3000']]);
    r.apply(row('reversal', c.created_ms + 2, { original_id: b.id, postings: [[commerce, rewards, 100]] }));
    r.apply(row('reversal', c.created_ms + 3, { original_id: c.id, postings: [] }));
    out = r.result();
    // None left: the next purchase is the first again, and none on the birthday.
    expect(out.caps).toEqual([]);
    expect(out.purchases).toBe(0);
    expect(out.purchase_times).toEqual([]);
    expect(out.units).toEqual([['um', '2026-07|0|0']]);
    expect(r.warnings).toEqual([]);
  });

  it('counts tier units of every purchase, whenever the business got its tiers (tier-seed.ts counts those before at the PUT)', () => {
    const since = Date.UTC(2026, 5, 10);
    const r = new ContactReplay({ ...ctx, tiers: { kinds: ['m', 'y'] } });
    r.apply(row('purchase', since - 1, { amount: 10_000 }));
    r.apply(row('purchase', since, { amount: 5_000 }));
    expect(r.result().units).toEqual([['um', '2026-06|15000|0'], ['uy', '2026|15000|0']]);
  });

  it('replays the expiries of one sweep that took the due lots a bounded number at a time (expire.lua), and a claw-back between two of them', () => {
    const r = new ContactReplay(ctx);
    const t0 = Date.UTC(2026, 5, 1);
    // Five lots due at t0 + 100, one later.
    r.apply(row('purchase', t0, { amount: 1_000, awards: [1, 2, 3, 4, 5].map((i) => award(10 * i, t0 + i)).concat([award(7, t0 + 1e9)]), postings: [[rewards, commerce, 157]] }));
    // The sweep's first call took the two earliest (10 + 20), a refund clawed 5 back from the earliest left (a lot due, not swept yet).
    r.apply(row('expiry', t0 + 100, { postings: [[commerce, rewards, 30]] }));
    r.apply(row('refund', t0 + 100, { postings: [[commerce, rewards, 5]] }));
    expect(r.result().lots.sort()).toEqual([[lotOf(t0 + 3), 25], [lotOf(t0 + 4), 40], [lotOf(t0 + 5), 50], [lotOf(t0 + 1e9), 7]]);
    // The next calls, at the same time: the rest of what was due.
    r.apply(row('expiry', t0 + 100, { postings: [[commerce, rewards, 65]] }));
    r.apply(row('expiry', t0 + 100, { postings: [[commerce, rewards, 50]] }));
    expect(r.result().lots).toEqual([[lotOf(t0 + 1e9), 7]]);
    expect(r.warnings).toEqual([]);
  });

  it('remembers what expired of each lot, and writes off what a refund or reversal found expired, as expire.lua and claw-back.lua do', () => {
    const r = new ContactReplay(ctx);
    const t0 = Date.UTC(2026, 5, 1);
    // Two purchases: 100 into a lot due at t0 + 10, 60 into one due at t0 + 20; 30 of the first redeemed.
    const first = row('purchase', t0, { amount: 1_000, awards: [award(100, t0 + 10)], postings: [[rewards, commerce, 100]] });
    const second = row('purchase', t0 + 1, { amount: 600, awards: [award(60, t0 + 20)], postings: [[rewards, commerce, 60]] });
    r.apply(first);
    r.apply(second);
    r.apply(row('redemption', t0 + 2, { lots: [[lotOf(t0 + 10), 30]], postings: [[commerce, open, 30]] }));
    r.apply(row('expiry', t0 + 30, { postings: [[commerce, rewards, 130]] }));
    expect(r.result()).toMatchObject({ lots: [], expired_lots: [[lotOf(t0 + 10), 70], [lotOf(t0 + 20), 60]], expired_lots_kept_until_ms: t0 + 30 + 90 * 86_400_000 });
    // The first refunded by half: its share of 50 all expired. Then reversed: 20 more expired, 30 clawed from open.
    r.apply(row('refund', t0 + 40, { original_id: first.id, amount: 500, award_expired: 50, postings: [] }));
    r.apply(row('reversal', t0 + 41, { original_id: first.id, award_expired: 20, postings: [[open, rewards, 30]] }));
    r.apply(row('reversal', t0 + 42, { original_id: second.id, award_expired: 60, postings: [] }));
    expect(r.result()).toMatchObject({ lots: [], debt: 0, expired_lots: [], expired_lots_kept_until_ms: 0, purchases: 0 });
    expect(r.warnings).toEqual([]);
    // A write-off the lots cannot account for is a warning.
    r.apply(row('refund', t0 + 43, { original_id: second.id, award_expired: 5, postings: [] }));
    expect(r.warnings).toEqual([`refund txn_${n}: 5 of its claw-back had expired, 0 derived`]);
  });

  it('writes off what an expiry before it in the journal took, though the claw-back\'s own time is before the lot\'s expiry (its gateway\'s clock behind the sweep\'s)', () => {
    const r = new ContactReplay(ctx);
    const t0 = Date.UTC(2026, 11, 7);
    const sale = row('purchase', t0, { amount: 1_000, awards: [award(100, t0 + 10_000)], postings: [[rewards, commerce, 100]] });
    r.apply(sale);
    r.apply(row('expiry', t0 + 10_500, { postings: [[commerce, rewards, 100]] }));
    // Stamped 2 s behind: 8.5 s, before the lot's expiry, yet after the expiry in the journal.
    r.apply(row('reversal', t0 + 8_500, { original_id: sale.id, award_expired: 100, postings: [] }));
    expect(r.result()).toMatchObject({ lots: [], debt: 0, expired_lots: [] });
    expect(r.warnings).toEqual([]);
  });

  it('notes owed what a claw-back\'s entry says it noted (each lack in turn, under its id), every lack for entries before 2026-12-06, and settles notes made since a redemption as its reversal does', () => {
    const t0 = Date.UTC(2026, 11, 6);
    const never = lotOf(9_999_999_999_999);
    const soon = lotOf(t0 + 2e9);
    const kept = (amount: number) => ({ offer_id: 'off_c', kind: 'cashback', amount, pool: null, expires_at: null });
    const at = (kind: string, ms: number, extra: Partial<HistoryRow>) => row(kind, ms, { id: newId('txn', ms), ...extra });
    // A sale of 500 (never expires) + 200 (soon); 300 redeemed (all of soon, 100 of never); half
    // refunded (350, from never alone: soon's share of 100 taken there instead, nothing owed);
    // then reversed (50 from never, 300 from open: owed 100 of soon, 200 of never); then the
    // redemption reversed: soon's 200 passes 100 on to never (taken instead), then each lot's
    // note settles what it holds: all 300, nothing back.
    const r = new ContactReplay(ctx);
    const sale = at('purchase', t0, { amount: 2_000, awards: [kept(500), award(200, t0 + 2e9)], postings: [[rewards, commerce, 700]] });
    r.apply(sale);
    const redemption = at('redemption', t0 + 1, { lots: [[soon, 200], [never, 100]], postings: [[commerce, open, 300]] });
    r.apply(redemption);
    const refund = at('refund', t0 + 2, { original_id: sale.id, amount: 1_000, lots: [[never, 350]], owed: 0, instead: [[soon, never, 100]], postings: [[commerce, rewards, 350]] });
    r.apply(refund);
    expect(r.result()).toMatchObject({ owed_lots: [], instead_lots: [[`${refund.id.slice(4)}>${soon}`, `[["${never}",100]]`]] });
    const reversal = at('reversal', t0 + 3, { original_id: sale.id, lots: [[never, 50]], owed: 300, postings: [[commerce, rewards, 50], [open, rewards, 300]] });
    r.apply(reversal);
    const by = reversal.id.slice(4);
    expect(r.result().owed_lots.sort()).toEqual([[by + soon, 100], [by + never, 200]].sort());
    r.apply(at('reversal', t0 + 4, { original_id: redemption.id, lots: [], owed: 300, postings: [] }));
    expect(r.result()).toMatchObject({ lots: [], debt: 0, owed_lots: [], instead_lots: [], owed_lots_kept_until_ms: 0 });
    expect(r.warnings).toEqual([]);

    // Two sales, 300 redeemed, the first reversed from commerce alone: its entry noted nothing.
    // Written before 2026-12-06 (no `owed`), the lack of its own lot was noted whole, under the lot.
    const twice = (owed: number | undefined) => {
      const q = new ContactReplay(ctx);
      const first = at('purchase', t0, { amount: 2_000, awards: [kept(500), award(200, t0 + 2e9)], postings: [[rewards, commerce, 700]] });
      q.apply(first);
      q.apply(at('purchase', t0 + 1, { amount: 2_000, awards: [kept(500), award(200, t0 + 3e9)], postings: [[rewards, commerce, 700]] }));
      q.apply(at('redemption', t0 + 2, { lots: [[soon, 200], [lotOf(t0 + 3e9), 100]], postings: [[commerce, open, 300]] }));
      q.apply(at('reversal', t0 + 3, { original_id: first.id, lots: [[never, 700]], owed, postings: [[commerce, rewards, 700]] }));
      return q;
    };
    expect(twice(0).result().owed_lots).toEqual([]);
    expect(twice(undefined).result().owed_lots).toEqual([[soon, 200]]);
    // Since 2026-12-07 what it noted beyond its lots' lacks is what it took wanting other lots
    // (claw-back.lua noteWanting), of a contact that ever redeemed: noted under `~`.
    const over = twice(250);
    expect(over.warnings).toEqual([]);
    expect(over.result().owed_lots.map(([field, n]) => [field.slice(26), n]).sort()).toEqual([[soon, 200], ['~', 50]].sort());
    // A contact that never redeemed notes nothing so: an entry saying otherwise is warned of.
    const never_redeemed = new ContactReplay(ctx);
    const lone = at('purchase', t0, { amount: 2_000, awards: [award(200, t0 + 2e9)], postings: [[rewards, commerce, 200]] });
    never_redeemed.apply(lone);
    never_redeemed.apply(at('reversal', t0 + 1, { original_id: lone.id, lots: [[soon, 200]], owed: 50, postings: [[commerce, rewards, 200]] }));
    expect(never_redeemed.warnings).toEqual([expect.stringMatching(/: it noted 50 owed, 0 derived$/)]);

    // A note made before a redemption is not its doing: that redemption's reversal leaves it. A
    // note 90 days old, the script's key gone, is forgotten.
    const q = new ContactReplay(ctx);
    const a = at('purchase', t0, { amount: 3_000, awards: [award(300, t0 + 2e9)], postings: [[rewards, commerce, 300]] });
    q.apply(a);
    q.apply(at('redemption', t0 + 1, { lots: [[soon, 300]], postings: [[commerce, open, 300]] }));
    q.apply(at('reversal', t0 + 2, { original_id: a.id, lots: null, owed: 300, postings: [[open, rewards, 300]] }));
    q.apply(at('purchase', t0 + 3, { amount: 3_000, awards: [award(300, t0 + 3e9)], postings: [[rewards, commerce, 300]] }));
    const later = at('redemption', t0 + 4, { lots: [[lotOf(t0 + 3e9), 300]], postings: [[commerce, open, 300]] });
    q.apply(later);
    q.apply(at('reversal', t0 + 5, { original_id: later.id, lots: [[lotOf(t0 + 3e9), 300]], owed: 0, postings: [[open, commerce, 300]] }));
    expect(q.result().owed_lots).toHaveLength(1);
    expect(q.warnings).toEqual([]);
    q.apply(at('reversal', t0 + 91 * 86_400_000, { original_id: later.id, lots: [], owed: 0, postings: [] }));
    expect(q.result().owed_lots).toEqual([]);
  });

  it('files a claw-back\'s notes after every note held, as claw-back.lua noteId does: a chain in the order the claw-backs committed', () => {
    const t0 = Date.UTC(2026, 11, 7);
    const at = (kind: string, ms: number, extra: Partial<HistoryRow>) => row(kind, ms, { id: newId('txn', ms), ...extra });
    const [x, z, y] = [lotOf(t0 + 1e9), lotOf(t0 + 3e9), lotOf(t0 + 4e9)];
    const r = new ContactReplay(ctx);
    const q = at('purchase', t0, { amount: 1_000, awards: [award(100, t0 + 4e9)], postings: [[rewards, commerce, 100]] });
    r.apply(q);
    const redemption = at('redemption', t0 + 1, { lots: [[y, 100]], postings: [[commerce, open, 100]] });
    r.apply(redemption);
    const w = at('purchase', t0 + 2, { amount: 1_000, awards: [award(100, t0 + 3e9)], postings: [[rewards, commerce, 100]] });
    r.apply(w);
    const p = at('purchase', t0 + 3, { amount: 1_000, awards: [award(100, t0 + 1e9)], postings: [[rewards, commerce, 100]] });
    r.apply(p);
    // Q reversed (its lot Y redeemed: P's X taken instead), then P, its id stamped 2 s before Q's
    // reversal's, committed after it (X gone: W's Z instead).
    const first = at('reversal', t0 + 10_000, { original_id: q.id, lots: [[x, 100]], owed: 0, instead: [[y, x, 100]], postings: [[commerce, rewards, 100]] });
    r.apply(first);
    const second = at('reversal', t0 + 8_000, { original_id: p.id, lots: [[z, 100]], owed: 0, instead: [[x, z, 100]], postings: [[commerce, rewards, 100]] });
    r.apply(second);
    const raised = `${base32Time(t0 + 10_001)}${second.id.slice(14)}`;
    expect(r.result().instead_lots).toEqual([[`${first.id.slice(4)}>${y}`, `[["${x}",100]]`], [`${raised}>${x}`, `[["${z}",100]]`]]);
    expect(r.warnings).toEqual([]);
  });

  it('settles a redemption\'s reversal from the `since` its entry names (redeem.lua raised it past the notes held), and files later notes after it', () => {
    const t0 = Date.UTC(2026, 11, 7);
    const never = lotOf(9_999_999_999_999);
    const kept = (amount: number) => ({ offer_id: 'off_c', kind: 'cashback', amount, pool: null, expires_at: null });
    const at = (kind: string, ms: number, extra: Partial<HistoryRow>) => row(kind, ms, { id: newId('txn', ms), ...extra });
    // A sale's 300 redeemed, the sale reversed (300 from open, noted owed for `never`); a second
    // sale's 300 redeemed by a redemption stamped 2 s before that note, committed after it.
    const replay = (since: (note: number) => string | null) => {
      const r = new ContactReplay(ctx);
      const a = at('purchase', t0, { amount: 3_000, awards: [kept(300)], postings: [[rewards, commerce, 300]] });
      r.apply(a);
      r.apply(at('redemption', t0 + 1, { lots: [[never, 300]], postings: [[commerce, open, 300]] }));
      r.apply(at('reversal', t0 + 10_000, { original_id: a.id, lots: null, owed: 300, postings: [[open, rewards, 300]] }));
      r.apply(at('purchase', t0 + 11_000, { amount: 3_000, awards: [kept(300)], postings: [[rewards, commerce, 300]] }));
      const late = at('redemption', t0 + 8_000, { lots: [[never, 300]], since: since(t0 + 10_000), postings: [[commerce, open, 300]] });
      r.apply(late);
      expect(r.result().redeemed_at).toBe(since(t0 + 10_000) ?? late.id.slice(4, 14));
      r.apply(at('reversal', t0 + 12_000, { original_id: late.id, lots: [[never, 300]], owed: 0, postings: [[open, commerce, 300]] }));
      return r;
    };
    const raised = replay((note) => base32Time(note + 1));
    expect(raised.warnings).toEqual([]);
    expect(raised.result()).toMatchObject({ lots: [[never, 300]], owed_lots: [[expect.stringMatching(/\|$/), 300]] });
    // Read from its id's time, the note made before it would be settled: not what the script did.
    expect(replay(() => null).warnings).toEqual([expect.stringMatching(/: it settled 0 owed, 300 derived$/)]);
  });

  it('remembers what a claw-back took from other lots instead (its entry\'s `instead`), and a redemption\'s reversal made before it uses that up', () => {
    const t0 = Date.UTC(2026, 11, 6);
    const at = (kind: string, ms: number, extra: Partial<HistoryRow>) => row(kind, ms, { id: newId('txn', ms), ...extra });
    const [soon, later] = [lotOf(t0 + 1e9), lotOf(t0 + 2e9)];
    const r = new ContactReplay(ctx);
    const sale = at('purchase', t0, { amount: 2_000, awards: [award(100, t0 + 1e9), award(100, t0 + 2e9)], postings: [[rewards, commerce, 200]] });
    r.apply(sale);
    const redemption = at('redemption', t0 + 1, { lots: [[soon, 100]], postings: [[commerce, open, 100]] });
    r.apply(redemption);
    // The sale reversed: its later lot's 100, and for its redeemed soon lot another sale's lot instead.
    const other = at('purchase', t0 + 2, { amount: 1_000, awards: [award(100, t0 + 3e9)], postings: [[rewards, commerce, 100]] });
    r.apply(other);
    const reversal = at('reversal', t0 + 3, { original_id: sale.id, lots: [[later, 100], [lotOf(t0 + 3e9), 100]], owed: 0, instead: [[soon, lotOf(t0 + 3e9), 100]], postings: [[commerce, rewards, 200]] });
    r.apply(reversal);
    expect(r.result()).toMatchObject({ owed_lots: [], instead_lots: [[`${reversal.id.slice(4)}>${soon}`, `[["${lotOf(t0 + 3e9)}",100]]`]], lots: [] });
    // The redemption reversed: its 100 back to the other sale's lot, as the entry names.
    r.apply(at('reversal', t0 + 4, { original_id: redemption.id, lots: [[lotOf(t0 + 3e9), 100]], owed: 0, postings: [[open, commerce, 100]] }));
    expect(r.result()).toMatchObject({ owed_lots: [], instead_lots: [], lots: [[lotOf(t0 + 3e9), 100]], owed_lots_kept_until_ms: 0 });
    expect(r.warnings).toEqual([]);
  });

  it('files a claw-back\'s notes after the latest redemption before it in the journal, whatever its id\'s time, as claw-back.lua noteId does', () => {
    const t0 = Date.UTC(2026, 11, 6);
    const at = (kind: string, ms: number, extra: Partial<HistoryRow>) => row(kind, ms, { id: newId('txn', ms), ...extra });
    const [soon, other] = [lotOf(t0 + 1e9), lotOf(t0 + 3e9)];
    const r = new ContactReplay(ctx);
    const sale = at('purchase', t0, { amount: 1_000, awards: [award(100, t0 + 1e9)], postings: [[rewards, commerce, 100]] });
    r.apply(sale);
    r.apply(at('purchase', t0 + 1, { amount: 1_000, awards: [award(100, t0 + 3e9)], postings: [[rewards, commerce, 100]] }));
    const redemption = at('redemption', t0 + 5_000, { lots: [[soon, 100]], postings: [[commerce, open, 100]] });
    r.apply(redemption);
    // The sale's reversal, stamped 3 s before the redemption, came after it in the journal.
    const reversal = at('reversal', t0 + 2_000, { original_id: sale.id, lots: [[other, 100]], owed: 0, instead: [[soon, other, 100]], postings: [[commerce, rewards, 100]] });
    r.apply(reversal);
    expect(r.result()).toMatchObject({ instead_lots: [[`${redemption.id.slice(4, 14)}${reversal.id.slice(14)}>${soon}`, `[["${other}",100]]`]] });
    r.apply(at('reversal', t0 + 6_000, { original_id: redemption.id, lots: [[other, 100]], owed: 0, postings: [[open, commerce, 100]] }));
    expect(r.result()).toMatchObject({ instead_lots: [], lots: [[other, 100]] });
    expect(r.warnings).toEqual([]);
  });

  it('a spend\'s reversal pays commerce debt first (since 2026-12-06): what its postings move into commerce leaves the debt', () => {
    const t0 = Date.UTC(2026, 11, 6);
    const r = new ContactReplay(ctx);
    const sale = row('purchase', t0, { amount: 5_000, awards: [award(500, t0 + 2e9)], postings: [[rewards, commerce, 500]] });
    r.apply(sale);
    r.apply(row('redemption', t0 + 1, { lots: [[lotOf(t0 + 2e9), 500]], postings: [[commerce, open, 500]] }));
    r.apply(row('refund', t0 + 2, { original_id: sale.id, amount: 5_000, owed: 0, postings: [[commerce, rewards, 500]] }));
    expect(r.result().debt).toBe(500);
    r.apply(row('spend', t0 + 2, { id: 'txn_spend', amount: 400, postings: [[open, 'bus_a:spends:EUR', 400]] }));
    r.apply(row('reversal', t0 + 3, { original_id: 'txn_spend', owed: null, postings: [['bus_a:spends:EUR', open, 400], [open, commerce, 400]] }));
    expect(r.result()).toMatchObject({ debt: 100, lots: [] });
    expect(r.warnings).toEqual([]);
  });

  it.each(['refund', 'reversal'])('a purchase\'s wallet payment its %s gives back pays commerce debt first (lib.lua backToOpen), before its claw-back', (kind) => {
    const t0 = Date.UTC(2026, 11, 6);
    const r = new ContactReplay(ctx);
    const first = row('purchase', t0, { amount: 2_000, awards: [award(200, t0 + 2e9)], postings: [[rewards, commerce, 200]] });
    r.apply(first);
    r.apply(row('redemption', t0 + 1, { lots: [[lotOf(t0 + 2e9), 200]], postings: [[commerce, open, 200]] }));
    const paid = row('purchase', t0 + 2, { amount: 1_000, awards: [award(100, t0 + 2e9 + 2)], postings: [[open, 'bus_a:spends:EUR', 200], [rewards, commerce, 100]] });
    r.apply(paid);
    r.apply(row('redemption', t0 + 3, { lots: [[lotOf(t0 + 2e9 + 2), 100]], postings: [[commerce, open, 100]] }));
    r.apply(row('reversal', t0 + 4, { original_id: first.id, owed: 0, postings: [[commerce, rewards, 200]] }));
    expect(r.result().debt).toBe(200);
    r.apply(row(kind, t0 + 5, { original_id: paid.id, amount: 1_000, owed: 0, postings: [['bus_a:spends:EUR', open, 200], [open, commerce, 200], [commerce, rewards, 100]] }));
    expect(r.result()).toMatchObject({ debt: 100, lots: [] });
    expect(r.warnings).toEqual([]);
  });

  it('takes the lots a claw-back\'s entry names (the purchase\'s own first), else the earliest (entries before 2026-12-03)', () => {
    const r = new ContactReplay(ctx);
    const t0 = Date.UTC(2026, 5, 1);
    const first = row('purchase', t0, { amount: 1_000, awards: [award(100, t0 + 10)], postings: [[rewards, commerce, 100]] });
    const second = row('purchase', t0 + 1, { amount: 1_000, awards: [award(100, t0 + 20)], postings: [[rewards, commerce, 100]] });
    r.apply(first);
    r.apply(second);
    // The second refunded: its own lot, though the first's expires earlier.
    r.apply(row('refund', t0 + 2, { original_id: second.id, lots: [[lotOf(t0 + 20), 100]], postings: [[commerce, rewards, 100]] }));
    expect(r.result().lots).toEqual([[lotOf(t0 + 10), 100]]);
    // The first's expires; its reversal finds it expired.
    r.apply(row('expiry', t0 + 30, { postings: [[commerce, rewards, 100]] }));
    r.apply(row('reversal', t0 + 31, { original_id: first.id, award_expired: 100, postings: [] }));
    expect(r.result()).toMatchObject({ lots: [], debt: 0, expired_lots: [] });
    // Without lots named, the earliest; named lots the replay does not hold are a warning.
    r.apply(row('purchase', t0 + 40, { amount: 1_000, awards: [award(50, t0 + 60), award(50, t0 + 50)], postings: [[rewards, commerce, 100]] }));
    r.apply(row('refund', t0 + 41, { postings: [[commerce, rewards, 30]] }));
    expect(r.result().lots.sort()).toEqual([[lotOf(t0 + 50), 20], [lotOf(t0 + 60), 50]]);
    expect(r.warnings).toEqual([]);
    r.apply(row('refund', t0 + 42, { lots: [[lotOf(t0 + 70), 10]], postings: [[commerce, rewards, 10]] }));
    expect(r.warnings).toEqual([`refund txn_${n}: its claw-back took 10 of lot ${lotOf(t0 + 70)}, which held 0`]);
  });

  it('gives a reversed redemption its very lots back, and expires what is due', () => {
    const r = new ContactReplay(ctx);
    const t0 = Date.UTC(2026, 5, 1);
    r.apply(row('award', t0, { reason: 'signup', awards: [award(100, t0 + 10)], postings: [[rewards, commerce, 100]] }));
    const redemption = row('redemption', t0 + 1, { lots: [[lotOf(t0 + 10), 60]], postings: [[commerce, open, 60]] });
    r.apply(redemption);
    r.apply(row('reversal', t0 + 2, { original_id: redemption.id, postings: [[open, commerce, 60]] }));
    expect(r.result().lots).toEqual([[lotOf(t0 + 10), 100]]);
    expect(r.result().caps).toEqual([['off_c|once', 1]]);
    r.apply(row('expiry', t0 + 10, { postings: [[commerce, rewards, 100]] }));
    expect(r.result()).toMatchObject({ lots: [], debt: 0, earliest_expiry: null });
    expect(r.warnings).toEqual([]);
  });

  it('keeps lots less debt equal to the commerce account through any history', () => {
    // Awards in, redemptions of what is there, claw-backs of any size: the balance the postings
    // give is always the derived lots less the derived debt.
    const step = fc.oneof(
      fc.record({ kind: fc.constant('award' as const), amount: fc.integer({ min: 1, max: 1_000 }), expiry: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ kind: fc.constant('claw' as const), amount: fc.integer({ min: 1, max: 2_000 }) }),
      fc.record({ kind: fc.constant('redeem' as const), amount: fc.integer({ min: 1, max: 1_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const r = new ContactReplay(ctx);
        let account = 0;
        steps.forEach((s, i) => {
          if (s.kind === 'award') {
            r.apply(row('purchase', i, { amount: 100, awards: [award(s.amount, 1e12 + s.expiry)], postings: [[rewards, commerce, s.amount]] }));
            account += s.amount;
          } else if (s.kind === 'claw') {
            r.apply(row('refund', i, { postings: [[commerce, rewards, s.amount]] }));
            account -= s.amount;
          } else {
            const lots = r.result().lots.sort((a, b) => (a[0] < b[0] ? -1 : 1));
            const first = lots[0];
            if (first === undefined || r.result().debt > 0) return;
            const take = Math.min(first[1], s.amount);
            r.apply(row('redemption', i, { lots: [[first[0], take]], postings: [[commerce, open, take]] }));
            account -= take;
          }
        });
        const out = r.result();
        expect(out.lots.reduce((sum, [, a]) => sum + a, 0) - out.debt).toBe(account);
        expect(out.lots.every(([, a]) => a > 0)).toBe(true);
        expect(out.debt).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});
