import { describe, expect, it } from 'vitest';
import { PocketgateError } from '../core/errors.ts';
import { InFlight, sharedRead, within, withinOr } from './in-flight.ts';

const refused = () => new PocketgateError('unavailable', 'too many');

describe('InFlight', () => {
  it('refuses work past its bound at once, counts work until it ends, and frees its place on failure', async () => {
    const bound = new InFlight(2, refused);
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const a = bound.run(() => held);
    const b = bound.run(() => Promise.reject(new Error('failed')));
    await expect(bound.run(() => Promise.resolve(1))).rejects.toMatchObject({ code: 'unavailable' });
    await expect(b).rejects.toThrow('failed');
    expect(bound.size).toBe(1);
    expect(await bound.run(() => Promise.resolve(2))).toBe(2);
    release();
    await a;
    expect(bound.size).toBe(0);
  });

  it('frees the place of work that throws before it returns a promise', async () => {
    const bound = new InFlight(1, refused);
    await expect(bound.run(() => { throw new Error('at once'); })).rejects.toThrow('at once');
    expect(bound.size).toBe(0);
  });
});

describe('within', () => {
  it('answers what the work answers in time, else rejects, and handles the late work’s rejection', async () => {
    expect(await within(Promise.resolve(7), 1_000)).toBe(7);
    let fail = (_: Error) => {};
    const late = new Promise<never>((_, reject) => (fail = reject));
    await expect(within(late, 10)).rejects.toThrow('no answer within 10 ms');
    fail(new Error('later')); // no unhandled rejection: vitest would fail the run
    await new Promise((r) => setTimeout(r, 10));
  });

  it('rejects with the caller’s own error when given one', async () => {
    await expect(within(new Promise(() => {}), 5, () => new Error('Redis did not answer'))).rejects.toThrow('Redis did not answer');
  });
});

describe('withinOr', () => {
  it('answers the work’s answer in time, else what `otherwise` gives', async () => {
    expect(await withinOr(Promise.resolve('ok'), 1_000, () => 'late')).toBe('ok');
    expect(await withinOr(new Promise<string>(() => {}), 5, () => 'late')).toBe('late');
  });

  it('lets an answer that came while the event loop was busy past the deadline win', async () => {
    // Both timers are due once the loop is free; the deadline's (10 ms) runs first, and decides
    // only after one more turn, by when the work's (15 ms) has answered.
    const work = new Promise<string>((resolve) => setTimeout(() => resolve('answered'), 15));
    const racing = withinOr(work, 10, () => 'late');
    const busy_until_ms = Date.now() + 40;
    while (Date.now() < busy_until_ms) {
      // the event loop held past both timers
    }
    expect(await racing).toBe('answered');
  });
});

describe('sharedRead', () => {
  it('gives callers asking at once one read, and reads afresh once it settled, failed or not', async () => {
    const reads = new Map<string, Promise<number>>();
    let started = 0;
    let finish!: (n: number) => void;
    const read = () => (started++, new Promise<number>((resolve) => (finish = resolve)));
    const copies = [sharedRead(reads, 'a', read), sharedRead(reads, 'a', read), sharedRead(reads, 'a', read)];
    expect([started, reads.size]).toEqual([1, 1]);
    finish(7);
    expect(await Promise.all(copies)).toEqual([7, 7, 7]);
    expect(reads.size).toBe(0);
    const failing = sharedRead(reads, 'a', () => (started++, Promise.reject(new Error('down'))));
    const beside = sharedRead(reads, 'a', read);
    await expect(failing).rejects.toThrow('down');
    await expect(beside).rejects.toThrow('down');
    expect([started, reads.size]).toEqual([2, 0]);
    const other = sharedRead(reads, 'b', read);
    finish(8);
    expect([await other, started]).toEqual([8, 3]);
  });
});
