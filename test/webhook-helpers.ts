// Shared by the webhook tests: a real HTTP receiver on loopback that records what it is sent and
// answers as told (a status, or never), signature checks, and a gateway child process to kill.

import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseSignature, signatureValid } from '../core/signature.ts';
import { killWriter, spawnLogged, type LoggedProcess } from './ledger-helpers.ts';

export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly json: any;
  readonly at: number;
}

/** What the receiver answers to the n-th request (0-based): a status, or 'hang' (never answers). */
export type Behaviour = (n: number, body: any) => number | 'hang';

export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly received: Received[];
  behaviour: Behaviour;
  /** Called as each request arrives, before it is answered (tests look at the ledger then). */
  onRequest?: (r: Received) => Promise<void>;
  close(): Promise<void>;
}

const body_bytes_max = 1 << 20;

export async function startReceiver(behaviour: Behaviour = () => 200): Promise<Receiver> {
  const received: Received[] = [];
  const receiver: Receiver = {
    url: '',
    port: 0,
    received,
    behaviour,
    close: async () => {},
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > body_bytes_max) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const r: Received = { headers: req.headers, body, json, at: Date.now() };
      const n = received.length;
      received.push(r);
      void (receiver.onRequest?.(r) ?? Promise.resolve())
        .catch(() => {})
        .then(() => {
          const answer = receiver.behaviour(n, json);
          if (answer === 'hang') return;
          res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer >= 300 ? 'receiver says no' : 'ok');
        });
    });
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** Whether the request's Pocketgate-Signature verifies under `secret`, now. */
export function signatureVerifies(r: Received, secret: string): boolean {
  const parsed = parseSignature(r.headers['pocketgate-signature'] as string | undefined);
  return parsed !== undefined && signatureValid(parsed, Buffer.from(r.body, 'utf8'), [secret], Math.floor(Date.now() / 1_000));
}

/** Events received, by type. */
export function ofType(received: readonly Received[], type: string): Received[] {
  return received.filter((r) => r.json?.type === type);
}

export interface GatewayProcess extends LoggedProcess {
  /** The HTTP port, once it listens. */
  readonly port: Promise<number>;
}

/** `node --import tsx gateway/main.ts` as `npm start` runs it, on the given stores. */
export function spawnGateway(env: Record<string, string>): GatewayProcess {
  const g = spawnLogged('gateway/main.ts', { PORT: '0', ISO8583_PORT: '0', HOST: '127.0.0.1', ...env }, (j) =>
    j.msg === 'gateway listening' && typeof j.port === 'number' ? String(j.port) : undefined,
  );
  return { ...g, port: g.ready.then(Number) };
}

/** Kill a gateway we spawned (by its own pid) and wait until it is gone. */
export async function killGateway(g: GatewayProcess, signal: NodeJS.Signals): Promise<void> {
  await killWriter(g, signal);
}
