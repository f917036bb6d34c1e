// The OpenAPI document describes every route the gateway serves: none is added without its doc.

import { expect, it } from 'vitest';
import { call, startTestGateway } from './helpers.ts';

it('lists every route of the app, with its method', async () => {
  const gw = await startTestGateway();
  try {
    const doc = await call(gw, 'GET', '/openapi.json', undefined);
    expect(doc.status).toBe(200);
    const documented = new Set<string>();
    for (const [path, methods] of Object.entries(doc.body.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(methods)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const served = gw.app.routes
      .filter((r) => r.method !== 'ALL' && r.path !== '/openapi.json' && r.path !== '/docs')
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`);
    expect(served.length).toBeGreaterThan(25);
    expect(served.filter((r) => !documented.has(r))).toEqual([]);
  } finally {
    await gw.close();
  }
});
