// Periodic work (award expiry, referral awards left behind): one run at a time, the next
// `interval_ms` after the last ended, errors reported and the next run going on.

/** Runs `work` every `interval_ms` until the returned function is called. */
export function repeatEvery(interval_ms: number, work: () => Promise<unknown>, onError: (err: unknown) => void): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    if (stopped) return;
    try {
      await work();
    } catch (err) {
      onError(err);
    }
    if (!stopped) timer = setTimeout(tick, interval_ms);
  };
  timer = setTimeout(tick, interval_ms);
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}
