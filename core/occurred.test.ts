import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PocketgateError } from './errors.ts';
import { occurredAtMs, terminal_window, type OccurredWindow } from './occurred.ts';

const now = Date.parse('2026-11-30T12:00:00Z');
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
};

describe('occurred_at window', () => {
  it('a terminal: 24 hours back and 5 minutes ahead, both ends included', () => {
    expect(occurredAtMs(undefined, now, terminal_window)).toBe(now);
    expect(occurredAtMs('2026-11-29T12:00:00Z', now, terminal_window)).toBe(now - 86_400_000);
    expect(occurredAtMs('2026-11-30T12:05:00Z', now, terminal_window)).toBe(now + 300_000);
    expect(occurredAtMs('2026-11-30T13:00:00+01:00', now, terminal_window)).toBe(now);
    for (const bad of ['2026-11-29T11:59:59.999Z', '2026-11-30T12:05:00.001Z', '1970-01-01T00:00:00Z', '2020-06-01T12:00:00Z', '2099-01-01T00:00:00Z']) {
      const err = refusal(() => occurredAtMs(bad, now, terminal_window));
      expect(err, bad).toBeInstanceOf(PocketgateError);
      expect((err as PocketgateError).code).toBe('validation_failed');
      expect((err as PocketgateError).errors).toEqual([{ path: 'occurred_at', message: 'must be at most 24 hours before now and 5 minutes after' }]);
    }
  });

  it('any window: accepted exactly within it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 * 86_400_000 }),
        fc.integer({ min: 0, max: 3_600_000 }),
        fc.integer({ min: -50 * 86_400_000, max: 50 * 86_400_000 }),
        (past_ms, future_ms, delta) => {
          const window: OccurredWindow = { past_ms, future_ms };
          const at = new Date(now + delta).toISOString();
          const inside = delta >= -past_ms && delta <= future_ms;
          if (inside) expect(occurredAtMs(at, now, window)).toBe(now + delta);
          else expect(refusal(() => occurredAtMs(at, now, window))).toBeInstanceOf(PocketgateError);
        },
      ),
    );
  });
});
