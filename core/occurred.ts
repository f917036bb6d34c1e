// When a transaction happened, as its sender says (a purchase's `occurred_at`). That time decides
// the offers' periods (once a day, happy hours, validity), so a sender that could say any time
// could collect a once-a-day award once for each day it names. How far from the processor's own
// clock a sender may say is a parameter of the command, chosen by the channel the command came
// through: the rule is here once, and every adapter of that channel passes the same window.

import { PocketgateError } from './errors.ts';

/** How far before and after the processor's clock an occurred_at may be (inclusive), in ms. */
export interface OccurredWindow {
  readonly past_ms: number;
  readonly future_ms: number;
}

const minute_ms = 60_000;
const hour_ms = 60 * minute_ms;

/**
 * A terminal's window, for every terminal channel (HTTP, ISO 8583, the WebSocket channel): a
 * terminal reports what happens at its counter, so a day back covers one that stored its
 * transactions while offline and forwards them later; five minutes ahead covers its clock
 * running fast.
 */
export const terminal_window: OccurredWindow = { past_ms: 24 * hour_ms, future_ms: 5 * minute_ms };

/**
 * A payment processor's window (callbacks, spec/EVENTS.md): a processor reports a sale when it
 * clears, which can be weeks after it (a card-present sale settled in a monthly batch), so 35
 * days back; five minutes ahead, as for terminals.
 */
export const callback_window: OccurredWindow = { past_ms: 35 * 24 * hour_ms, future_ms: 5 * minute_ms };

function span(ms: number): string {
  if (ms % hour_ms === 0) return `${ms / hour_ms} hour${ms === hour_ms ? '' : 's'}`;
  if (ms % minute_ms === 0) return `${ms / minute_ms} minute${ms === minute_ms ? '' : 's'}`;
  return `${ms / 1000} seconds`;
}

/** Whether `at_ms` lies within `window` around `now_ms`, both bounds included. */
export function withinWindow(at_ms: number, now_ms: number, window: OccurredWindow): boolean {
  return at_ms >= now_ms - window.past_ms && at_ms <= now_ms + window.future_ms;
}

/**
 * The time `occurred_at` names (now_ms when absent), in ms; validation_failed naming
 * `occurred_at` when it is outside `window` around now_ms. `occurred_at` is already an RFC 3339
 * timestamp (the command's schema checked its form).
 */
export function occurredAtMs(occurred_at: string | undefined, now_ms: number, window: OccurredWindow): number {
  if (occurred_at === undefined) return now_ms;
  const at_ms = Date.parse(occurred_at);
  if (withinWindow(at_ms, now_ms, window)) return at_ms;
  const message = `must be at most ${span(window.past_ms)} before now and ${span(window.future_ms)} after`;
  throw new PocketgateError('validation_failed', `occurred_at: ${message}`, [{ path: 'occurred_at', message }]);
}
