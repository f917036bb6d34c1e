import type { Principal } from '../../processor/network.ts';
import { PocketgateError } from '../../core/errors.ts';
import type { Business, Terminal } from '../../processor/network.ts';
import type { Context } from 'hono';

/** What the gateway's auth middleware leaves on every /v1 request. */
export interface HttpEnv {
  Variables: { principal: Principal };
}

export function terminalOf(c: Context<HttpEnv>): { business: Business; terminal: Terminal } {
  const p = c.get('principal');
  if (p.kind !== 'terminal') throw new PocketgateError('forbidden', 'this call needs a terminal key');
  return p;
}

export function adminOf(c: Context<HttpEnv>): Business {
  const p = c.get('principal');
  if (p.kind !== 'admin') throw new PocketgateError('forbidden', 'this call needs a business admin key');
  return p.business;
}

/** Terminal or admin key: reads a business's own data. */
export function businessOf(c: Context<HttpEnv>): Business {
  const p = c.get('principal');
  if (p.kind === 'platform') throw new PocketgateError('forbidden', 'this call needs a business key');
  return p.business;
}
