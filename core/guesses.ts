// Guessing: how many wrong one-time codes, wallet codes and contact codes a terminal and a
// source (the client's address) may present, and the windows they are counted in. Pure policy;
// processor/hot/guess.ts (guess.lua) and hot/otp.lua count in Redis. README "Guessing" explains the numbers.
//
// Only wrong guesses are counted, so no amount of genuine traffic is ever limited. Two kinds of
// limit:
// - soft, per terminal per clock minute: past it, a wrong code is answered 429 `rate_limited`
//   instead of its own refusal (the till sees at once that wrong codes pile up); a right code
//   still passes, so a fraudster's burst does not lock the next customer out;
// - hard, per clock day, for the terminal and source together (pair), the terminal from any
//   source, and the source at any terminal of the business: past one, every code is refused
//   with 429, right or wrong, until the day ends. A right guess cannot be told from a lucky one,
//   so a limit that let right codes through would not limit an attacker at all; the pair limit
//   is the lowest, so one source's guesses lock out that source, not the terminal's others.

/**
 * `otp`: a one-time code presented alone (a spend): a guess at every live OTP of the business.
 * `code`: a wallet code or contact code (as payment or as CIM): a guess at every contact's.
 * `card_or_code`: ISO 8583 DE2 that is no known card, looked up as a wallet code: a card of
 * someone who is no contact looks exactly like a wrong wallet code, so its limits are sized for
 * a till's card traffic.
 */
export type GuessKind = 'otp' | 'code' | 'card_or_code';

export interface GuessLimits {
  /** Wrong guesses per terminal per minute before wrong ones are answered rate_limited. */
  readonly soft_per_minute: number;
  /** Wrong guesses per day from one source at one terminal, then all refused. */
  readonly pair_per_day: number;
  /** Wrong guesses per day at one terminal from any source, then all refused. */
  readonly terminal_per_day: number;
  /** Wrong guesses per day from one source at any terminal of the business, then all refused. */
  readonly source_per_day: number;
}

export const guess_limits: Readonly<Record<GuessKind, GuessLimits>> = {
  otp: { soft_per_minute: 5, pair_per_day: 20, terminal_per_day: 50, source_per_day: 100 },
  code: { soft_per_minute: 10, pair_per_day: 100, terminal_per_day: 500, source_per_day: 1_000 },
  card_or_code: { soft_per_minute: 5_000, pair_per_day: 5_000, terminal_per_day: 5_000, source_per_day: 100_000 },
};

/** Wrong tries against one contact's OTPs (a purchase paying by OTP names the contact) before they die. */
export const otp_tries_max = 3;
/** How long a contact's wrong tries are kept: the longest an OTP lives (a new OTP starts afresh). */
export const otp_tries_ttl_seconds = 900;

export const minute_ms = 60_000;
export const day_ms = 86_400_000;
/** A counter outlives its window by this much: clocks of gateways differ a little. */
const ttl_margin_s = 60;

export type GuessScope = 'terminal_minute' | 'pair_day' | 'terminal_day' | 'source_day';

/** One counter of wrong guesses: which, its clock window (index of `window_ms` since the epoch), its limit. */
export interface GuessCounter {
  readonly scope: GuessScope;
  readonly window_ms: number;
  readonly window: number;
  readonly max: number;
  /** Hard: at the limit every guess is refused; soft: only wrong ones are answered rate_limited. */
  readonly hard: boolean;
  /** Set when the counter is made, inside its window: it outlives the window. */
  readonly ttl_s: number;
}

function counter(scope: GuessScope, window_ms: number, now_ms: number, max: number, hard: boolean): GuessCounter {
  return { scope, window_ms, window: Math.floor(now_ms / window_ms), max, hard, ttl_s: window_ms / 1000 + ttl_margin_s };
}

/** The counters a guess of `kind` at `now_ms` is checked against and counted in: soft first. */
export function guessCounters(kind: GuessKind, now_ms: number): readonly GuessCounter[] {
  const l = guess_limits[kind];
  return [
    counter('terminal_minute', minute_ms, now_ms, l.soft_per_minute, false),
    counter('pair_day', day_ms, now_ms, l.pair_per_day, true),
    counter('terminal_day', day_ms, now_ms, l.terminal_per_day, true),
    counter('source_day', day_ms, now_ms, l.source_per_day, true),
  ];
}

/** The id a counter of `scope` counts for: the terminal, the source, or both. */
export function guessSubject(scope: GuessScope, terminal_id: string, source: string): string {
  switch (scope) {
    case 'terminal_minute':
    case 'terminal_day':
      return terminal_id;
    case 'pair_day':
      return `${terminal_id}|${source}`;
    case 'source_day':
      return source;
  }
}

/**
 * The chance that at least one of `guesses` uniform guesses names one of `live` valid codes out
 * of `space` (each guess a fresh draw: guessing without repeats is no better at these odds).
 */
export function hitOdds(guesses: number, live: number, space: number): number {
  if (guesses <= 0 || live <= 0) return 0;
  const p = Math.min(1, live / space);
  // 1 - (1 - p)^n without the rounding of 1 - p to 1 for tiny p.
  return -Math.expm1(guesses * Math.log1p(-p));
}

/** Codes a contact may be issued: 16-digit Luhn-valid wallet codes (first digit 1–9, last the check digit). */
export const wallet_code_space = 9e14;
/** 10 characters of base32. */
export const contact_code_space = 32 ** 10;
export const otp_space = 1e6;

/** The source of requests whose address is not known (in-process calls). */
export const unknown_source = 'unknown';
const address_text = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * An address as the source guesses are counted against: an IPv4-mapped IPv6 address as its IPv4
 * form, anything that is no IP address's text as `unknown` (it becomes part of a Redis key).
 */
export function sourceAddress(address: string | undefined): string {
  if (address === undefined) return unknown_source;
  const a = address.trim();
  const v4 = a.toLowerCase().startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
  return address_text.test(v4) ? v4.toLowerCase() : unknown_source;
}

/**
 * The client's address: the socket's peer, or, behind `trusted_hops` proxies of our own (load
 * balancers that append to X-Forwarded-For), the address the outermost of them saw. Entries
 * further left were written by the client and could be anything, so they are never used.
 */
export function clientAddress(peer: string | undefined, forwarded_for: string | undefined, trusted_hops: number): string {
  if (trusted_hops <= 0 || forwarded_for === undefined) return sourceAddress(peer);
  // Node bounds a header (16 KB by default): so is this split. The right end is what our proxies wrote.
  const hops = forwarded_for.split(',');
  return sourceAddress(hops[Math.max(0, hops.length - trusted_hops)]);
}

/** The peer's address of an ISO 8583 connection, from its "address:port". */
export function peerAddress(remote: string): string {
  const colon = remote.lastIndexOf(':');
  return sourceAddress(colon < 0 ? remote : remote.slice(0, colon));
}
