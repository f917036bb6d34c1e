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

/** The response for any thrown value: PocketgateErrors as themselves, anything else a 500 that says nothing. */
export function problemResponse(err: unknown): Response {
  if (err instanceof PocketgateError) {
    return new Response(problemBody(err.code, err.status, err.title, err.message, err.errors), {
      status: err.status,
      headers: { 'content-type': problem_content_type, ...(err.code === 'rate_limited' ? { 'retry-after': '60' } : {}) },
    });
  }
  // A store that cannot serve now: the client may retry, so 503 rather than 500.
  if (isStoreUnavailable(err)) {
    return new Response(problemBody('unavailable', 503, 'Service unavailable', 'a store is unreachable; try again shortly'), {
      status: 503,
      headers: { 'content-type': problem_content_type, 'retry-after': '1' },
    });
  }
  return new Response(problemBody('internal_error', 500, 'Internal error', 'the gateway could not process this request'), {
    status: 500,
    headers: { 'content-type': problem_content_type },
  });
}
