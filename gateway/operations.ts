// The operations endpoints: liveness, readiness and the Prometheus metrics, served without a key
// (health probes and Prometheus's scraper call them).

import type { OpenAPIHono } from '@hono/zod-openapi';
import type { HttpEnv } from '../adapters/http/env.ts';
import { serve } from '../adapters/http/routes.ts';
import * as answers from '../adapters/http/answers.ts';
import { probeState } from '../processor/redis-health.ts';
import type { Processor } from '../processor/processor.ts';
import { journalBacklog } from '../processor/ledger/writer.ts';
import { deliveryBacklog } from '../processor/webhook-outbox.ts';
import type { PostgresHealth } from '../processor/postgres-health.ts';
import type { Metrics } from './metrics.ts';
import { within } from '../processor/in-flight.ts';
import { network_loaded_key } from '../processor/network-layout.ts';
import { repeatEvery } from '../processor/repeat.ts';

const readiness_timeout_ms = 1_500;
export const ledger_lag_count_interval_ms = 1_000;

/**
 * The ledger's backlog for /readyz, as last counted. The journal is in Redis: while it cannot be
 * read, no entry is added to it or acknowledged out of it, so the last count still stands (at most
 * the entries a writer committed but could not acknowledge over). The gateway counts as it starts
 * and then every second (start), so a Redis gone between two /readyz leaves the count of at most
 * a second before it went, not of the last /readyz (an operations audit found 0 there with 5
 * entries waiting, 2026-12-04). A process Redis never answered has seen no entry: 0, a count of
 * none, as OPERATIONS.md's body has it (`"ledger_lag": N`); it answered null until 2026-12-05 (a
 * black-box probe: a gateway started with Redis down).
 */
export class LedgerLag {
  private last = 0;

  constructor(private readonly processor: Processor) {}

  /** Counts every `interval_ms` (16 short script calls, one a shard); answers what stops it. */
  start(interval_ms = ledger_lag_count_interval_ms): () => void {
    return repeatEvery(interval_ms, () => this.count(), () => {});
  }

  async count(): Promise<number> {
    const { redis, config } = this.processor.stores;
    try {
      this.last = await within(journalBacklog(redis, config.shard_count), readiness_timeout_ms);
    } catch {
      // Unreadable now: the last count stands.
    }
    return this.last;
  }
}

/**
 * PostgreSQL's state for /readyz: the health probe's (its own connection, one probe at a time) when
 * the gateway runs one. A `select 1` on the shared pool would wait behind calls PostgreSQL is slow
 * to answer (a lock held), read `down` while PostgreSQL answers, and leave one more query queued
 * there at every poll of a stall.
 */
function postgresState(sql: Processor['stores']['sql'], health: PostgresHealth | undefined): Promise<'ok' | 'down'> {
  const answered = health === undefined ? sql`select 1`.then(() => true) : health.check();
  return within(answered, readiness_timeout_ms).then((ok) => (ok ? 'ok' as const : 'down' as const), () => 'down' as const);
}

export function serveOperations(app: OpenAPIHono<HttpEnv>, processor: Processor, metrics: Metrics, lag: LedgerLag, postgres_health?: PostgresHealth): void {
  const operations = 'Operations';
  serve(app, { method: 'get', path: '/healthz', summary: 'Process is up', tag: operations, key: 'none', answer: answers.health_answer }, (c) => c.json({ status: 'ok' }));
  // Ready exactly when the POS path can approve: Redis takes a write (it may be up and refusing
  // them: loading its data, out of memory, a read-only replica). PostgreSQL's state and the
  // ledger's lag are reported, not required: the POS path goes on without PostgreSQL. Every
  // check answers within readiness_timeout_ms, so the probe never hangs on a store.
  const readyz = { method: 'get', path: '/readyz', summary: 'Ready when Redis takes a write (503 otherwise); PostgreSQL and the ledger lag reported', tag: operations, key: 'none', answer: answers.ready_answer, also: { 503: { description: 'Not ready: Redis takes no write', answer: answers.ready_answer } } } as const;
  serve(app, readyz, async (c) => {
    const { redis, sql, redis_health } = processor.stores;
    // Told to the POS path the moment Redis answers (RedisHealth.check): told after PostgreSQL's
    // check (up to 1.5 s later), a refusal Redis had since ended undid the newer probe's `ok`
    // (every POS request 503). Only what Redis answered is told: this deadline is /readyz's own,
    // and a gateway given a longer one (REDIS_PROBE_TIMEOUT_MS) leaves a slow Redis to its own probe.
    // A Redis that lost its data (emptied, a new instance) while this gateway served takes writes,
    // but holds no network and no balances until `npm run rebuild` loads them: 'loading', as the
    // gateway's own probe finds it. Told as a plain write's answer, an `ok` here undid that
    // probe's 'loading' and let a purchase through to the emptied Redis (2026-12-04).
    const answered = redis_health?.check() ?? probeState(redis, network_loaded_key);
    const heard = within(answered, readiness_timeout_ms).catch(() => 'down' as const);
    const [probed, postgres_state, ledger_lag] = await Promise.all([heard, postgresState(sql, postgres_health), lag.count()]);
    // A gateway still starting approves nothing though Redis answers: it is loading the network
    // copy from Redis (or into it, from PostgreSQL); nor does one on a Redis emptied since, which
    // answered 200 until 2026-12-04 (an operations audit).
    const redis_state = probed === 'ok' && !processor.network.ready ? 'loading' : probed;
    return c.json({ redis: redis_state, postgres: postgres_state, ledger_lag }, redis_state === 'ok' ? 200 : 503);
  });
  // One count of the webhook backlog at a time: a scrape while PostgreSQL is slow joins the count
  // still waiting rather than queue one more query on the shared pool at every scrape.
  let counting: Promise<number> | undefined;
  const webhookBacklog = () => (counting ??= deliveryBacklog(processor.stores.sql).finally(() => (counting = undefined)));
  serve(app, { method: 'get', path: '/metrics', summary: 'Prometheus metrics', tag: operations, key: 'none', produces: 'text/plain' }, async (c) => {
    const [journal, webhooks] = await Promise.all([
      journalBacklog(processor.stores.redis, processor.stores.config.shard_count).catch(() => -1),
      within(webhookBacklog(), readiness_timeout_ms).catch(() => -1),
    ]);
    metrics.journal_backlog.set(journal);
    metrics.webhook_backlog.set(webhooks);
    return c.text(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType });
  });
}
