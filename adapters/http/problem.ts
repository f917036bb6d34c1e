// RFC 9457 problem+json: the one shape every HTTP error takes.

import { PocketgateError, type ErrorCode, type FieldError } from '../../core/errors.ts';

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
  if (isStoreDown(err)) {
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

/** Redis or PostgreSQL unreachable: the client may retry, so 503 rather than 500. */
export function isStoreDown(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: string }).code;
  return (
    err.name === 'ClientClosedError' ||
    err.name === 'ClientOfflineError' ||
    err.name === 'ConnectionTimeoutError' ||
    err.name === 'SocketClosedUnexpectedlyError' ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'CONNECT_TIMEOUT' ||
    code === 'CONNECTION_CLOSED' ||
    code === 'CONNECTION_ENDED' ||
    code === 'CONNECTION_DESTROYED' ||
    code === '57P01' ||
    err.message.includes('The client is closed') ||
    err.message.includes('client is offline')
  );
}
