// Periodic work (award expiry, referral awards left behind): one run at a time, the next
// `interval_ms` after the last ended, errors reported and the next run going on.

/** Runs `work` every `interval_ms` until the returned function is called. */
export function repeatEvery(interval_ms: number, work: () => Promise<unknown>, onError: (err: unknown) => void): () => void {
  return repeatWhenDue(interval_ms, async () => {
    await work();
    return interval_ms;
  }, interval_ms, onError);
}

/**
 * Runs `work` until the returned function is called, each run when the one before asked: `work`
 * answers the milliseconds until it is due again. A run that fails is followed by another
 * `retry_ms` later. One run at a time.
 */
export function repeatWhenDue(first_ms: number, work: () => Promise<number>, retry_ms: number, onError: (err: unknown) => void): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    if (stopped) return;
    let next_ms = retry_ms;
    try {
      next_ms = await work();
    } catch (err) {
      onError(err);
    }
    if (!stopped) timer = setTimeout(tick, next_ms);
  };
  timer = setTimeout(tick, first_ms);
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
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
