// DE12 (local time, hhmmss) and DE13 (local date, MMDD): when the transaction happened at the
// card acceptor, on its own clock, in the terminal's venue timezone. A purchase's occurred_at:
// it decides the offers' periods, as occurred_at does over HTTP, within the same window. Outside
// it the purchase is dated when it arrives, as without DE12/DE13, rather than refused: these are
// the terminal's own clock, which in the field is often wrong (a wrong date must not decline a
// card sale, and 30 says the message is malformed, which it is not), and a date that decides
// nothing cannot be used to choose an offer's period either.

import { PocketgateError } from '../../core/errors.ts';
import { terminal_window, withinWindow } from '../../core/occurred.ts';
import { civilFromDays, daysFromCivil, day_ms, readLocalTime, utcOfLocal } from '../../core/local-time.ts';

function refuse(path: 'DE12' | 'DE13', message: string): PocketgateError {
  return new PocketgateError('validation_failed', `${path}: ${message}`, [{ path, message }]);
}

const civil = { year: 0, month: 0, day: 0 };

/** Days of each month in some year (DE13 has none: 29 February may be a leap year's). */
const month_days = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether year-month-day is a date of the calendar (29 February only in leap years). */
function isDate(year: number, month: number, day: number): boolean {
  civilFromDays(daysFromCivil(year, month, day), civil);
  return civil.year === year && civil.month === month && civil.day === day;
}

/**
 * DE12 and DE13 as sent, each a time or date that exists, or absent; validation_failed (DE39 30)
 * otherwise. Every message a terminal sends is held to it, whether its DE12/DE13 decide anything
 * or not (a refund's, a reversal's, a balance inquiry's do not): until 2026-12-07 only a purchase
 * was, and a reversal with DE13 9099 voided its sale (a black-box probe; moov-io's vector
 * iso_reversal_message_error_date, sent with a terminal's DE41, is such a message: it expects it to
 * fail validation).
 */
export function checkLocalTransactionFields(de12: string | undefined, de13: string | undefined): { time: RegExpExecArray | undefined; date: RegExpExecArray | undefined } {
  const time = de12 === undefined ? undefined : /^(\d\d)(\d\d)(\d\d)$/.exec(de12);
  if (time === null || (time !== undefined && (Number(time[1]) > 23 || Number(time[2]) > 59 || Number(time[3]) > 59))) throw refuse('DE12', 'must be a local time hhmmss');
  const date = de13 === undefined ? undefined : /^(\d\d)(\d\d)$/.exec(de13);
  const month = Number(date?.[1]);
  const day = Number(date?.[2]);
  if (date === null || (date !== undefined && (month < 1 || month > 12 || day < 1 || day > month_days[month - 1]!))) throw refuse('DE13', 'must be a local date MMDD');
  return { time, date };
}

/**
 * The instant DE13 + DE12 name in `timezone`, as an RFC 3339 UTC timestamp; undefined unless
 * both are sent (then the transaction is dated when it arrives, as over HTTP without
 * occurred_at). DE13 has no year: it is the year, of the one before, the current one and the one
 * after, that puts the instant nearest to `now_ms` (so 31 December sent on 1 January is the
 * day before). validation_failed (DE39 30) for a time or date that does not exist, sent with
 * the other or alone (a malformed field is malformed whether or not it decides anything).
 */
export function localTransactionTime(de12: string | undefined, de13: string | undefined, now_ms: number, timezone: string): string | undefined {
  const { time, date } = checkLocalTransactionFields(de12, de13);
  if (time === undefined || date === undefined) return undefined;
  const month = Number(date[1]);
  const day = Number(date[2]);
  const of_day = ((Number(time[1]) * 60 + Number(time[2])) * 60 + Number(time[3])) * 1000;
  const year_now = readLocalTime(now_ms, timezone).year;
  let best: number | undefined;
  for (const year of [year_now - 1, year_now, year_now + 1]) {
    if (!isDate(year, month, day)) continue;
    const at_ms = utcOfLocal(daysFromCivil(year, month, day) * day_ms + of_day, timezone);
    if (best === undefined || Math.abs(at_ms - now_ms) < Math.abs(best - now_ms)) best = at_ms;
  }
  if (best === undefined) throw refuse('DE13', 'must be a local date MMDD');
  return new Date(best).toISOString();
}

/**
 * The purchase's occurred_at from DE12 + DE13 (localTransactionTime), or undefined (dated when it
 * arrives) when they are absent or name an instant outside the terminal window around `now_ms`.
 */
export function terminalClockTime(de12: string | undefined, de13: string | undefined, now_ms: number, timezone: string): string | undefined {
  const at = localTransactionTime(de12, de13, now_ms, timezone);
  return at !== undefined && withinWindow(Date.parse(at), now_ms, terminal_window) ? at : undefined;
}
