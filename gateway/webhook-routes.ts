// Webhooks out, the admin routes (spec/EVENTS.md): endpoints, their deliveries, a retry. A
// business's admin key only; another business's webhook answers 404 as one that does not exist.

import { Hono, type Context } from 'hono';
import { PocketgateError } from '../core/errors.ts';
import { parseWith } from '../core/schemas.ts';
import { deliveriesQuerySchema, webhookCreateSchema, webhookPatchSchema } from '../core/webhooks.ts';
import { readBody } from '../adapters/http/body.ts';
import { adminOf, type HttpEnv } from '../adapters/http/env.ts';
import { checkWebhookUrl } from '../adapters/webhooks/address.ts';
import type { Processor } from '../processor/processor.ts';
import { Webhooks } from '../processor/webhooks.ts';

const id_pattern = /^[A-Za-z0-9_-]{1,64}$/;

/** An id in the path: one no id of ours can be is not looked up (404, as one that does not exist). */
function idParam(c: Context<HttpEnv>, name: string): string {
  const id = c.req.param(name);
  if (id === undefined || !id_pattern.test(id)) throw new PocketgateError('not_found', 'not found');
  return id;
}

export function webhookRoutes(processor: Processor, options: { readonly allow_private: boolean }): Hono<HttpEnv> {
  const app = new Hono<HttpEnv>();
  const webhooks = new Webhooks(processor.stores);

  app.post('/v1/webhooks', async (c) => {
    const business = adminOf(c);
    const input = await readBody(c, webhookCreateSchema);
    await checkWebhookUrl(input.url, options.allow_private);
    return c.json(await webhooks.create(business, input), 201);
  });

  app.get('/v1/webhooks', async (c) => {
    const business = adminOf(c);
    return c.json({ object: 'list', data: await webhooks.list(business) });
  });

  app.get('/v1/webhooks/:id', async (c) => {
    const business = adminOf(c);
    return c.json(await webhooks.get(business, idParam(c, 'id')));
  });

  app.patch('/v1/webhooks/:id', async (c) => {
    const business = adminOf(c);
    const id = idParam(c, 'id');
    const input = await readBody(c, webhookPatchSchema);
    // Another business's id answers 404 before its URL is looked at.
    await webhooks.get(business, id);
    if (input.url !== undefined) await checkWebhookUrl(input.url, options.allow_private);
    return c.json(await webhooks.patch(business, id, input));
  });

  app.delete('/v1/webhooks/:id', async (c) => {
    const business = adminOf(c);
    await webhooks.remove(business, idParam(c, 'id'));
    return c.body(null, 204);
  });

  app.get('/v1/webhooks/:id/deliveries', async (c) => {
    const business = adminOf(c);
    const q = parseWith(deliveriesQuerySchema, c.req.query());
    return c.json(await webhooks.deliveries(business, idParam(c, 'id'), q));
  });

  app.post('/v1/webhooks/:id/deliveries/:event_id/retry', async (c) => {
    const business = adminOf(c);
    // No body is read: the retry takes no options.
    return c.json(await webhooks.retry(business, idParam(c, 'id'), idParam(c, 'event_id')), 202);
  });

  return app;
}
