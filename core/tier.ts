// Tiers by value units per period. A contact's units are kept per period kind (month, quarter,
// year) as '<period key>|<units this period>|<units the period before>'. A tier is held while
// either the current or the previous period reached it: it is won at once, and re-evaluated
// (possibly lost) when a period ends. The shard script applies the same rule when it adds units.

import { readLocalTime } from './local-time.ts';

export type PeriodKind = 'm' | 'q' | 'y';

export interface TierRule {
  readonly name: string;
  readonly min_period_units: number;
  readonly period: 'month' | 'quarter' | 'year';
}

export interface PeriodKeys {
  readonly current: string;
  readonly previous: string;
  /** The period after: where a purchase's units are the previous period's once its own has ended (a reversal takes them from there). */
  readonly next: string;
  /**
   * Whether no calendar on Earth is in `next` yet at the time read (it is 26 h or more away): a
   * stored `next` is then a later purchase's (this one is dated back), and its previous period is
   * this one; the period before this one is no longer kept, so a tier won only there is not seen
   * (a sale dated back is judged short of it, never with a tier won after it). Else (unset) it
   * may be a venue's east of this one's, already in it.
   */
  readonly next_is_later?: boolean;
}

/** Units of the current and previous period as of `keys`, from a stored '<key>|<now>|<prev>'. */
export function unitsAsOf(stored: string | null | undefined, keys: PeriodKeys): { now: number; previous: number } {
  if (stored === null || stored === undefined) return { now: 0, previous: 0 };
  const [key, now, prev] = stored.split('|');
  // A venue whose calendar is ahead (east of this reader's) has moved the counters on: its
  // period is the contact's current one, and holds what this reader's period earned as its previous.
  if (key === keys.next && keys.next_is_later === true) return { now: Number(prev ?? 0), previous: 0 };
  if (key === keys.current || key === keys.next) return { now: Number(now ?? 0), previous: Number(prev ?? 0) };
  // The stored period has ended: what it earned is now the previous period's.
  if (key === keys.previous) return { now: 0, previous: Number(now ?? 0) };
  return { now: 0, previous: 0 };
}

/**
 * The best tier the contact holds now, or null. `tiers` in any order. The stored counters are in
 * the currency's minor units (a purchase of 12.50 EUR adds 1250), `unit` of them to a value unit
 * (100 for EUR): API.md's units are the amount in major units, 12.5 for 12.50, never rounded.
 */
export function effectiveTier(tiers: readonly TierRule[], stored: Readonly<Record<PeriodKind, string | null | undefined>>, keys: Readonly<Record<PeriodKind, PeriodKeys>>, unit: number): string | null {
  let best: TierRule | null = null;
  for (const t of tiers) {
    const kind = t.period[0] as PeriodKind;
    const u = unitsAsOf(stored[kind], keys[kind]);
    const needed = t.min_period_units * unit;
    if ((u.now >= needed || u.previous >= needed) && (best === null || t.min_period_units > best.min_period_units)) best = t;
  }
  return best?.name ?? null;
}

/** Period keys of a local date: month 'YYYY-MM', quarter 'YYYY-Q' (1..4), year 'YYYY'; with the periods before and after each. */
export function periodKeys(year: number, month: number): Record<PeriodKind, PeriodKeys> {
  const mm = (y: number, m: number) => `${y}-${String(m).padStart(2, '0')}`;
  const q = Math.ceil(month / 3);
  return {
    m: { current: mm(year, month), previous: month === 1 ? mm(year - 1, 12) : mm(year, month - 1), next: month === 12 ? mm(year + 1, 1) : mm(year, month + 1) },
    q: { current: `${year}-${q}`, previous: q === 1 ? `${year - 1}-4` : `${year}-${q - 1}`, next: q === 4 ? `${year + 1}-1` : `${year}-${q + 1}` },
    y: { current: String(year), previous: String(year - 1), next: String(year + 1) },
  };
}

/** How far apart two calendars on Earth are at most (UTC−12 to UTC+14). */
const calendar_spread_ms = 26 * 3_600_000;

/**
 * periodKeys of the local date at `at_ms` in `timezone`, each telling whether its next period is
 * still 26 h or more away (next_is_later): for the tier a purchase is evaluated with. A sale dated
 * back (a processor's callback, 35 days at most) was judged with the tier its contact reached
 * after it, the later period's units read as its own (a black-box probe, 2026-12-06); now with
 * its own period's units, as far as the counters keep them (PeriodKeys.next_is_later).
 */
