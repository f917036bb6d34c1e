// A running gateway: stores connected, migrations applied, the HTTP server listening and the
// ledger writer draining. main.ts starts one from the environment; tests start them in process.

import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import pino, { type Logger } from 'pino';
import { closeRedis, connectPostgres, createRedis, redactUrl, type RedisClient, type Stores } from '../processor/stores.ts';
import { Processor } from '../processor/processor.ts';
import { default_health_options, PostgresHealth } from '../processor/postgres-health.ts';
import { copies_owed_sweep_ms } from '../processor/copies-owed.ts';
import { RedisHealth, redis_health_defaults, writeState } from '../processor/redis-health.ts';
import { network_loaded_key } from '../processor/network-layout.ts';
import { referral_sweep_ms_default } from '../processor/config.ts';
import { deferred_undo_sweep_ms } from '../processor/deferred-undos.ts';
import { LedgerWriter } from '../processor/ledger/writer.ts';
import { createApp } from './app.ts';
import { LedgerLag } from './operations.ts';
import { prepareStores } from './prepare.ts';
import { checkRedisSettings, settings_watch_interval_ms, watchRedisSettings } from '../processor/settings.ts';
import { durabilityWarning, readRedisDurability } from '../processor/redis-durability.ts';
import type { GatewayConfig } from './config.ts';
import { createMetrics } from './metrics.ts';
import { ConsoleStats } from './console-stats.ts';
import { TransactionFeed } from './feed.ts';
import { createIsoServer } from '../adapters/iso8583/server.ts';
import { refusalCounter } from '../adapters/iso8583/log-limit.ts';
import { createIsoHandler } from '../adapters/iso8583/mapping.ts';
import { TerminalChannel } from '../adapters/ws/channel.ts';
import type { ChannelLimits } from '../adapters/ws/connection.ts';
import { WebhookWorker } from '../adapters/webhooks/worker.ts';
import { webhookSecretKey } from '../processor/webhooks.ts';
import { startWebhookRetention } from '../processor/webhook-retention.ts';
import { startRefusalRetention } from '../processor/refusals.ts';
import type { Sql } from '../processor/stores.ts';
import type { Metrics } from './metrics.ts';
import { answerClientError, requestErrorResponse, writeRequestError, writeStopping } from '../adapters/http/problem.ts';
import { answerInTurn, requests_waiting_max } from '../adapters/http/pipelining.ts';

export interface Gateway {
  readonly app: ReturnType<typeof createApp>;
  readonly processor: Processor;
  readonly writer: LedgerWriter | undefined;
  /** The webhook delivery worker (undefined with WEBHOOK_WORKER=off). */
  readonly webhook_worker: WebhookWorker | undefined;
  readonly logger: Logger;
  /** The port the HTTP server listens on (0 when started without a server). */
  readonly port: number;
  /** The ISO 8583 TCP port (0 when not listening). */
  readonly iso8583_port: number;
  /** The WebSocket terminal channel on the HTTP port (undefined when started without a server). */
  readonly terminal: TerminalChannel | undefined;
  /**
   * Settles if the data turns out to be made with other settings (processor/settings.ts): found
   * in PostgreSQL once back after an outage the gateway started in, or in Redis while it serves
   * (emptied, then laid out by another process). The gateway must stop, as such a start would.
   */
  readonly refused: Promise<Error>;
  /**
   * From now on every HTTP answer says `Connection: close`, before close() closes the connections
   * left idle: a keep-alive client busy with requests learns to leave on its next answer, rather
   * than finding its connection closed under the request it just sent (a stop's grace, main.ts).
   */
  drainHttp(): void;
  close(): Promise<void>;
}

export interface StartOptions {
  readonly listen?: boolean;
  readonly logger?: Logger;
  readonly collect_default_metrics?: boolean;
  /** Listen for ISO 8583 on config.iso8583_port too (default: when the HTTP server listens). */
  readonly iso8583?: boolean;
  /** The terminal channel's limits, where a test needs them shorter (TERMINAL.md's by default). */
  readonly terminal?: Partial<ChannelLimits>;
}

