// The Hono app: auth, metrics, the POS and admin routes, operations endpoints and the one error
// handler that turns every thrown value into problem+json.

import { OpenAPIHono } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { maskCardNumbers } from '../core/cim.ts';
import { PocketgateError } from '../core/errors.ts';
import { loggedAsError, problemOf, problemResponse } from '../adapters/http/problem.ts';
import { isPosRoute, posRoutes } from '../adapters/http/pos.ts';
import { callbackRoutes, formedSignature } from '../adapters/callbacks/routes.ts';
import { signature_header } from '../core/signature.ts';
import { bearerKey, id_pattern, type HttpEnv } from '../adapters/http/env.ts';
import { hashKey, refuseProcessorTerminal, requireBuilt, type Network, type Principal } from '../processor/network.ts';
import type { PostgresHealth } from '../processor/postgres-health.ts';
import type { Processor } from '../processor/processor.ts';
import { adminRoutes } from './admin.ts';
import { webhookRoutes } from './webhook-routes.ts';
import type { Metrics } from './metrics.ts';
import { documentApi } from './openapi.ts';
import { serveOperations, type LedgerLag } from './operations.ts';
import { consoleRoutes, type ConsoleServices } from './console.ts';
import { postgres_calls_in_flight_max_default } from './config.ts';
import { InFlight } from '../processor/in-flight.ts';
import { AdminReplies } from '../processor/admin-replies.ts';

export interface AppOptions {
  readonly processor: Processor;
  readonly platform_api_key: string | undefined;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Proxies of our own in front of the gateway, whose X-Forwarded-For names the client (TRUST_PROXY_HOPS). */
  readonly trust_proxy_hops?: number;
  /** When given, calls that need PostgreSQL answer 503 at once while it does not answer. */
  readonly postgres_health?: PostgresHealth;
  /** Calls waiting on PostgreSQL at once (with postgres_health); one more is 503 at once. Default postgres_calls_in_flight_max_default. */
  readonly postgres_calls_in_flight_max?: number;
  /** WEBHOOKS_ALLOW_PRIVATE (default false). */
  readonly webhooks_allow_private?: boolean;
  /** The console's dashboard counts and live feed (gateway.ts starts and stops them). */
  readonly console: ConsoleServices;
  /** /readyz's ledger lag, counted once already by gateway.ts as it starts. */
  readonly ledger_lag: LedgerLag;
}

const callbacks_prefix = '/v1/callbacks/';

/** Calls that read only Redis: terminal keys' calls, and these (a business key's wallet look-up). */
const redis_only_paths: ReadonlySet<string> = new Set(['/v1/wallets', '/v1/business', '/v1/feed']);
/**
 * And a contact's wallet and its spend OTPs: Redis's alone (Contacts.wallet, Spends.issueOtp), so a
 * customer can still be given a code to pay with while PostgreSQL is down, as the POS path goes on.
 */
const redis_only_contact_paths = /^\/v1\/contacts\/[^/]+\/(wallet|spend-otp)$/;
/** GET /v1/transactions/{id}: with PostgreSQL down, still served when the journal holds the transaction. */
const transaction_path = /^\/v1\/transactions\/[^/]+$/;

/**
 * Who a POS call is from when it names a terminal in `Pocketgate-Terminal`: an admin key acts as
 * one of its business's terminals (the transaction is the terminal's, made_by 'admin'); another
 * business's terminal is 404, as one that does not exist. A terminal key may name only itself.
 */
