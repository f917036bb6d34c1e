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
 * `work`'s answer, or `otherwise()`'s once `timeout_ms` have passed without it. The work goes on:
 * a rejection it meets later is handled here, as no one is left to hear it. Decided after one
 * more turn of the event loop: when the loop was busy past the deadline, an answer already on the
 * socket is read first and wins (a health probe must not call a store that answered down).
 */
export function withinOr<T, O>(work: Promise<T>, timeout_ms: number, otherwise: () => O): Promise<T | O> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<O>((resolve, reject) => {
    timer = setTimeout(() => setImmediate(() => {
      try {
        resolve(otherwise());
      } catch (err) {
        reject(err);
      }
    }), timeout_ms);
  });
  work.catch(() => {});
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** `work`, or a rejection with `late()` once `timeout_ms` have passed without its answer (withinOr). */
export function within<T>(work: Promise<T>, timeout_ms: number, late: () => Error = () => new Error(`no answer within ${timeout_ms} ms`)): Promise<T> {
  return withinOr(work, timeout_ms, (): never => {
    throw late();
  });
}

/**
 * `read()` for `key`, or the read of `key` already in flight: callers asking at once share one
 * (the copies of a request, concurrent refunds of one original). Nothing is kept once it settles,
 * so `reads` holds no more keys than reads in flight, and a later caller reads afresh.
 */
export function sharedRead<T>(reads: Map<string, Promise<T>>, key: string, read: () => Promise<T>): Promise<T> {
  let running = reads.get(key);
  if (running === undefined) {
    running = read().finally(() => reads.delete(key));
    reads.set(key, running);
  }
  return running;
}
