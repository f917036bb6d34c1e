// Whether PostgreSQL answers now, known without waiting on it: a probe (`select 1` on a connection
// of its own) every interval, given a deadline to answer. Admin calls look at it before they
// start and give up when it turns down while they wait (gateway/app.ts), so they answer 503
// `unavailable` within about two seconds even when PostgreSQL hangs instead of refusing: postgres.js
// has no query timeout, and a query on a connection to a frozen server waits on TCP for minutes.

import { connectPostgres, type Sql } from './stores.ts';
import { withinOr } from './in-flight.ts';

export interface PostgresHealthOptions {
  readonly interval_ms: number;
  readonly timeout_ms: number;
}

export const default_health_options: PostgresHealthOptions = { interval_ms: 500, timeout_ms: 1_000 };

export class PostgresHealth {
  private sql: Sql | undefined;
  private state: 'unknown' | 'ok' | 'down' = 'unknown';
  private probing: Promise<boolean> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Called once each when PostgreSQL is next found down; bounded by the admin calls in flight. */
  private readonly on_down = new Set<() => void>();

  constructor(
    private readonly url: string,
    private readonly options: PostgresHealthOptions = default_health_options,
  ) {}

  /** False only once a probe failed: before the first probe, calls go ahead and find out. */
  get up(): boolean {
    return this.state !== 'down';
  }

  /** Probes now (or joins the probe in flight); answers whether PostgreSQL answered in time. */
  check(): Promise<boolean> {
    this.probing ??= this.probe().finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => void this.check().then(tick), this.options.interval_ms);
      this.timer.unref();
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const sql = this.sql;
    this.sql = undefined;
    await sql?.end({ timeout: 0 }).catch(() => {});
  }

  /** Calls `listener` when PostgreSQL is next found down; answers the function that cancels it. */
  onceDown(listener: () => void): () => void {
    this.on_down.add(listener);
    return () => this.on_down.delete(listener);
  }

  private async probe(): Promise<boolean> {
    if (this.stopped) return this.up;
    const sql = (this.sql ??= connectPostgres(this.url, 1));
    const answered = await withinOr(sql`select 1`.then(() => true, () => false), this.options.timeout_ms, () => false);
    if (!answered && this.sql === sql) {
      // A connection that did not answer may never answer (a frozen server): the next probe
      // starts on a new one. Ending it rejects the query still waiting on it.
      this.sql = undefined;
      void sql.end({ timeout: 0 }).catch(() => {});
    }
    this.state = answered ? 'ok' : 'down';
    if (!answered) {
      const listeners = [...this.on_down];
      this.on_down.clear();
      for (const listener of listeners) listener();
    }
    return answered;
  }
}
