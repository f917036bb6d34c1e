// Every HTTP route is declared once: serve() takes its declaration (method, path, what it does,
// the key it takes, its body, its answer), makes it a route with @hono/zod-openapi's createRoute,
// puts it in the OpenAPI document (OpenAPIHono's registry, /openapi.json) and in the router, and
// checks the key's kind before the handler runs. A route cannot be served without being in the
// document, nor documented with another path, method or key than it has.
//
// What serve() does not take from @hono/zod-openapi are its request validators (those
// OpenAPIHono.openapi adds from the same declaration). Ours run in the handlers, once, as the
// contract wants them: the body bounded, of the route's media type, unencoded, in UTF-8 (400
// validation_failed each), strictly decoded, parsed once and checked by the command's schema (body.ts); path ids
// and queries after the key's kind (404/400 after 403); every refusal a PocketgateError, answered
// problem+json by the app's one error handler. The library's would answer 415 to a body sent
// without Content-Type, take any charset, decode bytes that are not UTF-8 into U+FFFD, throw
// HTTPExceptions, and parse every POS body a second time.

import { createRoute, type OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { z } from 'zod';
import { error_codes } from '../../core/errors.ts';
import type { Business } from '../../processor/network.ts';
import type { TerminalPrincipal } from '../terminal-ops.ts';
import { adminOf, businessOf, platformOf, terminalOf, type HttpEnv } from './env.ts';
import { problem_content_type } from './problem.ts';
import { onceByIdempotencyKey } from './idempotency-key.ts';

/** The key a route takes: `business` is a business's admin or terminal key; `none`, no key. */
export type KeyKind = 'platform' | 'admin' | 'terminal' | 'business' | 'none';

/** What the handler of a route is given for the key it took. */
interface Holders {
  platform: undefined;
  admin: Business;
  terminal: TerminalPrincipal;
  business: Business;
  none: undefined;
}

/** Each kind's check (403 for a key of another kind): the one place a route's key is checked. */
const holders: { readonly [K in KeyKind]: (c: Context<HttpEnv>) => Holders[K] } = {
  platform: platformOf,
  admin: adminOf,
  terminal: terminalOf,
  business: businessOf,
  none: () => undefined,
};

const key_words: Record<KeyKind, string> = { platform: 'platform', admin: 'admin', terminal: 'terminal', business: 'admin or terminal', none: 'none' };

export interface RouteDoc<K extends KeyKind = KeyKind> {
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI's form: `/v1/contacts/{id}`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly key: K;
  /** More than the summary says (after `Key: ...`). */
  readonly description?: string;
  /** The body's schema: JSON unless `body_type` says otherwise. */
  readonly body?: z.ZodType;
  readonly body_type?: string;
  /** The query's schema, where the handler parses the query with it. */
  readonly query?: z.ZodObject;
  /** Request headers the route reads beyond Authorization (Pocketgate-Terminal on the POS calls). */
  readonly headers?: z.ZodObject;
  /** The success status: 201 for a POST, 200 otherwise, unless given. */
  readonly status?: number;
  /** The success's media type, when not JSON (several: a route serving files of several kinds). */
  readonly produces?: string | readonly string[];
  /** The success's JSON body (answers.ts): required of every route that answers JSON. */
  readonly answer?: z.ZodType;
  /** Other answers than the success and the refusals, by status (readyz's 503 has its own body). */
  readonly also?: Readonly<Record<number, { readonly description: string; readonly answer?: z.ZodType }>>;
  /**
   * The WebSocket upgrade: node hands the upgrade itself to the channel (adapters/ws), which
   * checks the key; what reaches the router asked for no upgrade and is told to, whatever its key.
   */
  readonly upgrade?: true;
  /** A POS call under a reference: its repeat answers the first answer again, with Idempotent-Replayed (API.md). */
  readonly replayable?: boolean;
  /** A POST that only reads (a look-up whose body keeps a card number out of the URL): no Idempotency-Key, as a GET. */
  readonly reads_only?: true;
}

/** The header a repeat's answer carries (API.md: "with header `Idempotent-Replayed: true`"). */
const replayed_header = {
  'Idempotent-Replayed': {
    description: '`true` on the answer to a repeat of the same terminal + reference + body: the first answer (its status and body) again, nothing changed. Absent otherwise. A refusal repeated carries it too.',
    schema: { type: 'string' as const, enum: ['true'] },
  },
};

export const problem_schema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.enum(error_codes),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

const problem = (description: string) => ({ description, content: { [problem_content_type]: { schema: problem_schema } } });

function successOf(doc: RouteDoc): RouteConfig['responses'] {
  const status = doc.status ?? (doc.method === 'post' ? 201 : 200);
  if (status === 204) return { [status]: { description: 'Done; no body' } };
  if (status >= 300) return { [status]: { description: 'Moved: see Location' } };
  const produces = doc.produces ?? 'application/json';
  if (typeof produces !== 'string') return { [status]: { description: 'Success', content: Object.fromEntries(produces.map((type) => [type, { schema: z.string() }])) } };
  if (produces !== 'application/json') return { [status]: { description: 'Success', content: { [produces]: { schema: z.string() } } } };
  // A client generated from the document types what it reads by this schema: a JSON answer without one would be typed as anything.
  if (doc.answer === undefined) throw new Error(`${doc.method.toUpperCase()} ${doc.path}: its answer's schema is missing`);
  return { [status]: { description: 'Success', ...(doc.replayable === true ? { headers: replayed_header } : {}), content: { [produces]: { schema: doc.answer } } } };
}

/** Answers besides the success: the refusals (problem+json), a store that cannot serve (every /v1 route), and the route's own. */
function othersOf(doc: RouteDoc): RouteConfig['responses'] {
  const unavailable: RouteConfig['responses'] = doc.path.startsWith('/v1/') ? { 503: problem('Unavailable: a store cannot serve now (code `unavailable`); retry') } : {};
  const own = Object.fromEntries(
    Object.entries(doc.also ?? {}).map(([status, { description, answer }]) => [status, answer === undefined ? { description } : { description, content: { 'application/json': { schema: answer } } }]),
  );
  return { '4XX': problem('Refused: problem+json with a `code`'), ...unavailable, ...own };
}

function responsesOf(doc: RouteDoc): RouteConfig['responses'] {
  if (doc.upgrade) return { 101: { description: 'Switching Protocols: the WebSocket is open' }, ...othersOf(doc) };
  return { ...successOf(doc), ...othersOf(doc) };
}

/** The header an admin or platform write may carry (adapters/http/idempotency-key.ts). */
const idempotency_key_header = z.object({
  'Idempotency-Key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/)
    .optional()
    .openapi({ description: 'Makes this write once: a copy (the same method, path and body) within 24 hours gets the first answer again, with Idempotent-Replayed; another request under the key is 409 idempotency_conflict. Only a success is kept; one holding a key or secret shown once is not (its copy is 409).' }),
});
const keyed_writes: ReadonlySet<string> = new Set(['post', 'put', 'patch', 'delete']);

/** Whether the route takes an Idempotency-Key: an admin or platform write of a JSON body (or none). */
function keyedWrite(doc: RouteDoc): boolean {
  return (doc.key === 'admin' || doc.key === 'platform') && keyed_writes.has(doc.method) && doc.body_type === undefined && doc.reads_only !== true;
}

function headersOf(doc: RouteDoc): z.ZodObject | undefined {
  if (!keyedWrite(doc)) return doc.headers;
  return doc.headers === undefined ? idempotency_key_header : doc.headers.extend(idempotency_key_header.shape);
}

function requestOf(doc: RouteDoc) {
  const params = [...doc.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const headers = headersOf(doc);
  return {
    ...(params.length > 0 ? { params: z.object(Object.fromEntries(params.map((name) => [name, z.string()]))) } : {}),
    ...(doc.query !== undefined ? { query: doc.query } : {}),
    ...(headers !== undefined ? { headers } : {}),
    ...(doc.body !== undefined ? { body: { content: { [doc.body_type ?? 'application/json']: { schema: doc.body } }, required: true } } : {}),
  };
}

/** The route of a declaration, as @hono/zod-openapi's createRoute makes it. */
function declare(doc: RouteDoc) {
  return createRoute({
    method: doc.method,
    path: doc.path,
    summary: doc.summary,
    description: `Key: ${key_words[doc.key]}.${doc.description === undefined ? '' : ` ${doc.description}`}`,
    tags: [doc.tag],
    ...(doc.key === 'none' ? {} : { security: [{ Bearer: [] }] }),
    request: requestOf(doc),
    responses: responsesOf(doc),
  });
}

export type RouteHandler<K extends KeyKind> = (c: Context<HttpEnv>, holder: Holders[K]) => Response | Promise<Response>;

/** Declares the route (the document) and serves it (the router), its key's kind checked first. */
export function serve<K extends KeyKind>(app: OpenAPIHono<HttpEnv>, doc: RouteDoc<K>, handler: RouteHandler<K>): void {
  const route = declare(doc);
  app.openAPIRegistry.registerPath(route);
  const holder = doc.upgrade ? holders.none : holders[doc.key];
  if (keyedWrite(doc)) {
    app.on(doc.method.toUpperCase(), route.getRoutingPath(), (c) => {
      const held = holder(c) as Holders[K];
      return onceByIdempotencyKey(c, () => handler(c, held));
    });
    return;
  }
  app.on(doc.method.toUpperCase(), route.getRoutingPath(), (c) => handler(c, holder(c) as Holders[K]));
}
