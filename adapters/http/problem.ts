// RFC 9457 problem+json: the one shape every HTTP error takes.

import { maxHeaderSize, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { maskCardNumbers } from '../../core/cim.ts';
import { PocketgateError, type ErrorCode, type FieldError } from '../../core/errors.ts';
import { isStoreUnavailable } from '../../processor/unavailable.ts';
import { answerInFlight } from './pipelining.ts';

export const problem_content_type = 'application/problem+json';

export function problemBody(code: ErrorCode | string, status: number, title: string, detail: string, errors?: readonly FieldError[]): string {
  return JSON.stringify({
    type: `https://pocketgate.dev/problems/${code}`,
    title,
    status,
    // What a detail echoes of the request (an id, a query's value) never shows a card number whole.
    detail: maskCardNumbers(detail),
    code,
    ...(errors === undefined ? {} : { errors: errors.map((e) => ({ ...e, message: maskCardNumbers(e.message) })) }),
  });
}

/** A thrown value as the problem it is: its status and problem+json body (what every channel answers). */
export function problemOf(err: unknown): { status: number; body: string; code: string } {
  if (err instanceof PocketgateError) return { status: err.status, body: problemBody(err.code, err.status, err.title, err.message, err.errors), code: err.code };
  // A store that cannot serve now: the client may retry, so 503 rather than 500.
  if (isStoreUnavailable(err)) return { status: 503, body: problemBody('unavailable', 503, 'Service unavailable', 'a store is unreachable; try again shortly'), code: 'unavailable' };
  return { status: 500, body: problemBody('internal_error', 500, 'Internal error', 'the gateway could not process this request'), code: 'internal_error' };
}

/**
 * Whether a failed request is logged as an error: a 5xx of ours is, but not `unavailable` (a store
 * down or hung, the ledger behind, the gateway stopping), the stores' state, which their health
 * monitors log once and /metrics counts per request. Logged per request with its stack, it was a
 * flood (a terminal channel refusing thousands of frames a second while the gateway stopped) that
 * held the event loop past Redis's probe deadline, which then dropped the connection and answered
 * the requests in flight 503 (the black-box audit of 2026-12-03).
 */
export function loggedAsError(code: string, status: number): boolean {
  return status >= 500 && code !== 'unavailable';
}

/** The response for any thrown value: PocketgateErrors as themselves, anything else a 500 that says nothing. */
export function problemResponse(err: unknown): Response {
  const { status, body, code } = problemOf(err);
  const own_after = err instanceof PocketgateError ? err.retry_after_s : undefined;
  const after = own_after !== undefined ? String(own_after) : code === 'rate_limited' ? '60' : code === 'unavailable' && !(err instanceof PocketgateError) ? '1' : undefined;
  const headers: Record<string, string> = { 'content-type': problem_content_type };
  if (err instanceof PocketgateError && err.replayed) headers['idempotent-replayed'] = 'true';
  if (after !== undefined) headers['retry-after'] = after;
  // A 401 names the scheme its credentials take (RFC 9110 §11.6.1, RFC 6750 §3), as the WebSocket upgrade's does;
  // a callback's signature_invalid is not a bearer key's.
  if (code === 'unauthorized') headers['www-authenticate'] = 'Bearer';
  return new Response(body, { status, headers });
}

/** What node's parser refused, as the status node itself would answer it. */
function clientErrorStatus(code: string | undefined): { status: number; reason: string; detail: string } {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, reason: 'Request Header Fields Too Large', detail: `the request's headers are over ${maxHeaderSize} bytes` };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, reason: 'Request Timeout', detail: 'the request did not arrive in time' };
  return { status: 400, reason: 'Bad Request', detail: 'the request is not HTTP/1.1 that this server can read' };
}

/**
 * The HTTP server's 'clientError': a request node's parser refuses never reaches the app, and
 * node's own answer (431, 408, 400) has no body, where every error is problem+json with a code.
 * As node does: nothing is written once a response has begun on the socket (it would corrupt
 * it) or to a peer that reset; the connection is closed.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const in_flight = answerInFlight(socket);
  // A request read whole before the bytes that are not HTTP runs (it may have moved money): its
  // answer, and those pipelined after it, go first, else the client reads this 400 for a request
  // that changed state. Not for an answer whose request never ended: it would wait for ever.
  // 'close' comes a tick after node handed the socket to the next answer pipelined, if any.
  if (in_flight?.req?.complete === true && err.code !== 'ECONNRESET') {
    in_flight.once('close', () => {
      if (!socket.destroyed) answerClientError(err, socket);
    });
    return;
  }
  if (err.code === 'ECONNRESET' || !socket.writable || in_flight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const { status, reason, detail } = clientErrorStatus(err.code);
  // The code stays validation_failed, the contract's code for bad input; the status is HTTP's
  // (431, 408), since node answers before any route.
  const body = problemBody('validation_failed', status, reason, detail, [{ path: '', message: detail }]);
  const head = `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${problem_content_type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  // A HEAD's answer has no content: a client would read the body as the next response's start.
  const head_request = (err as { rawPacket?: Buffer }).rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
  // Written, then the connection destroyed, as node's default answer is.
  socket.write(head_request ? head : head + body);
  socket.destroy();
}

/** A request that names no URL (@hono/node-server's RequestError: no Host, `*`, a backslash): 400 problem+json, where the library answers an empty 400. */
export function requestErrorResponse(err: unknown): Response {
  const detail = `the request names no URL this server can route${err instanceof Error ? ` (${err.message})` : ''}`;
  return problemResponse(new PocketgateError('validation_failed', detail, [{ path: '', message: detail }]));
}

/** 503 `unavailable`, written on node's response, the connection to close after it: a request not run (the server stopping). */
export function writeStopping(res: ServerResponse): void {
  const body = problemBody('unavailable', 503, 'Service unavailable', 'the gateway is stopping: send it again, on a new connection');
  res.writeHead(503, { 'content-type': problem_content_type, 'content-length': Buffer.byteLength(body), connection: 'close', 'retry-after': '1' });
  res.end(body);
}

/** The same answer written on node's response (a request refused before @hono/node-server sees it). */
export function writeRequestError(res: ServerResponse, detail: string): void {
  const body = problemBody('validation_failed', 400, 'Request validation failed', detail, [{ path: '', message: detail }]);
  res.writeHead(400, { 'content-type': problem_content_type, 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
}
