// Work that waits on a store, counted from its start until it ends and bounded: one more is
// refused at once. Work given up on (a deadline passed, its caller answered) still counts until it
// ends, since it still holds what it waits in (a postgres.js queue, a connection).

import { PocketgateError } from '../core/errors.ts';

export class InFlight {
  private count = 0;

  /** `refused`: what the work past `max` is refused with (the caller's own words). */
  constructor(
    private readonly max: number,
    private readonly refused: () => PocketgateError,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be an integer ≥ 1');
  }

  /** Work now running or waiting (tests, metrics). */
  get size(): number {
    return this.count;
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    if (this.count >= this.max) return Promise.reject(this.refused());
    this.count++;
    let running: Promise<T>;
    try {
      running = work();
    } catch (err) {
      this.count--;
      return Promise.reject(err);
    }
    return running.finally(() => this.count--);
  }
}

/**
 * `work`, or a rejection once `timeout_ms` have passed without its answer. The work goes on: a
 * rejection it meets later is handled here, as no one is left to hear it.
 */
export function within<T>(work: Promise<T>, timeout_ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeout_ms} ms`)), timeout_ms);
  });
  work.catch(() => {});
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
