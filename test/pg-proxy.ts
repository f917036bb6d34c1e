// A TCP proxy in front of the test PostgreSQL, to make PostgreSQL fail for one gateway without
// touching the shared server: `forward` passes bytes both ways; `refuse` stops listening and cuts
// every connection (a server down); `hang` accepts connections and passes nothing either way, on
// new and open connections alike (a frozen server, packets dropped).

import { connect, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'forward' | 'refuse' | 'hang';

export interface PgProxy {
  /** DATABASE_URL through the proxy. */
  readonly url: string;
  readonly mode: ProxyMode;
  set(mode: ProxyMode): Promise<void>;
  close(): Promise<void>;
}

/** `reply_delay_ms`: what PostgreSQL answers reaches the client this much later (a far server), in order. */
export async function startPgProxy(mode: ProxyMode = 'forward', options: { readonly reply_delay_ms?: number } = {}): Promise<PgProxy> {
  const reply_delay_ms = options.reply_delay_ms ?? 0;
  const target = new URL(process.env.DATABASE_URL!);
  const sockets = new Set<Socket>();
  let current: ProxyMode = mode;
  let server: Server | undefined;
  let port = 0;

  const accept = (client: Socket) => {
    sockets.add(client);
    client.on('error', () => {});
    client.on('close', () => sockets.delete(client));
    if (current === 'hang') return client.pause(); // read nothing, answer nothing
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(upstream);
    upstream.on('error', () => {});
    upstream.on('close', () => sockets.delete(upstream));
    // Bytes pass only while forwarding: once hung, an open connection goes silent too.
    client.on('data', (d) => void (current === 'forward' && upstream.write(d)));
    const reply = (d: Buffer) => void (current === 'forward' && client.write(d));
    // Timers of one duration fire in the order they were set: the replies keep theirs.
    upstream.on('data', (d: Buffer) => (reply_delay_ms > 0 ? setTimeout(reply, reply_delay_ms, d) : reply(d)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };
  const cutAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer(accept);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  const stopListening = () => new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));

  if (mode !== 'refuse') await listen();
  else {
    await listen(); // to learn a port that stays ours
    await stopListening();
    server = undefined;
  }
  const url = new URL(target.toString());
  url.hostname = '127.0.0.1';
  url.port = String(port);

  return {
    url: url.toString(),
    get mode() {
      return current;
    },
    async set(next: ProxyMode) {
      const previous = current;
      current = next;
      // Leaving a hang: what was held is lost, as after a network partition; clients reconnect.
      if (next === 'refuse' || previous === 'hang') cutAll();
      if (next === 'refuse' && server !== undefined) {
        await stopListening();
        server = undefined;
      }
      if (next !== 'refuse' && server === undefined) await listen();
    },
    async close() {
      cutAll();
      await stopListening();
      server = undefined;
    },
  };
}
