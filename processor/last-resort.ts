// The last line of defence of a long-running process (the gateway, the standalone ledger writer):
// what happens to an error nothing caught.
//
// Node's default is to exit on both an uncaught exception and an unhandled rejection. For the
// gateway that turned PostgreSQL trouble into a POS outage: postgres.js 3.4.9 threw from a
// setImmediate when a backend went away (patches/README.md), and the POS path, which needs only
// Redis, went down with it. The patch fixes the known cases; this is for the next unknown one.
//
// The policy, and why:
// - An unhandled rejection is logged and the process goes on. A promise nobody awaited failed: no
//   stack was unwound half-way through an update, so the process is in the state a handled
//   failure of that operation would have left.
// - An uncaught exception thrown by postgres.js from its own callbacks (the top frame of its stack
//   is in node_modules/postgres/) is logged and the process goes on: the POS path does not use
//   PostgreSQL, and exiting would turn every such library bug into a POS outage, the thing this
//   is here to prevent. What the exception left behind may keep PostgreSQL unusable from this
//   process (postgres.js 3.4.9 unpatched, tried by hand: the process survived, and every later
//   query failed with CONNECT_TIMEOUT until a restart), so the ledger may stop and admin calls
//   fail. That shows (the journal backlog grows, PostgreSQL checks fail) for an operator to
//   restart the process, and a shard refuses new transactions at JOURNAL_LENGTH_MAX rather than
//   lose any. The patch in patches/ is the fix for the known cases; this is the last line.
// - Any other uncaught exception is logged at fatal level and the process exits (code 1). The
//   throw unwound some callback half-way, and nothing tells which state it left: the Redis client
//   (whose replies must match its commands), the HTTP or ISO 8583 server, an in-memory cache. A
//   fresh process is the one state known to be right, and exiting loses nothing acknowledged
//   (Redis AOF with fsync on every write, the journal, the idempotent ledger writer: the SIGKILL
//   tests). Under GATEWAY_PROCESSES > 1 the primary starts another worker at once; otherwise the
//   supervisor (Docker, systemd) must restart it.
//
// Install it only once the process serves: a rejected top-level await (a failure to start) is
// reported as an uncaught exception too, and must still stop the process.
//
// Logging is bounded: at most `lines_max` lines per `window_ms` for the errors the process
// survives, then one line with how many were left out, so that a storm (PostgreSQL down, a
// rejection per request) cannot flood the log or spend the event loop on it.

import type { Logger } from 'pino';

export interface LastResortOptions {
  /** Lines logged per window for the errors the process survives (default 20). */
  readonly lines_max?: number;
  /** The window of lines_max, in ms (default 60 s). */
  readonly window_ms?: number;
  /** Called instead of process.exit(1) after the fatal line (tests). */
  readonly exit?: (code: number) => void;
}

export interface LastResort {
  /** Errors the process survived since install, logged or not. */
  readonly survived: number;
  uninstall(): void;
}

const postgres_js_frame = /[\\/]node_modules[\\/]postgres[\\/]/;

/**
 * Whether an error was thrown by postgres.js from its own code: the first frame of its stack that
 * is not Node's own is in node_modules/postgres/. An error from a callback of ours that
 * postgres.js called (a type parser, onnotice) has our frame on top, and is not.
 */
export function thrownByPostgresJs(err: unknown): boolean {
  if (!(err instanceof Error) || typeof err.stack !== 'string') return false;
  for (const line of err.stack.split('\n')) {
    const frame = /^\s+at (?:.*\()?(.+?)(?::\d+:\d+)?\)?$/.exec(line)?.[1];
    if (frame === undefined) continue;
    if (frame.startsWith('node:') || frame === 'native' || frame === '<anonymous>') continue;
    return postgres_js_frame.test(frame);
  }
  return false;
}

export function installLastResort(logger: Logger, options: LastResortOptions = {}): LastResort {
  const lines_max = options.lines_max ?? 20;
  const window_ms = options.window_ms ?? 60_000;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let window_start = Date.now();
  let lines = 0;
  let left_out = 0;
  let survived = 0;
  let summary: NodeJS.Timeout | undefined;

  const reportLeftOut = () => {
    summary = undefined;
    if (left_out === 0) return;
    logger.error({ left_out, window_ms }, 'errors the process survived were left out of the log (at most %d lines per window)', lines_max);
    left_out = 0;
  };

  const survive = (err: unknown, kind: 'unhandledRejection' | 'uncaughtException') => {
    survived++;
    const now = Date.now();
    if (now - window_start >= window_ms) {
      window_start = now;
      lines = 0;
    }
    if (lines < lines_max) {
      lines++;
      logger.error({ err, kind }, kind === 'unhandledRejection' ? 'unhandled rejection: logged, the process goes on' : 'uncaught exception from postgres.js: logged, the process goes on');
      return;
    }
    left_out++;
    // One line for the rest of the window, when it ends (unref'd: it never keeps a process up).
    summary ??= setTimeout(reportLeftOut, window_start + window_ms - now).unref();
  };

  const onRejection = (reason: unknown) => survive(reason, 'unhandledRejection');
  const onException = (err: unknown, origin: NodeJS.UncaughtExceptionOrigin) => {
    if (origin === 'uncaughtException' && thrownByPostgresJs(err)) return survive(err, 'uncaughtException');
    // Never rate-bounded: it is the last line this process writes. pino writes to stdout
    // synchronously by default, so the line is out before the exit.
    logger.fatal({ err, origin }, 'uncaught exception: the state of this process is unknown, exiting');
    exit(1);
  };

  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    get survived() {
      return survived;
    },
    uninstall() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
      if (summary !== undefined) clearTimeout(summary);
      reportLeftOut();
    },
  };
}
