// Log lines a client can cause (a malformed frame, a message that does not decode) are bounded:
// whoever opens connections must not decide how much the gateway writes to its log.

export interface LogLimitOptions {
  /** Lines let through per window; past it, lines are counted, not written. */
  readonly lines_max: number;
  readonly window_ms: number;
  readonly now?: () => number;
}

export class LogLimit {
  private window_start_ms = -Infinity;
  private written = 0;
  private suppressed = 0;
  private readonly now: () => number;

  constructor(private readonly options: LogLimitOptions) {
    if (!(options.lines_max >= 1 && options.window_ms >= 1)) throw new Error('a log limit needs at least one line per window of at least 1 ms');
    this.now = options.now ?? Date.now;
  }

  /**
   * Whether a line may be written now, and how many were suppressed in the window before this
   * one (to be said once, on the first line of the next window).
   */
  take(): { readonly write: boolean; readonly suppressed_before: number } {
    const now = this.now();
    let suppressed_before = 0;
    if (now - this.window_start_ms >= this.options.window_ms) {
      suppressed_before = this.suppressed;
      this.window_start_ms = now;
      this.written = 0;
      this.suppressed = 0;
    }
    if (this.written < this.options.lines_max) {
      this.written++;
      return { write: true, suppressed_before };
    }
    this.suppressed++;
    return { write: false, suppressed_before };
  }
}

/**
 * What to call on each refusal (a connection closed at a bound): says the count so far at most
 * once in `window_ms`, so that whoever is refused does not decide how much the gateway logs.
 */
export function refusalCounter(say: (refused: number) => void, window_ms = 10_000): () => void {
  const lines = new LogLimit({ lines_max: 1, window_ms });
  let refused = 0;
  return () => {
    refused++;
    if (lines.take().write) say(refused);
  };
}