export async function startGateway(config: GatewayConfig, options: StartOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? pino({ level: config.log_level });
  const { stores, connected, postgres_health, redis_health } = openStores(config, logger);
  const { redis, sql } = stores;
  // Everything started is stopped in the reverse order, by close() or by a start that fails
  // midway (a port taken): a gateway that did not start holds no connection, timer or port.
  const started = new Started(logger);
  started.add(() => sql.end({ timeout: 5 }));
  started.add(() => closeRedis(redis));
  started.add(() => redis_health.stop());
  started.add(() => postgres_health.stop());
  try {
    return await startServing(config, options, logger, stores, connected, postgres_health, started);
  } catch (err) {
    await started.stopAll();
    throw err;
  }
}

/**
 * What startGateway starts once its stores are made; each part is added to `started` as it starts.
 * The ports open once the gateway serves, so that an open port means ready to whoever waits for
 * it (a harness, an orchestrator's TCP probe); but if Redis does not answer within
 * listen_early_ms (down, or loading its data), they open then: until the start has read Redis,
 * every POS and admin call answers 503 `unavailable`, ISO 8583 DE39 91 and /readyz 503
 * (OPERATIONS.md), where nothing listening answered a terminal only with refused connections.
 */
async function startServing(config: GatewayConfig, options: StartOptions, logger: Logger, stores: Stores, connected: Promise<unknown>, postgres_health: PostgresHealth, started: Started): Promise<Gateway> {
  const { redis, sql } = stores;
  const processor = new Processor(stores);
  processor.onFailure = (err, context, message) => logger.error({ err, ...context }, message);
  // No look-up before the network copy is read (or made): an empty one answers 401 and 404.
  const serve = processor.network.refuseUntilReady('the gateway is starting: it has not read Redis yet (Redis down or loading its data); try again shortly');
  const metrics = createMetrics(options.collect_default_metrics ?? true);
  const console_services = { stats: new ConsoleStats(redis, logger), feed: new TransactionFeed(redis, config.processor.shard_count, logger) };
  const ledger_lag = new LedgerLag(processor);
  const app = createApp({
    processor,
    ledger_lag,
    platform_api_key: config.platform_api_key,
    metrics,
    logger,
    postgres_health,
    postgres_calls_in_flight_max: config.postgres_calls_in_flight_max,
    trust_proxy_hops: config.trust_proxy_hops,
    webhooks_allow_private: config.webhooks.allow_private,
    console: console_services,
  });
  // What starts once Redis answers is stopped after the listeners (added before them), as when
  // it started before them.
  const parts = new Started(logger);
  started.add(() => parts.stopAll());
  const http_closing: HttpClosing = { closing: false };
  const listening = () => listen(app, processor, config, options, logger, console_services, started, http_closing);
  const redis_answers = redisAnswers(redis, connected);
  const early = await listeningIfRedisWaits(redis_answers, listening);
  if (early !== undefined && (early.port !== 0 || early.iso_port !== 0)) logger.info({ port: early.port, iso8583_port: early.iso_port }, 'ports open: calls answer 503 until the gateway has read Redis');
  let refuse: (err: Error) => void = () => {};
  const refused = new Promise<Error>((resolve) => (refuse = resolve));
  await startOnRedis(config, logger, processor, stores, redis_answers, postgres_health, console_services.stats, ledger_lag, parts, refuse);
  // Redis holds the network now (read, or just copied): a probe made before the copy said
  // 'loading' (no n:loaded), and the POS path would answer 503 until the next one. Probed again
  // now instead (a Redis refusing writes starts the gateway all the same).
  await stores.redis_health?.check();
  serve();
  const { port, iso_port, terminal } = early ?? (await listening());
  // Started after the network is served: the sweeps read it.
  const webhook_worker = config.webhooks.worker ? startWebhookWorker(sql, config, metrics, logger) : undefined;
  if (webhook_worker !== undefined) parts.add(() => webhook_worker.stop());
  const writer = config.ledger_writer ? startLedgerWriter(redis, writerSql(config, parts), config, metrics, logger) : undefined;
  if (writer !== undefined) parts.add(() => writer.stop());
  parts.add(startSweeps(processor, sql, config, logger));

  return {
    app,
    processor,
    writer,
    webhook_worker,
    logger,
    port,
    iso8583_port: iso_port,
    terminal,
    refused,
    drainHttp: () => void (http_closing.closing = true),
    close: () => started.stopAll(),
  };
}