async function actingFor(network: Network, principal: Principal, terminal_id: string | undefined, path: string): Promise<Principal> {
  // The POS calls: the HTTP routes of the terminal ops (adapters/http/pos.ts), the quote included.
  if (terminal_id === undefined || !isPosRoute(path)) return principal;
  if (principal.kind === 'terminal') {
    if (terminal_id !== principal.terminal.id) throw new PocketgateError('forbidden', 'a terminal key acts only for its own terminal; Pocketgate-Terminal is for admin keys');
    return principal;
  }
  if (principal.kind !== 'admin') throw new PocketgateError('forbidden', 'Pocketgate-Terminal needs a business admin key');
  const terminal = id_pattern.test(terminal_id) ? await network.terminal(principal.business, terminal_id) : undefined;
  if (terminal === undefined) throw new PocketgateError('not_found', `terminal ${terminal_id.slice(0, 64)} not found`);
  refuseProcessorTerminal(terminal, 'Pocketgate-Terminal');
  return { kind: 'terminal', business: principal.business, terminal: { ...terminal, made_by: 'admin' } };
}

/** `principal` is undefined on callbacks (no key), which need PostgreSQL: their processors and answers are there. */
function needsPostgres(principal: Principal | undefined, path: string): boolean {
  return principal?.kind !== 'terminal' && !redis_only_paths.has(path) && !redis_only_contact_paths.test(path);
}

function postgresUnavailable(): PocketgateError {
  return new PocketgateError('unavailable', 'PostgreSQL does not answer; try again shortly');
}

/**
 * The call, unless PostgreSQL is known down or `calls` are at their bound (503 at once) or it is
 * found down while the call waits (503 then; the call goes on in the background and `onLateError`
 * hears how it ended, if badly).
 */
async function whilePostgresAnswers(health: PostgresHealth, calls: InFlight, call: () => Promise<void>, onLateError: (err: unknown) => void): Promise<void> {
  if (!health.up) throw postgresUnavailable();
  const work = calls.run(call);
  let cancel = () => {};
  const down = new Promise<never>((_, reject) => {
    cancel = health.onceDown(() => {
      work.catch(onLateError); // given up on: nobody else hears how it ends
      reject(postgresUnavailable());
    });
  });
  try {
    await Promise.race([work, down]);
  } finally {
    cancel();
    down.catch(() => {}); // lost the race or cancelled: nobody waits on it
  }
}

// The key, checked for every /v1 path (an unknown one too: 401 before 404). Not hono's
// bearerAuth: it answers 400 to a header that is not `Bearer <token>` where the contract wants
// 401, and can be made to answer otherwise only by a whole Response thrown in an HTTPException
// (an exception class of its own through the error handler, a WWW-Authenticate added); it
// refuses as malformed any key outside RFC 6750's token characters, where PLATFORM_API_KEY is
// whatever the operator set; and the WebSocket upgrade, which node hands the channel before
// Hono, must read the header as HTTP does: bearerKey serves both. Each route's declaration
// (routes.ts) then checks the key's kind.
function checkKey(processor: Processor, platform_key_hash: string | undefined, admin_replies: AdminReplies): MiddlewareHandler<HttpEnv> {
  return async (c, next) => {
    // Callbacks carry no key: their signature authenticates them (adapters/callbacks); its
    // header's form and age are checked here, before the PostgreSQL gate below: 401, not 503,
    // with PostgreSQL down.
    if (c.req.path.startsWith(callbacks_prefix)) {
      formedSignature(c.req.header(signature_header), processor.stores.clock.now());
      return next();
    }
    const key = bearerKey(c.req.header('authorization'));
    if (key === undefined) throw new PocketgateError('unauthorized', 'send Authorization: Bearer <key>');
    const principal = await processor.network.authenticate(key, platform_key_hash);
    if (principal === undefined) throw new PocketgateError('unauthorized', 'unknown API key');
    // A terminal's key is refused so already (Network.readPrincipal). Every admin call too: most
    // read or write the contacts Redis lost, and one written now would stop rebuild (it refuses a
    // Redis that holds data).
    if (principal.kind === 'admin') requireBuilt(principal.business);
    // An empty Pocketgate-Terminal names no terminal: as none sent (a key matrix probe got 404 "terminal  not found").
    const acting = await actingFor(processor.network, principal, c.req.header('pocketgate-terminal')?.trim() || undefined, c.req.path);
    c.set('principal', acting);
    // Admin and platform writes under an Idempotency-Key keep their answers (routes.ts serve); a terminal's call is left as it was.
    if (acting.kind !== 'terminal') c.set('admin_replies', admin_replies);
    await next();
  };
}

