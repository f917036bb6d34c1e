// A store made unreachable on purpose: a TCP proxy between a gateway and Redis or PostgreSQL that
// a test cuts (every connection through it closed, the port refusing) and opens again on the same
// port, as a network partition or a stopped server looks to the gateway.

import { connect, createServer, type Server, type Socket } from 'node:net';

/** A TCP proxy to `target` that the test can cut (store unreachable) and open again on the same port. */
export class StoreCut {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Answers from the store are dropped (mute()) until the next cut. */
  private muted = false;
  /** Muted from the first request that contains this text on (mute()). */
  private mute_from: string | undefined;
  port = 0;
  constructor(private readonly target: URL) {}
  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(Number(this.target.port), this.target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => this.sockets.delete(s));
      }
      client.on('data', (d: Buffer) => void (this.mute_from !== undefined && d.includes(this.mute_from) && (this.muted = true)));
      client.pipe(upstream);
      upstream.on('data', (d: Buffer) => void (this.muted || client.write(d)));
      upstream.on('end', () => client.end());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
  }
  /**
   * Until the next cut, what the store answers never reaches the gateway, from the first request
   * that contains `from` on: the commands sent meanwhile run, their answers are lost (as when the
   * connection dies under a reply).
   */
  mute(from: string): void {
    this.mute_from = from;
  }
  async cut(): Promise<void> {
    this.muted = false;
    this.mute_from = undefined;
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }
  url(): string {
    const u = new URL(this.target.toString());
    u.port = String(this.port);
    return u.toString();
  }
}
