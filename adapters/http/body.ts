// Request bodies: bounded before they are read, parsed once, validated by the command's schema.

import type { Context } from 'hono';
import type { z } from 'zod';
import { PocketgateError } from '../../core/errors.ts';
import { parseJsonText, parseWith } from '../../core/schemas.ts';

export const body_bytes_max = 64 * 1024;
/**
 * The admin bodies whose schemas allow lists of 10,000 (an offer's SKUs, families and brands, a
 * scheme's imported codes): at 64 KiB an import of the 10,000 codes the schema allows was refused.
 * As a processor's batch of callbacks may be (EVENTS.md).
 */
export const list_body_bytes_max = 1024 * 1024;

function tooLarge(bytes_max: number): PocketgateError {
  // 400, not 413: API.md gives validation_failed, the contract's one code for bad input, the
  // status 400, and names no other; the detail says what happened.
  return new PocketgateError('validation_failed', `request body over ${bytes_max} bytes`, [{ path: '', message: `at most ${bytes_max} bytes` }]);
}

/** Strict: bytes that are not UTF-8 are refused, not replaced by U+FFFD and stored as if sent. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new PocketgateError('validation_failed', 'request body is not valid UTF-8', [{ path: '', message: 'not valid UTF-8' }]);
  }
}

/**
 * The body's bytes as sent, refused (400) past `bytes_max` without reading further.
 *
 * Not hono's bodyLimit, though it answers the same refusal given an onError: under @hono/node-server
 * its first step, `c.req.raw.body`, builds a whole web Request and stream over the socket for
 * every request, and the body is then read through them instead of node-server's direct read:
 * work on every POS call that this check, a header and a count, does not do. And as a route's
 * middleware it would refuse a large body before the handler has looked at the key's kind (403)
 * or a callback's signature header (401, refused before the body is read).
 */
export async function readBytes(c: Context, bytes_max: number): Promise<Uint8Array> {
  const before = read_before.get(c);
  if (before !== undefined) {
    if (before.byteLength > bytes_max) throw tooLarge(bytes_max);
    return before;
  }
  try {
    return await readBounded(c, bytes_max);
  } catch (err) {
    throw bodyCut(err);
  }
}

/** Bodies read before the route's handler ran (an Idempotency-Key's request hash): the handler reads the same bytes. */
const read_before = new WeakMap<Context, Uint8Array>();

/** The body's bytes, read now (at most `bytes_max`) and kept for the route's own read. */
export async function readBytesBefore(c: Context, bytes_max: number): Promise<Uint8Array> {
  const bytes = await readBytes(c, bytes_max);
  read_before.set(c, bytes);
  return bytes;
}

/**
 * A read of the body that failed: the client hung up, or its bytes stopped being HTTP, while the
 * route read them (node's 'aborted'). The client's doing, so a 4xx (nobody is left to read it),
 * not a 500 logged as the gateway's error and counted as one.
 */
function bodyCut(err: unknown): unknown {
  if (err instanceof PocketgateError) return err;
  return new PocketgateError('validation_failed', 'the request body ended before it was whole', [{ path: '', message: 'incomplete body' }]);
}

