// Whether an error means a store cannot serve now (the client may retry: 503, ISO 8583 DE39 91),
// rather than a fault of ours (500, DE39 96). Known by the clients' error types and by the
// stores' own error codes, never by the wording of a message.

import postgres from 'postgres';
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
} from 'redis';

/**
 * Redis's refusals of a command it would take another time: loading its data after a restart,
 * out of memory, a read-only replica, no master, a cluster not serving, a script or the
 * persistence busy. The first word of an error reply is its code (RESP).
 */
const redis_refusals: ReadonlySet<string> = new Set(['LOADING', 'OOM', 'READONLY', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN', 'BUSY', 'NOREPLICAS', 'MISCONF']);

// DisconnectsClientError: the commands in flight when a hung connection was dropped (redis-health.ts).
const redis_connection_errors = [ClientClosedError, ClientOfflineError, ConnectionTimeoutError, DisconnectsClientError, SocketClosedUnexpectedlyError, SocketTimeoutError, ReconnectStrategyError];

/** postgres.js's own codes for a connection that is gone or could not be made. */
const postgres_connection_codes: ReadonlySet<string> = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);

/**
 * SQLSTATE classes and codes of a server that cannot serve now (08 connection, 57P0x shutdown, 53
 * resources, 57014 a statement cancelled: its timeout ran out, as the console's totals' does over
 * a large or busy ledger; asked again later it may answer).
 */
function postgresCannotServe(code: string): boolean {
  return code.startsWith('08') || code.startsWith('53') || code === '57P01' || code === '57P02' || code === '57P03' || code === '57014';
}

/** The RESP error code of a Redis error reply ('OOM', 'LOADING', …). */
export function redisErrorCode(err: ErrorReply): string {
  const space = err.message.indexOf(' ');
  return space < 0 ? err.message : err.message.slice(0, space);
}

export function isStoreUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof ErrorReply) return redis_refusals.has(redisErrorCode(err));
  if (redis_connection_errors.some((type) => err instanceof type)) return true;
  if (err instanceof postgres.PostgresError) return postgresCannotServe(err.code);
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  // Sockets (either client) refused, reset or timed out.
  return postgres_connection_codes.has(code) || code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EPIPE';
}
