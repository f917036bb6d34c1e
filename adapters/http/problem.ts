// RFC 9457 problem+json: the one shape every HTTP error takes.

import { PocketgateError, type ErrorCode, type FieldError } from '../../core/errors.ts';
import { isStoreUnavailable } from '../../processor/unavailable.ts';

export const problem_content_type = 'application/problem+json';

export function problemBody(code: ErrorCode | string, status: number, title: string, detail: string, errors?: readonly FieldError[]): string {
  return JSON.stringify({
    type: `https://pocketgate.dev/problems/${code}`,
    title,
    status,
    detail,
    code,
    ...(errors === undefined ? {} : { errors }),
  });
}

/** A thrown value as the problem it is: its status and problem+json body (what every channel answers). */
export function problemOf(err: unknown): { status: number; body: string; code: string } {
  if (err instanceof PocketgateError) return { status: err.status, body: problemBody(err.code, err.status, err.title, err.message, err.errors), code: err.code };
  // A store that cannot serve now: the client may retry, so 503 rather than 500.
  if (isStoreUnavailable(err)) return { status: 503, body: problemBody('unavailable', 503, 'Service unavailable', 'a store is unreachable; try again shortly'), code: 'unavailable' };
  return { status: 500, body: problemBody('internal_error', 500, 'Internal error', 'the gateway could not process this request'), code: 'internal_error' };
}

/** The response for any thrown value: PocketgateErrors as themselves, anything else a 500 that says nothing. */
export function problemResponse(err: unknown): Response {
  const { status, body, code } = problemOf(err);
  const after = code === 'rate_limited' ? '60' : code === 'unavailable' && !(err instanceof PocketgateError) ? '1' : undefined;
  const headers: Record<string, string> = { 'content-type': problem_content_type };
  if (err instanceof PocketgateError && err.replayed) headers['idempotent-replayed'] = 'true';
  if (after !== undefined) headers['retry-after'] = after;
  return new Response(body, { status, headers });
}