/** The HTTP server (with the terminal channel) and the ISO 8583 server, as options say; their stops added to `started`. */
async function listen(app: Gateway['app'], processor: Processor, config: GatewayConfig, options: StartOptions, logger: Logger, console_services: { stats: ConsoleStats; feed: TransactionFeed }, started: Started, closing: HttpClosing) {
  const { close_http, terminal, port } = (options.listen ?? true)
    ? await listenHttp(app, processor, config, options, logger, console_services.stats, closing)
    : { close_http: undefined, terminal: undefined, port: 0 };
  // The HTTP server closes last of the three: its close waits for the upgraded sockets too, and for
  // every open response (the live feeds).
  if (close_http !== undefined) started.add(close_http);
  started.add(() => console_services.feed.close());
  if (terminal !== undefined) started.add(() => terminal.close());
  const { iso, iso_port } = (options.iso8583 ?? options.listen ?? true)
    ? await listenIso(processor, config, logger, console_services.stats)
    : { iso: undefined, iso_port: 0 };
  if (iso !== undefined) started.add(() => iso.close());
  return { port, iso_port, terminal };
}

/**
 * The start's reads of Redis, once it answers: the network copy (made from PostgreSQL if Redis has
 * none), the offers subscription, the console's counts and the ledger lag's first count.
 */
async function startOnRedis(config: GatewayConfig, logger: Logger, processor: Processor, stores: Stores, redis_answers: Promise<void>, postgres_health: PostgresHealth, stats: ConsoleStats, ledger_lag: LedgerLag, parts: Started, refuse: (err: Error) => void): Promise<void> {
  // An operator must see why the gateway answers 503, not a silent process.
  await sayingWhileWaiting(redis_answers, () => logger.warn({ redis_url: redactUrl(config.redis_url) }, 'Redis does not answer (or loads its data): calls answer 503 until it does'));
  // Before anything reads a wallet or a CIM: laid out or tokenised with other settings, every one
  // would be looked for where it is not. Read only: a new Redis takes its settings once PostgreSQL's
  // have been checked (prepare.ts), so that a start refused by PostgreSQL leaves it none of its own.
  await checkRedisSettings(stores.redis, config.processor, 'check');
  await warnIfRedisForgets(stores.redis, logger);
  let prepared = false;
  parts.add(await prepareStores(stores, postgres_health, logger, refuse, () => (prepared = true)));
  // Kept after the start too: a Redis that restarts empty while this gateway serves.
  parts.add(watchRedisSettings(stores.redis, config.processor, { interval_ms: settings_watch_interval_ms, mode: () => (prepared ? 'adopt' : 'check'), onMismatch: refuse }));
  postgres_health.start();
  parts.add(() => processor.offers.close());
  await processor.offers.subscribe();
  parts.add(() => processor.network.close());
  await processor.network.subscribe();
  parts.add(() => stats.stop());
  stats.start();
  await ledger_lag.count();
  parts.add(ledger_lag.start());
}

/** A Redis given by REDIS_URL without AOF `always` loses acknowledged transactions in a crash: said at start, not refused. */
async function warnIfRedisForgets(redis: Stores['redis'], logger: Logger): Promise<void> {
  const warning = await readRedisDurability(redis).then(durabilityWarning, (err: unknown) => {
    logger.warn({ err }, 'could not read Redis\'s persistence settings');
    return undefined;
  });
  if (warning !== undefined) logger.warn(warning);
}

/**
 * `listen()`'s ports if Redis has not answered within listen_early_ms (opened then), or undefined
 * once it answers first (the caller opens them once it serves). Never both: once the ports begin
 * to open, their opening is what this waits for.
 */
function listeningIfRedisWaits<T>(redis_answers: Promise<void>, listen: () => Promise<T>): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    let opening = false;
    const timer = setTimeout(() => {
      opening = true;
      listen().then(resolve, reject);
    }, listen_early_ms);
    // Rejected (the client closed while waiting): the start fails now, or, the ports opening, once
    // it awaits Redis after them.
    const settle = (then: () => void) => {
      if (opening) return;
      clearTimeout(timer);
      then();
    };
    redis_answers.then(
      () => settle(() => resolve(undefined)),
      (err: unknown) => settle(() => reject(err)),
    );
  });
}

