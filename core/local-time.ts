// Local wall-clock time in an IANA timezone, cheaply, for offer rules ("15:00–18:00 on weekdays
// at the venue", birthdays, per-day caps).
//
// Intl.DateTimeFormat is the only source of truth for timezone rules, but formatToParts costs a
// few microseconds. So each timezone keeps one formatter (module level, created once) and a
// cache of UTC offsets per UTC hour: the offset of an hour is read at its first and its last
// millisecond, and when both agree (every hour of the year except the one holding a DST change in
// zones whose transitions do not fall on a whole UTC hour) it holds for the whole hour and is
// reused; otherwise that hour is computed exactly on every call. Everything else (date, minute of
// the day, ISO day of the week) is integer arithmetic on `at_ms + offset`.

const minute_ms = 60_000;
const hour_ms = 3_600_000;
export const day_ms = 86_400_000;
/** Per timezone, at most this many cached hours (≈ 5½ months of distinct hours) before a reset. */
const hours_cached_max = 4096;

interface Zone {
  readonly format: Intl.DateTimeFormat;
  /** The hour looked up last and its offset: purchases happen "now", so this is nearly always it. */
  last_hour: number;
  last_offset: number;
  /** Offset per UTC hour (hours since the epoch); NaN marks an hour with a transition inside. */
  readonly hours: Map<number, number>;
}

/**
 * Timezone names kept at once (the IANA database has some 600, and a name may be spelt in any
 * case: each spelling is a name here): past it, all are forgotten and made again as they come.
 */
export const zones_cached_max = 1024;

const zones = new Map<string, Zone>();

/** Timezone names kept now (tests). */
export function zonesCached(): number {
  return zones.size;
}

function zoneOf(timezone: string): Zone {
  let zone = zones.get(timezone);
  if (zone === undefined) {
    if (zones.size >= zones_cached_max) zones.clear();
    // Throws RangeError for an unknown timezone: venue timezones are validated when stored.
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    zone = { format, last_hour: Number.NaN, last_offset: 0, hours: new Map() };
    zones.set(timezone, zone);
  }
  return zone;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** The exact offset (local − UTC, in ms, whole seconds) at one instant: one formatToParts call. */
function exactOffset(zone: Zone, at_ms: number): number {
  const seconds_ms = Math.floor(at_ms / 1000) * 1000;
  let year = 0;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const part of zone.format.formatToParts(seconds_ms)) {
    switch (part.type) {
      case 'year': year = Number(part.value); break;
      case 'month': month = Number(part.value); break;
      case 'day': day = Number(part.value); break;
      case 'hour': hour = Number(part.value) % 24; break;
      case 'minute': minute = Number(part.value); break;
      case 'second': second = Number(part.value); break;
      default: break;
    }
  }
  const local_ms = daysFromCivil(year, month, day) * day_ms + hour * hour_ms + minute * minute_ms + second * 1000;
  return local_ms - seconds_ms;
}

/** local time − UTC at `at_ms` in `timezone`, in milliseconds (e.g. +3_600_000 in Lisbon in summer). */
export function offsetAt(at_ms: number, timezone: string): number {
  const zone = zoneOf(timezone);
  const hour = Math.floor(at_ms / hour_ms);
  if (hour === zone.last_hour) return zone.last_offset;
  let offset = zone.hours.get(hour);
  if (offset === undefined) {
    const start = hour * hour_ms;
    const first = exactOffset(zone, start);
    const last = exactOffset(zone, start + hour_ms - 1);
    offset = first === last ? first : Number.NaN;
    if (zone.hours.size >= hours_cached_max) zone.hours.clear();
    zone.hours.set(hour, offset);
  }
  if (Number.isNaN(offset)) return exactOffset(zone, at_ms); // the rare hour with a transition inside
  zone.last_hour = hour;
  zone.last_offset = offset;
  return offset;
}

/**
 * The instant (UTC ms) at which the wall clock in `timezone` shows `local_ms` (a local date and
 * time counted in ms as if it were UTC). The offset at `local_ms` read as an instant is at most a
 * transition away from the right one; the offset at the instant it gives is right. A wall time
 * in a DST gap names no instant and one in an overlap two: one of them near it.
 */
export function utcOfLocal(local_ms: number, timezone: string): number {
  const first = local_ms - offsetAt(local_ms, timezone);
  return local_ms - offsetAt(first, timezone);
}

/** A local date and time, broken down. Reused by the offer engine: fill one with readLocalTime. */
export interface LocalTime {
  /** Days since 1970-01-01 of the local date. */
  days: number;
  year: number;
  /** 1..12 */
  month: number;
  /** 1..31 */
  day: number;
  /** Minutes since local midnight, 0..1439. */
  minute: number;
  /** ISO day of the week: 1 = Monday … 7 = Sunday. */
  dow: number;
  /** local − UTC in ms */
  offset_ms: number;
}

export function newLocalTime(): LocalTime {
  return { days: 0, year: 1970, month: 1, day: 1, minute: 0, dow: 4, offset_ms: 0 };
}

/** Fills `out` with the civil date of `days` since 1970-01-01 (H. Hinnant's civil_from_days). */
export function civilFromDays(days: number, out: { year: number; month: number; day: number }): void {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  out.year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  out.month = month;
  out.day = day;
}

