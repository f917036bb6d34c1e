// Webhooks out, the admin routes (spec/EVENTS.md): endpoints, their deliveries, a retry. A
// business's admin key only; another business's webhook answers 404 as one that does not exist.

import { OpenAPIHono } from '@hono/zod-openapi';
import { pageOfList, parseWith, wholeListQuerySchema } from '../core/schemas.ts';
import { deliveriesQuerySchema, webhookCreateSchema, webhookPatchSchema } from '../core/webhooks.ts';
import { readBody, requireNoBody } from '../adapters/http/body.ts';
import { idParam, type HttpEnv } from '../adapters/http/env.ts';
import { serve } from '../adapters/http/routes.ts';
import * as answers from '../adapters/http/answers.ts';
import { checkWebhookUrl } from '../adapters/webhooks/address.ts';
import type { Processor } from '../processor/processor.ts';
import { Webhooks } from '../processor/webhooks.ts';

const tag = 'Webhooks';

export function webhookRoutes(processor: Processor, options: { readonly allow_private: boolean }): OpenAPIHono<HttpEnv> {
  const app = new OpenAPIHono<HttpEnv>();
  const webhooks = new Webhooks(processor.stores);

  const create = { method: 'post', path: '/v1/webhooks', summary: 'Create a webhook endpoint (returns its signing secret once)', tag, key: 'admin', body: webhookCreateSchema, answer: answers.webhook_created } as const;
  serve(app, create, async (c, business) => {
    const input = await readBody(c, webhookCreateSchema);
    await checkWebhookUrl(input.url, options.allow_private);
    return c.json(await webhooks.create(business, input), 201);
  });

  serve(app, { method: 'get', path: '/v1/webhooks', summary: 'List webhook endpoints (query limit 1..1000, starting_after; all without limit)', tag, key: 'admin', query: wholeListQuerySchema, answer: answers.webhook_list }, async (c, business) => {
    const query = parseWith(wholeListQuerySchema, c.req.query());
    return c.json(pageOfList(await webhooks.list(business), query, 'webhook'));
  });

  serve(app, { method: 'get', path: '/v1/webhooks/{id}', summary: 'Read a webhook endpoint', tag, key: 'admin', answer: answers.webhook_answer }, async (c, business) =>
    c.json(await webhooks.get(business, idParam(c, 'id'))),
  );

  const patch = { method: 'patch', path: '/v1/webhooks/{id}', summary: 'Change a webhook endpoint (url, events, status)', tag, key: 'admin', body: webhookPatchSchema, answer: answers.webhook_answer } as const;
  serve(app, patch, async (c, business) => {
    const id = idParam(c, 'id');
    const input = await readBody(c, webhookPatchSchema);
    // Another business's id answers 404 before its URL is looked at.
    await webhooks.get(business, id);
    if (input.url !== undefined) await checkWebhookUrl(input.url, options.allow_private);
    return c.json(await webhooks.patch(business, id, input));
  });

  const remove = { method: 'delete', path: '/v1/webhooks/{id}', summary: 'Delete a webhook endpoint (its pending deliveries are not sent)', tag, key: 'admin', status: 204 } as const;
  serve(app, remove, async (c, business) => {
    await webhooks.remove(business, idParam(c, 'id'));
    return c.body(null, 204);
  });

  const deliveries = { method: 'get', path: '/v1/webhooks/{id}/deliveries', summary: 'Deliveries, newest first', tag, key: 'admin', query: deliveriesQuerySchema, answer: answers.delivery_page } as const;
  serve(app, deliveries, async (c, business) => {
    const q = parseWith(deliveriesQuerySchema, c.req.query());
    return c.json(await webhooks.deliveries(business, idParam(c, 'id'), q));
  });

  const rotate = { method: 'post', path: '/v1/webhooks/{id}/rotate-secret', summary: 'A new signing secret (returned once); the old one signs beside it (a second v1) for 24 hours more', tag, key: 'admin', answer: answers.signing_secret } as const;
  serve(app, rotate, async (c, business) => {
    await requireNoBody(c);
    return c.json(await webhooks.rotate(business, idParam(c, 'id')), 201);
  });

  const retry = { method: 'post', path: '/v1/webhooks/{id}/deliveries/{event_id}/retry', summary: 'One more attempt of a delivery now, whatever its status', tag, key: 'admin', status: 202, answer: answers.delivery_answer } as const;
  serve(app, retry, async (c, business) =>
    // No body is read: the retry takes no options.
    c.json(await webhooks.retry(business, idParam(c, 'id'), idParam(c, 'event_id')), 202),
  );

  return app;
}