/**
 * Once Redis is connected and past loading its data. A write it refuses otherwise (out of memory,
 * a read-only replica) starts the gateway all the same: the POS path answers 503 for it, as when
 * Redis refuses while the gateway serves.
 */
async function redisAnswers(redis: RedisClient, connected: Promise<unknown>): Promise<void> {
  // The first connection's end while the client is open is the Redis probe dropping a handshake a
  // hung Redis never answered (it connects again at once), not a closed client: the start waits
  // on. It ended the start until 2026-12-05 ('Disconnects client', exit 1: a gateway started
  // beside a frozen Redis never served; a black-box probe of OPERATIONS.md).
  await connected.catch((err: unknown) => {
    if (!redis.isOpen) throw err;
  });
  for (;;) {
    const state = await writeState(redis);
    if (state !== 'down' && state !== 'loading') return;
    if (!redis.isOpen) throw new Error('the Redis client was closed while the gateway waited for Redis');
    await sleep(redis_wait_ms);
  }
}

const redis_wait_ms = 250;
/** How long a start waits for Redis before it opens its ports to answer 503 meanwhile: as long as before it says so in its log. */
const listen_early_ms = 1_000;

/** What a gateway started, and how to stop each part: stopped last first, each once. */
class Started {
  private readonly stops: (() => unknown)[] = [];

  constructor(private readonly logger: Logger) {}

  add(stop: () => unknown): void {
    this.stops.push(stop);
  }

  async stopAll(): Promise<void> {
    for (const stop of this.stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        this.logger.warn({ err }, 'gateway: stopping a part failed; stopping the rest');
      }
    }
  }
}

/**
 * Redis and PostgreSQL clients, Redis connecting (`connected`: rejected only when closed first)
 * and watched from now: /readyz and the POS path see it down until it answers.
 */
function openStores(config: GatewayConfig, logger: Logger) {
  const redis = createRedis(config.redis_url);
  const connected = redis.connect();
  connected.catch(() => {}); // closed before it answered: the start that waited is stopped
  const sql = connectPostgres(config.database_url);
  const redis_health = new RedisHealth(redis, { ...redis_health_defaults, timeout_ms: config.redis_probe_timeout_ms, held_key: network_loaded_key }, () => logger.warn('Redis did not answer in time: connection dropped, POS requests in flight answered 503; reconnecting'));
  const postgres_health = new PostgresHealth(config.database_url, { ...default_health_options, timeout_ms: config.postgres_probe_timeout_ms });
  const stores: Stores = { redis, sql, config: config.processor, clock: { now: () => Date.now() }, redis_health, postgres_health };
  redis_health.start();
  return { stores, connected, postgres_health, redis_health };
}