/** The admin calls that need PostgreSQL, while it answers; bounded in number. */
function postgresGate(postgres_health: PostgresHealth, postgres_calls_in_flight_max: number, logger: Logger): MiddlewareHandler<HttpEnv> {
  // Calls waiting on PostgreSQL at once, bounded: PostgreSQL slow but answering the probe (a lock
  // held, a long query) is not known down, and postgres.js queues without bound: a burst would
  // hold every request in memory, each caller waiting behind all before it.
  const postgres_calls = new InFlight(postgres_calls_in_flight_max, () => new PocketgateError('unavailable', 'PostgreSQL is slow to answer; try again shortly'));
  return async (c, next) => {
    if (!needsPostgres(c.get('principal') as Principal | undefined, c.req.path)) return next();
    // A transaction still pending reads back from the journal alone (processor/transactions.ts);
    // the dashboard's traffic and ledger lag are Redis's: an outage is when the lag matters most.
    if (!postgres_health.up && c.req.method === 'GET' && (transaction_path.test(c.req.path) || c.req.path === '/v1/stats')) {
      c.set('ledger_down', true);
      return next();
    }
    await whilePostgresAnswers(postgres_health, postgres_calls, next, (err) => logger.warn({ err, path: c.req.path }, 'an admin call given up on went on failing'));
  };
}

export function createApp({ processor, platform_api_key, metrics, logger, postgres_health, postgres_calls_in_flight_max = postgres_calls_in_flight_max_default, trust_proxy_hops = 0, webhooks_allow_private, console: console_services, ledger_lag }: AppOptions): OpenAPIHono<HttpEnv> {
  const app = new OpenAPIHono<HttpEnv>();
  const platform_key_hash = platform_api_key === undefined || platform_api_key === '' ? undefined : hashKey(platform_api_key);
  const admin_replies = new AdminReplies(processor.stores.redis, (err) => logger.warn({ err }, 'the answer of a call under an Idempotency-Key could not be kept'));

  app.onError((err, c) => {
    const { status, code } = problemOf(err);
    // The path masked: a card number put where an id goes was logged whole (a PAN probe, 2026-12-06).
    if (loggedAsError(code, status)) logger.error({ err, method: c.req.method, path: maskCardNumbers(c.req.path) }, 'request failed');
    else if (status >= 500) logger.debug({ err, method: c.req.method, path: maskCardNumbers(c.req.path) }, 'request failed');
    return problemResponse(err);
  });
  app.notFound(() => problemResponse(new PocketgateError('not_found', 'no such endpoint')));

  app.use('*', async (c, next) => {
    const start = process.hrtime.bigint();
    await next();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    metrics.http_duration.observe({ route: c.req.routePath, method: c.req.method, status: String(c.res.status) }, seconds);
  });

  app.use('/v1/*', checkKey(processor, platform_key_hash, admin_replies));
  if (postgres_health !== undefined) app.use('/v1/*', postgresGate(postgres_health, postgres_calls_in_flight_max, logger));

  app.route('/', posRoutes(processor, trust_proxy_hops, console_services.stats.record));
  app.route('/', adminRoutes(processor));
  app.route('/', callbackRoutes(processor, (reply) => metrics.callback_events.inc({ status: reply.status, replayed: reply.replayed === true ? 'true' : 'false' })));
  app.route('/', webhookRoutes(processor, { allow_private: webhooks_allow_private ?? false }));
  app.route('/', consoleRoutes(processor, console_services));

  serveOperations(app, processor, metrics, ledger_lag, postgres_health);

  documentApi(app);
  return app;
}
