import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LogLimit, refusalCounter } from './log-limit.ts';

describe('LogLimit', () => {
  it('lets lines_max through per window, counts the rest, and says how many on the next window’s first line', () => {
    let now = 0;
    const limit = new LogLimit({ lines_max: 3, window_ms: 1_000, now: () => now });
    const taken = Array.from({ length: 10 }, () => limit.take());
    expect(taken.filter((t) => t.write)).toHaveLength(3);
    now = 1_000;
    expect(limit.take()).toEqual({ write: true, suppressed_before: 7 });
    expect(limit.take()).toEqual({ write: true, suppressed_before: 0 });
  });

  it('never writes more than lines_max in any window, whatever the arrivals', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 500 }), (lines_max, gaps) => {
        let now = 0;
        const limit = new LogLimit({ lines_max, window_ms: 1_000, now: () => now });
        const written: number[] = [];
        let reported = 0;
        let suppressed = 0;
        for (const gap of gaps) {
          now += gap;
          const t = limit.take();
          reported += t.suppressed_before;
          if (t.write) written.push(now);
          else suppressed++;
        }
        // Every window of 1,000 ms starting at a written line holds at most 2 × lines_max (two
        // adjacent windows), and every suppressed line is reported at most once.
        for (const start of written) expect(written.filter((t) => t >= start && t < start + 1_000).length).toBeLessThanOrEqual(2 * lines_max);
        expect(reported).toBeLessThanOrEqual(suppressed);
      }),
    );
  });
});

describe('refusalCounter', () => {
  it('says the count so far once per window, whatever the refusals', async () => {
    const said: number[] = [];
    const refusedOne = refusalCounter((refused) => said.push(refused), 30);
    for (let i = 0; i < 5; i++) refusedOne();
    expect(said).toEqual([1]);
    await new Promise((r) => setTimeout(r, 40));
    refusedOne();
    expect(said).toEqual([1, 6]);
  });
});