async function readBounded(c: Context, bytes_max: number): Promise<Uint8Array> {
  const length = c.req.header('content-length');
  if (length !== undefined) {
    if (Number(length) > bytes_max) throw tooLarge(bytes_max);
    return new Uint8Array(await c.req.arrayBuffer());
  }
  // Chunked: count as it arrives and stop reading at the limit.
  const body = c.req.raw.body;
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > bytes_max) {
      await reader.cancel().catch(() => {});
      throw tooLarge(bytes_max);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

async function readText(c: Context, bytes_max = body_bytes_max): Promise<string> {
  return decodeUtf8(await readBytes(c, bytes_max));
}

function unsupported(detail: string): PocketgateError {
  // 400, not 415, as a body too large (tooLarge).
  return new PocketgateError('validation_failed', detail, [{ path: '', message: detail }]);
}

/**
 * The body must be what the route takes: `types` (media types, lower case; a `+json` suffix
 * counts as JSON), in UTF-8, and not encoded (the gateway decodes no Content-Encoding, and would
 * otherwise parse compressed bytes as text). No Content-Type at all is taken as the route's type,
 * and so is text/plain on a JSON route: what fetch and other generic clients send with a string
 * body; and application/x-www-form-urlencoded on any route, what `curl -d` sends unless told
 * otherwise (400 until 2026-12-06: a POS probe). The body must still parse as JSON (NDJSON on an
 * import); a form's `a=1&b=2` is a bad body (400), not a bad type.
 */
export function requireMediaType(c: Context, types: readonly string[]): void {
  const encoding = c.req.header('content-encoding');
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') throw unsupported(`Content-Encoding ${encoding} is not accepted: send the body unencoded`);
  const header = c.req.header('content-type');
  // An empty header is none (a client's template with the value left out: a probe).
  if (header === undefined || header.trim() === '') return;
  const [type = '', ...params] = header.toLowerCase().split(';').map((p) => p.trim());
  const json = types.includes('application/json') && (type.endsWith('+json') || type === 'text/plain');
  const form = type === 'application/x-www-form-urlencoded';
  if (!types.includes(type) && !json && !form) throw unsupported(`Content-Type ${type || '(empty)'} is not accepted here: send ${types[0]}`);
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/"/g, '');
  // US-ASCII is UTF-8's first 128 characters: what it labels reads the same.
  if (charset !== undefined && !utf8_charsets.has(charset)) throw unsupported(`charset ${charset} is not accepted: send UTF-8`);
}

const json_types: readonly string[] = ['application/json'];
const utf8_charsets: ReadonlySet<string> = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii']);

/** A route that takes no body: none, or an empty JSON object (what generic clients send). */
export async function requireNoBody(c: Context): Promise<void> {
  const text = (await readText(c)).trim();
  if (text === '' || text === '{}') return;
  throw new PocketgateError('validation_failed', 'this route takes no body', [{ path: '', message: 'must be empty' }]);
}

export async function readJson(c: Context, bytes_max = body_bytes_max): Promise<unknown> {
  requireMediaType(c, json_types);
  const text = await readText(c, bytes_max);
  if (text.length === 0) throw emptyBody();
  return parseJsonText(text);
}

/** A POST with no body; the terminal channel's frame with none answers the same (TERMINAL.md: "the same body"). */
export function emptyBody(): PocketgateError {
  return new PocketgateError('validation_failed', 'request body must be a JSON object', [{ path: '', message: 'empty body' }]);
}

export async function readBody<S extends z.ZodType>(c: Context, schema: S, bytes_max = body_bytes_max): Promise<z.infer<S>> {
  return parseWith(schema, await readJson(c, bytes_max));
}

/** NDJSON by each name tools send it under (`application/ndjson` refused until 2026-12-04: an API audit). */
const ndjson_types: readonly string[] = ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/json-lines'];

/**
 * Lines of a streamed body (NDJSON), never the whole body in memory, split on bytes and decoded
 * one by one, strictly: a line that is not UTF-8 is yielded as its refusal, so that it fails
 * alone (the lines before and after it are imported as usual). A line longer than
 * `line_bytes_max` bytes is yielded as its refusal too and the rest of it skipped as it arrives.
 */
export async function* bodyLines(c: Context, line_bytes_max: number): AsyncGenerator<string | PocketgateError> {
  requireMediaType(c, ndjson_types);
  const body = c.req.raw.body;
  if (body === null) return;
  let pending: Uint8Array[] = [];
  let pending_bytes = 0;
  let too_long = false;
  const line = (): string | PocketgateError => {
    const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    const out = too_long ? new PocketgateError('validation_failed', `line longer than ${line_bytes_max} bytes`) : decodeLine(bytes);
    pending = [];
    pending_bytes = 0;
    too_long = false;
    return out;
  };
  for await (const chunk of chunksOf(body)) {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); ; nl = chunk.indexOf(10, start)) {
      const end = nl < 0 ? chunk.length : nl;
      if (!too_long) {
        pending_bytes += end - start;
        if (pending_bytes > line_bytes_max) too_long = true;
        else if (end > start) pending.push(chunk.subarray(start, end));
      }
      if (nl < 0) break;
      yield line();
      start = nl + 1;
    }
  }
  if (pending_bytes > 0 || too_long) yield line();
}

/** The body's chunks, a failed read as bodyCut's refusal. */
async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield* body as unknown as AsyncIterable<Uint8Array>;
  } catch (err) {
    throw bodyCut(err);
  }
}

function decodeLine(bytes: Uint8Array): string | PocketgateError {
  try {
    return utf8.decode(bytes);
  } catch {
    return new PocketgateError('validation_failed', 'line is not valid UTF-8');
  }
}
