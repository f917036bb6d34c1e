// One webhook attempt: POST the event to the endpoint, over a connection to an address checked
// public (address.ts), within a deadline, reading at most a few KiB of the answer.

import http from 'node:http';
import https from 'node:https';
import { ipLiteral, isPublicAddress } from '../../core/public-address.ts';
import { unstorable_char } from '../../core/storable.ts';
import { guardedLookup } from './address.ts';

export interface SendOptions {
  /** The whole attempt: connecting, sending, and the answer's status line and headers. */
  readonly timeout_ms: number;
  readonly allow_private: boolean;
  /** Aborts the attempt (the worker stopping). */
  readonly signal?: AbortSignal;
}

export interface SendResult {
  /** A 2xx answer within the deadline. */
  readonly ok: boolean;
  readonly status_code: number | null;
  readonly error: string | null;
  /** The attempt was aborted by the signal: the receiver's answer was not waited for. */
  readonly aborted: boolean;
}

/** Of an answer's body only this much is read (a failure's text is kept, shortened, as last_error). */
const response_read_max = 4_096;
const error_text_max = 200;

// Connections are kept between attempts (keep-alive): a busy endpoint costs no handshake per event.
// No limit per host here: each endpoint's concurrency is the worker's (p-queue), and a limit per
// host would make endpoints that share one wait for each other.
const agents = {
  'http:': new http.Agent({ keepAlive: true, maxFreeSockets: 32, scheduling: 'lifo' }),
  'https:': new https.Agent({ keepAlive: true, maxFreeSockets: 32, scheduling: 'lifo' }),
};

/** What PostgreSQL text refuses (core/storable.ts, as input refuses it): U+0000 and unpaired surrogates. */
const unstorable_chars = new RegExp(unstorable_char.source, 'g');

/**
 * The first error_text_max characters of `text` as PostgreSQL can hold them (last_error): an
 * endpoint answers any bytes, and a NUL among them, or a cut through a surrogate pair, failed the
 * statement that records a whole batch of attempts, other endpoints' successes with it.
 */
function storable(text: string): string {
  return text.slice(0, error_text_max).replace(unstorable_chars, '\ufffd');
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const text = typeof e.code === 'string' && !String(e.message).includes(e.code) ? `${e.code}: ${String(e.message)}` : String(e.message ?? err);
  return storable(text);
}

function failure(error: string, aborted = false): SendResult {
  return { ok: false, status_code: null, error, aborted };
}

/** POST `body` to `url` with `headers`; resolves with how it went, never rejects. */
export function sendWebhook(url: string, body: string, headers: Readonly<Record<string, string>>, o: SendOptions): Promise<SendResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve(failure('the URL does not parse'));
  }
  const agent = target.protocol === 'https:' ? agents['https:'] : target.protocol === 'http:' ? agents['http:'] : undefined;
  if (agent === undefined) return Promise.resolve(failure(`${target.protocol} is not http or https`));
  // A literal address is connected to without a lookup: checked here instead.
  const literal = ipLiteral(target.hostname);
  if (!o.allow_private && literal !== undefined && !isPublicAddress(literal)) return Promise.resolve(failure(`${literal} is not a public address`));
  if (o.signal?.aborted === true) return Promise.resolve(failure('aborted: the gateway is stopping', true));
  return new Promise((resolve) => {
    let status_code: number | undefined;
    const chunks: Buffer[] = [];
    let read = 0;
    const finish = (error: string | null, aborted = false) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (status_code === undefined) return resolve(failure(error ?? 'no answer', aborted));
      const ok = status_code >= 200 && status_code < 300;
      const text = storable(Buffer.concat(chunks).toString('utf8')).trim();
      resolve({ ok, status_code, error: ok ? null : `HTTP ${status_code}${text === '' ? '' : `: ${text}`}`, aborted });
    };
    const request = (agent === agents['https:'] ? https : http).request(target, {
      method: 'POST',
      agent,
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      ...(o.allow_private ? {} : { lookup: guardedLookup as unknown as http.RequestOptions['lookup'] }),
    });
    let done = false;
    const once = (error: string | null, aborted = false) => {
      if (done) return;
      done = true;
      finish(error, aborted);
      // Whatever is left of the answer is not read: the connection goes rather than be reused.
      if (!request.destroyed && (status_code === undefined || read >= response_read_max || error !== null)) request.destroy();
    };
    const timer = setTimeout(() => once(`no answer within ${o.timeout_ms} ms`), o.timeout_ms);
    const onAbort = () => once('aborted: the gateway is stopping', true);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', (err) => once(describe(err)));
    request.on('response', (res) => {
      status_code = res.statusCode ?? 0;
      res.on('data', (chunk: Buffer) => {
        if (read < response_read_max) chunks.push(chunk);
        read += chunk.length;
        if (read >= response_read_max) once(null);
      });
      res.on('end', () => once(null));
      res.on('error', (err) => once(describe(err)));
      res.on('aborted', () => once('the answer was cut off'));
    });
    request.end(body);
  });
}
