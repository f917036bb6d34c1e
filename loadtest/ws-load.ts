// Load on the WebSocket terminal channel (spec/TERMINAL.md): `connections` sockets authenticated
// by a terminal key, each keeping `in_flight` requests outstanding (a reply sends the next) for
// `seconds`; then what is still in flight is awaited. Unlike test/ws-client.ts it keeps nothing
// of a reply but its latency. Any reply but a 2xx, a socket closed or a reply missing fails the run.

import { WebSocket } from 'ws';
import { latencyQuantiles } from './measure.ts';
import type { LoadResult } from './side-by-side.ts';

export interface WsLoadOptions {
  /** ws://host:port/v1/terminal */
  readonly url: string;
  readonly key: string;
  readonly op: string;
  readonly connections: number;
  readonly in_flight: number;
  readonly seconds: number;
  /** The next request's body, JSON. */
  readonly body: () => string;
}

/** How long the requests in flight at the end may take to come back, and a socket to open. */
const drain_timeout_ms = 30_000;
const open_timeout_ms = 10_000;

/** The id and status of a reply frame: the gateway writes them first (adapters/ws/frames.ts replyFrame); JSON.parse otherwise. */
function replyHead(text: string): { id: string | null; status: number } {
  const m = /^\{"id":"([0-9]+)","status":([0-9]{3})[,}]/.exec(text);
  if (m !== null) return { id: m[1]!, status: Number(m[2]) };
  const r = JSON.parse(text) as { id?: unknown; status?: unknown };
  return { id: typeof r.id === 'string' ? r.id : null, status: Number(r.status) };
}

function open(o: WsLoadOptions): Promise<WebSocket> {
  const ws = new WebSocket(o.url, { headers: { authorization: `Bearer ${o.key}` }, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (ws.terminate(), reject(new Error(`no WebSocket open within ${open_timeout_ms} ms`))), open_timeout_ms);
    ws.once('open', () => (clearTimeout(timer), resolve(ws)));
    ws.once('unexpected-response', (_req, res) => (clearTimeout(timer), reject(new Error(`upgrade refused: ${res.statusCode}`))));
    ws.once('error', (err) => (clearTimeout(timer), reject(err)));
  });
}

interface Tally {
  readonly end: number;
  /** Latencies of the replies that came within the window. */
  readonly latencies: number[];
  answered: number;
}

/** One socket's share: `in_flight` outstanding until the window ends, then every reply awaited. */
function drive(ws: WebSocket, o: WsLoadOptions, tally: Tally): Promise<void> {
  const sent = new Map<string, number>();
  let seq = 0;
  const next = () => {
    const id = String(++seq);
    sent.set(id, performance.now());
    ws.send(`{"id":"${id}","op":"${o.op}","body":${o.body()}}`);
  };
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${sent.size} requests unanswered ${drain_timeout_ms / 1000} s after the run`)), tally.end - performance.now() + drain_timeout_ms);
    const fail = (err: Error) => (clearTimeout(timer), ws.terminate(), reject(err));
    ws.on('message', (data) => {
      const now = performance.now();
      const text = String(data);
      const { id, status } = replyHead(text);
      const t0 = id === null ? undefined : sent.get(id);
      if (t0 === undefined || status < 200 || status >= 300) return fail(new Error(`WebSocket reply ${status} to ${id ?? 'no id'}: ${text.slice(0, 500)}`));
      sent.delete(id!);
      tally.answered++;
      if (now <= tally.end) tally.latencies.push(now - t0);
      if (now < tally.end) next();
      else if (sent.size === 0) (clearTimeout(timer), resolve());
    });
    ws.on('close', (code) => sent.size > 0 && fail(new Error(`WebSocket closed (${code}) with ${sent.size} requests in flight`)));
    ws.on('error', fail);
    for (let i = 0; i < o.in_flight; i++) next();
  });
}

export async function runWsLoad(o: WsLoadOptions): Promise<LoadResult> {
  const opened = await Promise.allSettled(Array.from({ length: o.connections }, () => open(o)));
  const sockets = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const refused = opened.find((r) => r.status === 'rejected');
  if (refused !== undefined) {
    await Promise.all(sockets.map((ws) => closed(ws)));
    throw refused.reason;
  }
  const start = performance.now();
  const tally: Tally = { end: start + o.seconds * 1000, latencies: [], answered: 0 };
  try {
    await Promise.all(sockets.map((ws) => drive(ws, o, tally)));
  } finally {
    await Promise.all(sockets.map((ws) => closed(ws)));
  }
  const { p50, p99 } = latencyQuantiles(tally.latencies);
  const rate = tally.latencies.length / o.seconds;
  return { items_per_s: rate, requests_per_s: rate, p50_ms: p50, p99_ms: p99, items: tally.answered, unanswered_max: 0 };
}

/** Closed politely (1000), or cut after a second. */
function closed(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    setTimeout(() => ws.terminate(), 1_000).unref();
  });
}
