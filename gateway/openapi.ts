// The OpenAPI document at /openapi.json, generated from the routes' own declarations
// (adapters/http/routes.ts: serve), so it lists every route the gateway serves, with the schemas
// the handlers parse with, and cannot drift from them. /docs shows it.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { swaggerUI } from '@hono/swagger-ui';
import type { HttpEnv } from '../adapters/http/env.ts';
import { serve } from '../adapters/http/routes.ts';
import { openapi_answer, webhook_events } from '../adapters/http/answers.ts';
import { z } from 'zod';

const about = {
  openapi: '3.1.0',
  info: {
    title: 'Pocketgate',
    version: '1',
    description: 'Transaction processor for loyalty, rewards and stored-value wallets at the point of sale. Money is integer minor units.',
  },
};

/** Serves the document and its viewer; call it once every other route is served. */
export function documentApi(app: OpenAPIHono<HttpEnv>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'Bearer', { type: 'http', scheme: 'bearer' });
  describeWebhooks(app);
  let document: unknown;
  const tag = 'Documentation';
  serve(app, { method: 'get', path: '/openapi.json', summary: 'This document (OpenAPI 3.1)', tag, key: 'none', answer: openapi_answer }, (c) => {
    // Made once, at the first request: every route is declared by then.
    document ??= app.getOpenAPI31Document(about);
    return c.json(document);
  });
  // The viewer's script and style come from this gateway, not from a CDN: many shops' networks,
  // and these machines, reach no CDN. @hono/swagger-ui names them <baseUrl>/swagger-ui-dist/<file>.
  const viewer = swaggerUI<HttpEnv>({ url: '/openapi.json', baseUrl: '/docs' });
  serve(app, { method: 'get', path: '/docs', summary: 'This document, to read and try (Swagger UI)', tag, key: 'none', produces: 'text/html' }, async (c) => (await viewer(c, async () => {})) ?? c.notFound());
  serve(app, { method: 'get', path: '/docs/', summary: 'The viewer with a trailing slash: 301 to /docs', tag, key: 'none', status: 301 }, (c) => c.redirect('/docs', 301));
  for (const [file, type] of viewer_assets) {
    let body: Uint8Array<ArrayBuffer> | undefined;
    serve(app, { method: 'get', path: `/docs/swagger-ui-dist/${file}`, summary: `Swagger UI's ${file}`, tag, key: 'none', produces: type }, (c) => {
      body ??= new Uint8Array(readFileSync(join(swagger_ui_dist, file))); // read at the first request, then kept
      return c.body(body, 200, { 'content-type': type, 'cache-control': 'public, max-age=86400' });
    });
  }
}

/** The events a business's webhook endpoints receive (EVENTS.md), in the document's `webhooks`. */
function describeWebhooks(app: OpenAPIHono<HttpEnv>): void {
  const headers = z.object({
    'pocketgate-signature': z.string().openapi({ description: 't=<unix seconds>,v1=<hex>[,v1=<hex>]: HMAC-SHA256 with the endpoint’s signing secret over `<t>.` + the raw body; for 24 hours after POST /v1/webhooks/{id}/rotate-secret a second v1 by the secret it replaced (one valid is enough)' }),
    'pocketgate-event-id': z.string().openapi({ description: 'The event’s id, as in the body' }),
  });
  for (const [type, { summary, body }] of Object.entries(webhook_events)) {
    app.openAPIRegistry.registerWebhook({
      method: 'post',
      path: type,
      summary,
      tags: ['Webhooks'],
      request: { headers, body: { content: { 'application/json': { schema: body } }, required: true } },
      responses: { '2XX': { description: 'Received (within 10 s); anything else is retried, 8 attempts in all' } },
    });
  }
}

/** The files of swagger-ui-dist the viewer's page loads, with their media types. */
const viewer_assets: readonly (readonly [string, string])[] = [
  ['swagger-ui.css', 'text/css; charset=utf-8'],
  ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
];

const swagger_ui_dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
