// The `Idempotency-Key` header on admin and platform writes (processor/admin-replies.ts): the
// first call under a key runs, a copy (the same method, path and body) gets its answer again
// with `Idempotent-Replayed: true`, another request under the key 409 idempotency_conflict.
// Wrapped around the handlers of those routes only (routes.ts serve), after their key's kind is
// checked: POS calls (a terminal's key, or an admin key acting for a terminal) never pass here,
// their reference is their key; nor does a contact import, which streams its body (a repeat's
// lines are 409 cim_taken by their CIMs), nor a read.

import type { Context } from 'hono';
import { PocketgateError } from '../../core/errors.ts';
import { idempotency_key_pattern, writeHash } from '../../processor/admin-replies.ts';
import { list_body_bytes_max, readBytesBefore } from './body.ts';
import type { HttpEnv } from './env.ts';

/** `run` once under the request's Idempotency-Key, if it has one and the app keeps answers (admin_replies). */
export async function onceByIdempotencyKey(c: Context<HttpEnv>, run: () => Response | Promise<Response>): Promise<Response> {
  const idempotency_key = c.req.header('idempotency-key');
  const replies = c.get('admin_replies');
  if (idempotency_key === undefined || replies === undefined) return run();
  if (!idempotency_key_pattern.test(idempotency_key)) {
    throw new PocketgateError('validation_failed', 'Idempotency-Key must be 1 to 255 printable ASCII characters', [{ path: 'Idempotency-Key', message: 'must be 1 to 255 printable ASCII characters' }]);
  }
  const principal = c.get('principal');
  const scope = principal.kind === 'admin' ? principal.business.id : 'platform';
  const hash = writeHash(c.req.method, c.req.path, await readBytesBefore(c, list_body_bytes_max));
  const begun = await replies.begin(scope, idempotency_key, hash);
  if (!begun.run) {
    const headers: Record<string, string> = { 'idempotent-replayed': 'true' };
    if (begun.body !== '') headers['content-type'] = 'application/json';
    return new Response(begun.body === '' ? null : begun.body, { status: begun.status, headers });
  }
  let res: Response;
  try {
    res = await run();
  } catch (err) {
    // Refused or failed: nothing kept, the mark taken off (the corrected request may use the key).
    await replies.end(scope, idempotency_key, hash, 500, '');
    throw err;
  }
  const body = res.status >= 200 && res.status < 300 ? await res.clone().text() : '';
  await replies.end(scope, idempotency_key, hash, res.status, body);
  return res;
}