export function purchaseTierKeys(at_ms: number, timezone: string, local: { readonly year: number; readonly month: number } = readLocalTime(at_ms, timezone)): Record<PeriodKind, PeriodKeys> {
  const keys = periodKeys(local.year, local.month);
  const later = tierKeysAt(at_ms + calendar_spread_ms, timezone);
  return {
    m: { ...keys.m, next_is_later: later.m.current === keys.m.current },
    q: { ...keys.q, next_is_later: later.q.current === keys.q.current },
    y: { ...keys.y, next_is_later: later.y.current === keys.y.current },
  };
}

/** periodKeys of the local date at `at_ms` in `timezone` (a venue's calendar). */
export function tierKeysAt(at_ms: number, timezone: string): Record<PeriodKind, PeriodKeys> {
  const t = readLocalTime(at_ms, timezone);
  return periodKeys(t.year, t.month);
}

/**
 * The tier a contact holds at `at_ms` at the business's venues (their `timezones`; the UTC calendar
 * when it has none): the best a purchase at one of them would be evaluated with now, so that a
 * venue far from UTC shows the tier won on its local first day of a period, and keeps it to its
 * local last day.
 */
export function tierAtVenues(tiers: readonly TierRule[], stored: Readonly<Record<PeriodKind, string | null | undefined>>, at_ms: number, timezones: readonly string[], unit: number): string | null {
  if (timezones.length === 0) return tierAtUtc(tiers, stored, at_ms, unit);
  const held = new Set(timezones.map((tz) => effectiveTier(tiers, stored, tierKeysAt(at_ms, tz), unit)));
  const best = [...tiers].sort((a, b) => b.min_period_units - a.min_period_units).find((t) => held.has(t.name));
  return best?.name ?? null;
}

/**
 * The tier held at `at_ms` by the UTC calendar, or null: for where a contact has no one venue
 * whose calendar could decide (its profile, sign-up awards). Purchases use the venue's calendar.
 */
export function tierAtUtc(tiers: readonly TierRule[], stored: Readonly<Record<PeriodKind, string | null | undefined>>, at_ms: number, unit: number): string | null {
  if (tiers.length === 0) return null;
  const at = new Date(at_ms);
  return effectiveTier(tiers, stored, periodKeys(at.getUTCFullYear(), at.getUTCMonth() + 1), unit);
}

/**
 * A contact's units counters as the shard scripts keep them (lib.lua addTierUnits, reversal.lua
 * undoPurchase), built from its purchases and reversals in the order its shard applied them: by
 * `npm run rebuild` (ledger/replay.ts) and when a kind of tier comes (processor/tier-seed.ts).
 */
export class TierUnits {
  private readonly units = new Map<PeriodKind, { key: string; now: number; prev: number }>();

  constructor(private readonly kinds: readonly PeriodKind[]) {}

  /** A purchase of `amount` (minor units) dated `at_ms` at a venue of `timezone`. */
  purchased(amount: number, at_ms: number, timezone: string): void {
    const keys = tierKeysAt(at_ms, timezone);
    for (const kind of this.kinds) {
      const { current, previous, next } = keys[kind];
      const stored = this.units.get(kind);
      if (stored?.key === current) stored.now += amount;
      // Dated in the period before the counters' (lib.lua addTierUnits): their previous period;
      // earlier still: no period a tier reads any more.
      else if (stored?.key === next) stored.prev += amount;
      else if (stored !== undefined && stored.key > current) continue;
      else if (stored?.key === previous) this.units.set(kind, { key: current, now: amount, prev: stored.now });
      else this.units.set(kind, { key: current, now: amount, prev: 0 });
    }
  }

  /** That purchase reversed: its units taken from its period wherever the counters still hold it, never below zero. */
  reversed(amount: number, at_ms: number, timezone: string): void {
    const keys = tierKeysAt(at_ms, timezone);
    for (const kind of this.kinds) {
      const stored = this.units.get(kind);
      if (stored?.key === keys[kind].current) stored.now = Math.max(0, stored.now - amount);
      else if (stored?.key === keys[kind].next) stored.prev = Math.max(0, stored.prev - amount);
    }
  }

  /** 'u<kind>' → '<period key>|<units>|<previous units>', as the contact's hash holds them. */
  fields(): [string, string][] {
    return [...this.units].map(([kind, u]) => [`u${kind}`, `${u.key}|${u.now}|${u.prev}`]);
  }
}
