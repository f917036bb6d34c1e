// The OpenAPI document at /openapi.json, generated from the routes' own declarations
// (adapters/http/routes.ts: serve), so it lists every route the gateway serves, with the schemas
// the handlers parse with, and cannot drift from them. /docs shows it.

import type { OpenAPIHono } from '@hono/zod-openapi';
import { swaggerUI } from '@hono/swagger-ui';
import type { HttpEnv } from '../adapters/http/env.ts';
import { serve } from '../adapters/http/routes.ts';

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
  let document: unknown;
  const tag = 'Documentation';
  serve(app, { method: 'get', path: '/openapi.json', summary: 'This document (OpenAPI 3.1)', tag, key: 'none' }, (c) => {
    // Made once, at the first request: every route is declared by then.
    document ??= app.getOpenAPI31Document(about);
    return c.json(document);
  });
  const viewer = swaggerUI<HttpEnv>({ url: '/openapi.json' });
  serve(app, { method: 'get', path: '/docs', summary: 'This document, to read and try (Swagger UI)', tag, key: 'none', produces: 'text/html' }, async (c) => (await viewer(c, async () => {})) ?? c.notFound());
}
