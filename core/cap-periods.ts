// Which per-contact cap counters can still be counted in. A counter is kept per offer and period
// ('<offer id>|<period key>', core/local-time.ts periodKey: 'd2026-12-02', 'w2026-49', 'm2026-12',
// 'l' for the lifetime, 'once'), so a contact buying every day at a daily-capped offer would gain
// a counter a day for ever. A purchase is dated at most 35 days back (a processor's clearing:
// core/occurred.ts callback_window), in its venue's local calendar (up to 12 hours behind UTC's,
// 14 ahead), so a period that ended before that can never be counted in again: its counter is
// dropped (hot/lib.lua pruneCaps, processor/ledger/rebuild-contacts.ts).

import { callback_window } from './occurred.ts';
import { periodKey, readLocalTime } from './local-time.ts';

const day_ms = 86_400_000;

/**
 * Days back from now whose UTC period is the first kept: the callback window (35 days), one day
 * for local calendars behind UTC's (cap-periods.test.ts fails without it), and two more so that a
 * counter goes well after the last purchase that could count in it, never at the edge.
 */
export const cap_periods_kept_days = callback_window.past_ms / day_ms + 3;

/** By a period key's kind letter, the first period key kept: an older one of that kind is dropped. */
export interface CapPeriodsKept {
  readonly d: string;
  readonly w: string;
  readonly m: string;
}

export function capPeriodsKeptFrom(now_ms: number): CapPeriodsKept {
  const t = readLocalTime(now_ms - cap_periods_kept_days * day_ms, 'UTC');
  return { d: periodKey('day', t), w: periodKey('week', t), m: periodKey('month', t) };
}

/**
 * Whether the cap counter `field` may still be counted in: its period is a lifetime or once, or
 * not before `kept` of its kind (keys of one kind and length sort as their periods do).
 */
export function capCounterKept(field: string, kept: CapPeriodsKept): boolean {
  const period = field.slice(field.indexOf('|') + 1);
  const from = (kept as unknown as Record<string, string | undefined>)[period.charAt(0)];
  return from === undefined || period.length !== from.length || period >= from;
}
