// The `Idempotency-Key` header on admin and platform writes (processor/admin-replies.ts): the
// first call under a key runs, a copy (the same method, path and body) gets its answer again
// with `Idempotent-Replayed: true`, another request under the key 409 idempotency_conflict. POS
// calls (a terminal's key, or an admin key acting for a terminal) ignore it: their reference is
// their key. So does a contact import, which streams its body (a repeat's lines are 409 cim_taken
// by their CIMs) and reads and GETs, which change nothing.

import type { MiddlewareHandler } from 'hono';
import { PocketgateError } from '../../core/errors.ts';
import { idempotency_key_pattern, requestHash, type AdminReplies } from '../../processor/admin-replies.ts';
import { list_body_bytes_max, readBytesBefore } from './body.ts';
import type { HttpEnv } from './env.ts';

const writes: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const import_path = '/v1/contacts/import';

export function idempotencyKeys(replies: AdminReplies, onKeepFailed: (err: unknown) => void): MiddlewareHandler<HttpEnv> {
  return async (c, next) => {
    // A terminal's call (the POS path) goes on at once, before any header is read.
    const principal = c.get('principal') as HttpEnv['Variables']['principal'] | undefined;
    if (principal === undefined || principal.kind === 'terminal' || !writes.has(c.req.method)) return next();
    const idempotency_key = c.req.header('idempotency-key');
    if (idempotency_key === undefined || c.req.path === import_path) return next();
    if (!idempotency_key_pattern.test(idempotency_key)) {
      throw new PocketgateError('validation_failed', 'Idempotency-Key must be 1 to 255 printable ASCII characters', [{ path: 'Idempotency-Key', message: 'must be 1 to 255 printable ASCII characters' }]);
    }
    const scope = principal.kind === 'admin' ? principal.business.id : 'platform';
    const hash = requestHash(c.req.method, c.req.path, await readBytesBefore(c, list_body_bytes_max));
    const begun = await replies.begin(scope, idempotency_key, hash);
    if (!begun.run) {
      const headers: Record<string, string> = { 'idempotent-replayed': 'true' };
      if (begun.body !== '') headers['content-type'] = 'application/json';
      return new Response(begun.body === '' ? null : begun.body, { status: begun.status, headers });
    }
    try {
      await next();
    } catch (err) {
      await replies.end(scope, idempotency_key, hash, 500, '').catch(onKeepFailed);
      throw err;
    }
    const status = c.res.status;
    const body = status >= 200 && status < 300 ? await c.res.clone().text() : '';
    // The call is made: its answer goes out whether or not it could be kept (its mark then lapses).
    await replies.end(scope, idempotency_key, hash, status, body).catch(onKeepFailed);
  };
}
