// Periodic work (award expiry, referral awards left behind): one run at a time, the next
// `interval_ms` after the last ended, errors reported and the next run going on.

/** Runs `work` every `interval_ms` until the returned function is called. */
export function repeatEvery(interval_ms: number, work: () => Promise<unknown>, onError: (err: unknown) => void): () => void {
  return repeatWhenDue(interval_ms, async () => {
    await work();
    return interval_ms;
  }, interval_ms, onError).stop;
}

/** A repetition repeatWhenDue runs: stopped, or its next run brought forward to a time due sooner. */
export interface Repetition {
  stop(): void;
  /** The next run at `due_ms` (the clock's ms) at the latest; nothing if it is due sooner already. */
  wakeBy(due_ms: number): void;
}

/** The longest a Node timer waits: 2^31 − 1 ms (about 24.8 days). */
const timer_ms_max = 2 ** 31 - 1;

/**
 * Runs `work` after `first_ms`, then again after the delay each run answers (the milliseconds
 * until it is due again; `retry_ms` after one that threw, reported to `onError`), until stopped.
 * One run at a time. `wakeBy` brings the next run forward.
 */
export function repeatWhenDue(first_ms: number, work: () => Promise<number>, retry_ms: number, onError: (err: unknown) => void, clock: { now(): number } = Date): Repetition {
  let stopped = false;
  let running = false;
  let timer: NodeJS.Timeout | undefined;
  let next_at_ms = Infinity;
  const schedule = (delay_ms: number) => {
    if (timer !== undefined) clearTimeout(timer);
    next_at_ms = clock.now() + delay_ms;
    arm();
  };
  // A wait past what one timer holds is made of several: Node sets a longer timer to 1 ms. The
  // sweeper's waits are within EXPIRY_SWEEP_MS (at most an hour), but a clock walked back a year
  // (test/big-contact.test.ts) had it told to wake in 90 days, and it swept every millisecond
  // (a CI log's TimeoutOverflowWarning).
  const arm = () => {
    const left_ms = Math.max(0, next_at_ms - clock.now());
    timer = setTimeout(left_ms > timer_ms_max ? arm : tick, Math.min(left_ms, timer_ms_max));
  };
  const tick = async () => {
    if (stopped) return;
    timer = undefined;
    next_at_ms = Infinity;
    running = true;
    let next_ms = retry_ms;
    try {
      next_ms = await work();
    } catch (err) {
      onError(err);
    }
    running = false;
    if (!stopped) schedule(Math.min(next_ms, Math.max(0, next_at_ms - clock.now())));
  };
  schedule(first_ms);
  return {
    stop: () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
    wakeBy: (due_ms: number) => {
      if (stopped || due_ms >= next_at_ms) return;
      // While a run is under way its end schedules the next, at this time at the latest.
      next_at_ms = due_ms;
      if (!running) schedule(Math.max(0, due_ms - clock.now()));
    },
  };
}

/** How often retentions run (callback answers, webhook events, refusals). */
export const prune_interval_ms = 3_600_000;

/**
 * A retention: every hour, `prune` (one short statement forgetting at most `rows_max` rows,
 * answering how many) again while it finds a full batch, at most `statements_max` times a run,
 * so that a backlog is forgotten in bounded steps without one long statement.
 */
export function pruneHourly(prune: () => Promise<number>, rows_max: number, statements_max: number, onError: (err: unknown) => void): () => void {
  return repeatEvery(prune_interval_ms, async () => {
    for (let i = 0; i < statements_max; i++) if ((await prune()) < rows_max) return;
  }, onError);
}
