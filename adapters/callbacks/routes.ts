// `POST /v1/callbacks/{processor_id}` (spec/EVENTS.md): no bearer key, the Pocketgate-Signature
// header only, verified over the raw body bytes before anything of the body is parsed. One
// event, or a batch of at most 500, answered one result per event, in order.

import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { PocketgateError } from '../../core/errors.ts';
import { callbackEnvelopeSchema, mayHoldUnstorable, parseJsonSyntax } from '../../core/schemas.ts';
import { parseSignature, signature_header, signatureStale, signatureValid, type ParsedSignature } from '../../core/signature.ts';
import type { Processor } from '../../processor/processor.ts';
import { Processors, type ProcessorRecord } from '../../processor/processors.ts';
import { requireBuilt } from '../../processor/network.ts';
import { decodeUtf8, readBytes, requireMediaType } from '../http/body.ts';
import { id_pattern, type HttpEnv } from '../http/env.ts';
import { serve } from '../http/routes.ts';
import { callback_answer } from '../http/answers.ts';
import { CallbackEvents, type EventReply } from './events.ts';

export const callback_body_bytes_max = 1024 * 1024;
export const callback_batch_max = 500;

function signatureInvalid(): PocketgateError {
  return new PocketgateError('signature_invalid', 'Pocketgate-Signature is missing, malformed, stale or wrong, or the processor is unknown');
}

function notAnEventBody(detail: string, path = ''): PocketgateError {
  return new PocketgateError('validation_failed', detail, [{ path, message: detail }]);
}

/**
 * The Pocketgate-Signature header parsed, else signature_invalid (missing, malformed, stale): what
 * needs no processor, and so no PostgreSQL (the gateway checks it before its PostgreSQL gate too).
 */
export function formedSignature(header: string | undefined, now_ms: number): ParsedSignature {
  const signature = parseSignature(header);
  if (signature === undefined || signatureStale(signature, Math.floor(now_ms / 1000))) throw signatureInvalid();
  return signature;
}

/**
 * The processor the path names and the body it signed. Unknown processor, missing, malformed or
 * stale header: refused before the body is read; the header's form and age before the processor
 * is looked up, so that they are 401 with PostgreSQL down too (an unknown or uncached processor
 * is 503 then: it cannot be told). A signature no cached secret verifies is tried again with the
 * processor read afresh (a secret rotated through another gateway), at most once a second.
 */
async function verified(c: Context, processor: Processor): Promise<{ record: ProcessorRecord; body: Uint8Array }> {
  const id = c.req.param('processor_id');
  // Not an id we make: it names no processor, and is not looked up.
  if (id === undefined || !id_pattern.test(id)) throw signatureInvalid();
  const now_ms = processor.stores.clock.now();
  const signature = formedSignature(c.req.header(signature_header), now_ms);
  const cached = await processor.processors.get(id);
  if (cached === undefined) throw signatureInvalid();
  const body = await readBytes(c, callback_body_bytes_max);
  const valid = (r: ProcessorRecord) => signatureValid(signature, body, Processors.liveSecrets(r, now_ms), Math.floor(now_ms / 1000));
  if (valid(cached)) return { record: cached, body };
  const fresh = await processor.processors.refreshed(id);
  if (fresh !== undefined && valid(fresh)) return { record: fresh, body };
  throw signatureInvalid();
}

/** Events of a batch in flight at once: each waits for PostgreSQL and Redis, not for the CPU. */
const batch_width = 16;

/**
 * `work` over `items` with at most `width` in flight, started in order (CallbackEvents.handle
 * keeps the order of the events of one transaction from that), results in order. A failure (a
 * store down) fails the whole request once the events started have settled: the processor
 * retries it, and what was done replays.
 */
async function inOrder<T, R>(items: readonly T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async () => {
    while (next < items.length && failure === undefined) {
      const i = next++;
      try {
        results[i] = await work(items[i]!);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  if (failure !== undefined) throw failure.err;
  return results;
}

const callback_doc = {
  method: 'post',
  path: '/v1/callbacks/{processor_id}',
  summary: 'Card transactions from a payment processor: one event or {"events": [...]} (at most 500, 1 MiB); authenticated by the Pocketgate-Signature header only',
  tag: 'Payment processors',
  key: 'none',
  headers: z.object({
    [signature_header]: z.string().openapi({
      description: '`t=<unix seconds>,v1=<hex>`: HMAC-SHA256 of `"<t>." + the raw body` under the processor’s signing secret, lower-case hex; several `v1=` during a rotation, one valid is enough; `t` within 300 s (EVENTS.md). Missing, malformed, wrong or stale: 401 `signature_invalid`.',
    }),
  }),
  body: z.union([callbackEnvelopeSchema, z.object({ events: z.array(callbackEnvelopeSchema).max(callback_batch_max) })]),
  status: 200,
  answer: callback_answer,
} as const;

/** `onReply` sees every event's reply (the gateway counts them). */
export function callbackRoutes(processor: Processor, onReply: (reply: EventReply) => void): OpenAPIHono<HttpEnv> {
  const app = new OpenAPIHono<HttpEnv>();
  const events = new CallbackEvents(processor);

  serve(app, callback_doc, async (c) => {
    const { record, body } = await verified(c, processor);
    // The conventions of API.md hold here too (EVENTS.md): a type or charset the rest of the API
    // refuses is refused, once the signature is known good (any type was taken: a probe).
    requireMediaType(c, ['application/json']);
    const business = await processor.network.business(record.business_id);
    if (business === undefined) throw signatureInvalid();
    requireBuilt(business);
    const text = decodeUtf8(body);
    const value = parseJsonSyntax(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw notAnEventBody('the body must be an event or {"events": [...]}');
    // A string no store can hold (U+0000, an unpaired surrogate) is valid JSON: the event holding
    // it is rejected, not the request (its batch's other events are applied).
    const walk = mayHoldUnstorable(text);
    const handle = async (raw: unknown) => {
      const reply = await events.handle(record, business, raw, walk);
      onReply(reply);
      return reply;
    };
    if (!('events' in value)) return c.json(await handle(value));
    const batch = value.events;
    if (!Array.isArray(batch)) throw notAnEventBody('events must be an array of events', 'events');
    if (batch.length > callback_batch_max) throw notAnEventBody(`at most ${callback_batch_max} events in a batch`, 'events');
    return c.json({ results: await inOrder(batch, batch_width, handle) });
  });

  return app;
}
