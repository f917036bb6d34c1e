// The physical ceiling on this machine: an empty Hono JSON route, served exactly as the gateway
// is (Hono on @hono/node-server, started with node --import tsx).

import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.post('/empty', (c) => c.json({ ok: true }));
app.get('/empty', (c) => c.json({ ok: true }));

const port = Number(process.env.PORT ?? 18081);
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`listening ${info.port}\n`);
});