/** ISO day of the week (1 = Monday … 7 = Sunday) of a day count since 1970-01-01 (a Thursday). */
export function dowOfDays(days: number): number {
  return ((((days + 3) % 7) + 7) % 7) + 1;
}

/** Local time at `at_ms` in `timezone`, written into `out` (no allocation) and returned. */
export function readLocalTime(at_ms: number, timezone: string, out: LocalTime = newLocalTime()): LocalTime {
  const offset = offsetAt(at_ms, timezone);
  const local_ms = at_ms + offset;
  const days = Math.floor(local_ms / day_ms);
  out.days = days;
  out.offset_ms = offset;
  out.minute = Math.floor((local_ms - days * day_ms) / minute_ms);
  out.dow = dowOfDays(days);
  civilFromDays(days, out);
  return out;
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function pad4(n: number): string {
  return n >= 1000 ? String(n) : String(n).padStart(4, '0');
}

/** 'YYYY-MM-DD' of a LocalTime (or of any {year, month, day}). */
export function formatDate(t: { readonly year: number; readonly month: number; readonly day: number }): string {
  return `${pad4(t.year)}-${pad2(t.month)}-${pad2(t.day)}`;
}

const iso_civil = { year: 0, month: 0, day: 0 };

/** new Date(ms).toISOString(), several times faster (integer arithmetic, no Date). */
export function isoUtc(ms: number): string {
  const days = Math.floor(ms / day_ms);
  civilFromDays(days, iso_civil);
  if (!(iso_civil.year >= 0 && iso_civil.year <= 9999)) return new Date(ms).toISOString(); // ±YYYYYY form
  let rem = ms - days * day_ms;
  const h = Math.floor(rem / hour_ms);
  rem -= h * hour_ms;
  const m = Math.floor(rem / minute_ms);
  rem -= m * minute_ms;
  const sec = Math.floor(rem / 1000);
  const milli = rem - sec * 1000;
  const milli_s = milli < 10 ? `00${milli}` : milli < 100 ? `0${milli}` : String(milli);
  return `${pad4(iso_civil.year)}-${pad2(iso_civil.month)}-${pad2(iso_civil.day)}T${pad2(h)}:${pad2(m)}:${pad2(sec)}.${milli_s}Z`;
}

/** The local date at `at_ms` in `timezone`, 'YYYY-MM-DD'. */
export function localDate(at_ms: number, timezone: string): string {
  return formatDate(readLocalTime(at_ms, timezone));
}

/**
 * The first instant (UTC ms) of the local day that holds `at_ms`. Handles days whose midnight
 * happens twice (the earlier counts) or not at all (the day then starts at the transition).
 */
export function startOfLocalDay(at_ms: number, timezone: string): number {
  const local_midnight = Math.floor((at_ms + offsetAt(at_ms, timezone)) / day_ms) * day_ms;
  // The offsets in force a day before and a day after (as Temporal does): any transition near
  // midnight lies between them. An offset is right when the instant it gives shows midnight.
  const before = offsetAt(local_midnight - day_ms, timezone);
  const after = offsetAt(local_midnight + day_ms, timezone);
  const t_before = local_midnight - before;
  const t_after = local_midnight - after;
  const ok_before = offsetAt(t_before, timezone) === before;
  const ok_after = offsetAt(t_after, timezone) === after;
  if (ok_before && ok_after) return Math.min(t_before, t_after); // midnight twice: the first
  if (ok_before) return t_before;
  if (ok_after) return t_after;
  // Midnight was skipped (clocks jumped forward over it): the day starts at the jump, found by
  // bisection to the second between the two readings of midnight.
  let lo = Math.min(t_before, t_after); // still the old offset
  let hi = Math.max(t_before, t_after); // already the new one
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (mid <= lo) break;
    if (offsetAt(mid, timezone) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The first instant (UTC ms) of the local day after the one that starts at `day_start_ms` (a local day lasts 23 to 25 hours). */
export function nextLocalDay(day_start_ms: number, timezone: string): number {
  return startOfLocalDay(day_start_ms + 26 * 3_600_000, timezone);
}

/**
 * Key of the local period holding `lt`, for per-contact caps counted per day, ISO week or
 * calendar month: 'd2026-06-01', 'w2026-23' (ISO week-numbering year and week), 'm2026-06', or
 * 'l' for lifetime.
 */
export function periodKey(period: 'day' | 'week' | 'month' | 'lifetime', lt: LocalTime): string {
  switch (period) {
    case 'day':
      return `d${formatDate(lt)}`;
    case 'month':
      return `m${pad4(lt.year)}-${pad2(lt.month)}`;
    case 'week': {
      // The ISO week belongs to the year of its Thursday.
      const thursday = lt.days - lt.dow + 4;
      const civil = { year: 0, month: 0, day: 0 };
      civilFromDays(thursday, civil);
      const week = Math.floor((thursday - daysFromCivil(civil.year, 1, 1)) / 7) + 1;
      return `w${pad4(civil.year)}-${pad2(week)}`;
    }
    case 'lifetime':
      return 'l';
  }
}
