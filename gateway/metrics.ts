// Prometheus metrics: one registry per gateway so tests can run several in one process.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly http_duration: Histogram<'route' | 'method' | 'status'>;
  readonly ledger_written: Counter;
  readonly journal_backlog: Gauge;
  readonly callback_events: Counter<'status' | 'replayed'>;
  readonly webhook_attempts: Counter<'outcome'>;
  readonly webhook_backlog: Gauge;
}

export function createMetrics(collect_defaults: boolean): Metrics {
  const registry = new Registry();
  if (collect_defaults) collectDefaultMetrics({ register: registry });
  return {
    registry,
    http_duration: new Histogram({
      name: 'pocketgate_http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    ledger_written: new Counter({ name: 'pocketgate_ledger_entries_written_total', help: 'Journal entries written to the ledger by this process', registers: [registry] }),
    journal_backlog: new Gauge({ name: 'pocketgate_journal_backlog', help: 'Journal entries not yet in the ledger (all shards)', registers: [registry] }),
    callback_events: new Counter({
      name: 'pocketgate_callback_events_total',
      help: 'Payment-processor callback events answered, by status (processed, ignored, rejected) and whether the answer was a replay',
      labelNames: ['status', 'replayed'],
      registers: [registry],
    }),
    webhook_attempts: new Counter({
      name: 'pocketgate_webhook_deliveries_total',
      help: 'Webhook delivery attempts made by this process, by outcome: succeeded, retrying (failed, will be retried), failed (given up after the 8th)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    webhook_backlog: new Gauge({ name: 'pocketgate_webhook_backlog', help: 'Webhook deliveries pending (not yet succeeded nor given up), all gateways; -1 when PostgreSQL does not answer', registers: [registry] }),
  };
}