/** `work`, with `say()` called 1 s after it began and every 10 s after while it has not settled. */
async function sayingWhileWaiting<T>(work: Promise<T>, say: () => void): Promise<T> {
  let timer = setTimeout(function again() {
    say();
    timer = setTimeout(again, 10_000);
  }, 1_000);
  try {
    return await work;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The ledger writer's connections, its own: postgres.js pipelines a query onto a busy connection,
 * so on the shared pool a batch waited behind calls PostgreSQL was slow to answer (a lock held),
 * and the journal grew while PostgreSQL served. Ended after the writer stops.
 */
function writerSql(config: GatewayConfig, started: Started): Sql {
  const sql = connectPostgres(config.database_url, 2);
  started.add(() => sql.end({ timeout: 5 }));
  return sql;
}

function startLedgerWriter(redis: RedisClient, sql: Sql, config: GatewayConfig, metrics: Metrics, logger: Logger): LedgerWriter {
  const writer = new LedgerWriter(redis, sql, {
    shard_count: config.processor.shard_count,
    ...(config.ledger_commit_delay_ms === undefined ? {} : { commit_delay_ms: config.ledger_commit_delay_ms }),
    onError: (err) => logger.warn({ err }, 'ledger writer: batch failed, retrying'),
    onLeaseLost: (given_up, consumer, dropped) => logger.warn({ given_up, consumer, dropped }, 'ledger writer: lease lost (process frozen or cut off from Redis), going on as a new consumer'),
    onBatch: (entries) => metrics.ledger_written.inc(entries),
    onDeadLetter: (id, err) => logger.error({ transaction_id: id, err }, 'ledger writer: journal entry refused by PostgreSQL or unreadable, set aside on the dead-letter stream'),
  });
  writer.start();
  return writer;
}

/** The sweeps the ledger-writing process runs (none in the others); returns what stops them. */
function startSweeps(processor: Processor, sql: Sql, config: GatewayConfig, logger: Logger): () => void {
  // The process that writes the ledger also expires awards (as they fall due, every 1 s at least by default).
  const stop_expiry = config.ledger_writer
    ? processor.expiry.start(config.expiry_sweep_ms, (err) => logger.warn({ err }, 'expiry sweep failed'))
    : undefined;
  // And forgets callback answers past their retention (processor/callback-events.ts prune).
  const stop_callback_retention = config.ledger_writer && config.callback_events_retention_days > 0
    ? processor.callback_events.startRetention(config.callback_events_retention_days, (err) => logger.warn({ err }, 'callback answers: pruning failed'))
    : undefined;
  // And webhook events whose deliveries are over, past theirs (processor/webhook-retention.ts).
  const stop_webhook_retention = config.ledger_writer && config.webhook_events_retention_days > 0
    ? startWebhookRetention(sql, config.webhook_events_retention_days, (err) => logger.warn({ err }, 'webhook events: pruning failed'))
    : undefined;
  // And refusals older than the hot windows rebuild reads them for (processor/refusals.ts).
  const stop_refusal_retention = config.ledger_writer
    ? startRefusalRetention(sql, processor.stores.config.reply_ttl_seconds, (err) => logger.warn({ err }, 'refusals: pruning failed'))
    : undefined;
  // And makes the referral awards a crashed process left behind.
  const stop_referrals = config.ledger_writer
    ? processor.referrals.start(config.referral_sweep_ms ?? referral_sweep_ms_default, (err) => logger.warn({ err }, 'referral sweep failed'))
    : undefined;
  // And gives back what purchases reversed while the ledger was down had counted.
  const stop_deferred_undos = config.ledger_writer
    ? processor.deferred_undos.start(deferred_undo_sweep_ms, (err) => logger.warn({ err }, 'deferred undo sweep failed'))
    : undefined;
  // And the Redis copies admin changes owe (processor/copies-owed.ts).
  const stop_copies_owed = config.ledger_writer
    ? processor.copies_owed.start(copies_owed_sweep_ms, (err) => logger.warn({ err }, 'Redis copies owed: sweep failed'))
    : undefined;
  return () => {
    stop_expiry?.();
    stop_copies_owed?.();
    stop_referrals?.();
    stop_deferred_undos?.();
    stop_callback_retention?.();
    stop_webhook_retention?.();
    stop_refusal_retention?.();
  };
}

/**
 * @hono/node-server's listener on node's server, as its serve() makes it, but with an
 * errorHandler (serve() takes none): a request that names no URL is answered problem+json, not
 * an empty 400. Node's own check of Host (requireHostHeader, an empty 400 too) is made here:
 * HTTP/1.1 needs Host (RFC 9112); HTTP/1.0 without one is served at config.host, as before.
 */
function createHttpServer(app: Gateway['app'], host: string, onTooManyWaiting: () => void, closing: HttpClosing): Server {
  const listener = getRequestListener(app.fetch, { hostname: host, errorHandler: requestErrorResponse });
  return createServer({ requireHostHeader: false }, (req, res) => {
    // Answered, then its connection closed: the server is closing (closeHttp, or drainHttp's grace).
    // One pipelined behind another answer is not run: the connection closes after the answer
    // before it, so its own would never be read (a probe: four purchases pipelined after SIGTERM
    // were made and never answered). 503, not made: sent where the connection lives on that long.
    if (closing.closing) {
      res.shouldKeepAlive = false;
      if (res.socket === null) return writeStopping(res);
    }
    if (req.httpVersion === '1.1' && req.headers.host === undefined) return writeRequestError(res, 'an HTTP/1.1 request needs a Host header');
    // Pipelined requests run as their connection's earlier answers are sent (adapters/http/pipelining.ts).
    // The listener answers its own errors (errorHandler); should it still fail, the connection
    // is closed rather than the promise dropped.
    answerInTurn(req, res, () => void listener(req, res).catch((err: unknown) => res.destroy(err instanceof Error ? err : undefined)), onTooManyWaiting);
  });
}

/** The longest a request may take to arrive in whole (an import streaming a million lines). */
export const http_request_timeout_ms = 3_600_000;

/** The HTTP server, with the terminal channel on its port. */
async function listenHttp(app: Gateway['app'], processor: Processor, config: GatewayConfig, options: StartOptions, logger: Logger, stats: ConsoleStats, closing: HttpClosing) {
  let port = 0;
  // A port taken rejects the start (it was an 'error' event nobody listened to: the process died).
  const server = await new Promise<Server>((resolve, reject) => {
    const tooManyWaiting = refusalCounter((refused) => logger.warn({ requests_waiting_max, refused }, 'http: connection closed, requests_waiting_max pipelined requests waiting for their answers to be read'));
    const s = createHttpServer(app, config.host, tooManyWaiting, closing);
    s.once('error', reject);
    s.listen(config.port, config.host, () => {
      port = (s.address() as AddressInfo).port;
      s.off('error', reject);
      resolve(s);
    });
  });
  // Keep-alive longer than typical load balancers' idle timeout, so they close first.
  server.keepAliveTimeout = 65_000;
  // How long a whole request may take to arrive. Node's 300 s cut an import still streaming
  // (408, the batch in progress lost): 100,000 lines took 26 s on an idle 2-core machine, so a
  // million come near 300 s (a contacts probe, 2026-12-06). Slow headers are still cut at node's 60 s (headersTimeout);
  // other bodies are at most 64 KiB.
  server.requestTimeout = http_request_timeout_ms;
  // Bounded as the ISO 8583 server's connections_max: node closes one more socket as it opens.
  server.maxConnections = config.http_connections_max;
  // Says that connections were closed at the bound (node's maxConnections).
  server.on('drop', refusalCounter((refused) => logger.warn({ connections_max: config.http_connections_max, refused }, 'http: connection refused, http_connections_max reached')));
  // What node's parser refuses is answered problem+json too (its own answer has no body).
  server.on('clientError', answerClientError);
  const terminal = new TerminalChannel(processor, logger, options.terminal, config.trust_proxy_hops, stats.record);
  terminal.attach(server);
  return { close_http: () => closeHttp(server, closing), terminal, port };
}

/** Whether the HTTP server is closing: set once, by closeHttp. */
interface HttpClosing {
  closing: boolean;
}

/** How often a closing HTTP server closes the connections that have fallen idle since. */
const http_idle_close_ms = 50;

/**
 * Stops taking connections and waits for the open ones to end. Node closes the connections idle
 * at the close; one answering then stayed open (keep-alive) and was served on, until the process's
 * 15 s exit cut its request in flight (a black-box probe, 2026-12-05: 1,762 purchases served on
 * one connection after SIGTERM, the last one cut). Now a request read after the close is
 * answered `Connection: close`, and a connection that falls idle is closed within
 * http_idle_close_ms.
 */
function closeHttp(server: Server, state: HttpClosing): Promise<void> {
  state.closing = true;
  const idle = setInterval(() => server.closeIdleConnections(), http_idle_close_ms);
  return new Promise<void>((resolve) =>
    server.close(() => {
      clearInterval(idle);
      resolve();
    }),
  );
}

async function listenIso(processor: Processor, config: GatewayConfig, logger: Logger, stats: ConsoleStats) {
  const iso = createIsoServer({
    ...config.iso8583,
    handler: createIsoHandler(processor, stats.record),
    logger,
  });
  const iso_port = await iso.listen(config.iso8583_port, config.host);
  return { iso, iso_port };
}

/** Webhooks out: a worker of its own in every gateway process (several share the work). */
function startWebhookWorker(sql: Sql, config: GatewayConfig, metrics: Metrics, logger: Logger): WebhookWorker {
  const worker = new WebhookWorker(sql, webhookSecretKey(config.processor.cim_hmac_key), {
    retry_base_ms: config.webhooks.retry_base_ms,
    allow_private: config.webhooks.allow_private,
    onError: (err, message) => logger.warn({ err }, message),
    onOutcome: (outcome) => metrics.webhook_attempts.inc({ outcome }),
  });
  worker.start();
  return worker;
}
