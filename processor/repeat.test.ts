// repeat.ts repeatWhenDue: one run at a time, each when the one before asked, brought forward by
// wakeBy. Timers faked; no I/O.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { repeatWhenDue } from './repeat.ts';

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe('repeatWhenDue', () => {
  it('runs when each run asked, and wakeBy brings the next run forward, never back', async () => {
    const runs: number[] = [];
    const r = repeatWhenDue(0, async () => (runs.push(Date.now()), 10_000), 10_000, () => {});
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([t0]);
    r.wakeBy(t0 + 3_000);
    r.wakeBy(t0 + 8_000); // later than the one asked: no change
    await vi.advanceTimersByTimeAsync(3_000);
    expect(runs).toEqual([t0, t0 + 3_000]);
    await vi.advanceTimersByTimeAsync(9_999);
    expect(runs).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toEqual([t0, t0 + 3_000, t0 + 13_000]);
    r.stop();
    r.wakeBy(Date.now());
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs).toHaveLength(3);
  });

  it('a wake past what one timer holds (2^31 − 1 ms, 24.8 days) runs when due, not at once (Node set such a timer to 1 ms: a sweep a purchase in CI\'s big-contact test)', async () => {
    const runs: number[] = [];
    const day_ms = 86_400_000;
    const r = repeatWhenDue(0, async () => (runs.push(Date.now()), 100 * day_ms), day_ms, () => {});
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(0);
    r.wakeBy(t0 + 90 * day_ms);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs).toEqual([t0]);
    await vi.advanceTimersByTimeAsync(90 * day_ms - 60_001);
    expect(runs).toEqual([t0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toEqual([t0, t0 + 90 * day_ms]);
    r.stop();
  });

  it('a wake asked while a run is under way is the next run, at the latest, once it ends', async () => {
    const runs: number[] = [];
    let release!: () => void;
    const r = repeatWhenDue(0, async () => {
      runs.push(Date.now());
      if (runs.length === 1) await new Promise<void>((resolve) => (release = resolve));
      return 10_000;
    }, 10_000, () => {});
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(0);
    r.wakeBy(t0 + 500);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toHaveLength(1); // not two at once
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toEqual([t0, t0 + 1_000]);
    r.stop();
  });

  it('a run that throws is reported and followed by another retry_ms later', async () => {
    const errors: unknown[] = [];
    let n = 0;
    const r = repeatWhenDue(0, async () => {
      if (++n === 1) throw new Error('first');
      return 60_000;
    }, 2_000, (err) => errors.push(err));
    await vi.advanceTimersByTimeAsync(1_999);
    expect([n, errors.length]).toEqual([1, 1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(n).toBe(2);
    r.stop();
  });
});
