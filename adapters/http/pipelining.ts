// HTTP/1.1 requests pipelined on one keep-alive connection, with bounds. Node's server runs every
// request of what it has read at once and keeps each answer in memory until those before it on
// the connection are sent; it stops reading only once answers wait to be sent. So a client that
// writes requests and never reads its answers had one read's worth of them made and held for as
// long as it kept the connection: 1,000 `GET /openapi.json` (40 KiB sent, no key) held some 340 MB
// (test/http-slow-reader.test.ts). Here a request runs only once fewer than answers_unsent_max
// answers on its connection are unsent; the rest wait their turn, at most requests_waiting_max.
//
// And node forgets the answers queued behind the first when the connection closes: no 'close'
// on them, so a stream answer (the live feed, gateway/feed.ts) was never cancelled and kept its
// place among the business's feeds for the life of the process. They are closed here.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Answers one connection may have made (or be making) queued behind the one on its socket. */
export const answers_unsent_max = 16;
/** Requests one connection may have waiting for their turn; one more closes the connection. */
export const requests_waiting_max = 1024;

interface Connection {
  readonly unsent: Set<ServerResponse>;
  readonly waiting: (() => void)[];
  closed: boolean;
}

const connections = new WeakMap<Socket, Connection>();

/**
 * Runs `answer` (which answers `res`) now, or once an earlier answer on the request's connection
 * is sent. Past requests_waiting_max waiting, the connection is closed and `onTooMany` told.
 */
export function answerInTurn(req: IncomingMessage, res: ServerResponse, answer: () => void, onTooMany: () => void): void {
  // The answer at the head of its connection (every request not pipelined) is handed to the
  // socket as it is made: nothing is held for it, and nothing is counted on the hot path. Node
  // gives a socket only to that one (_http_server.js: the others wait in its `outgoing` queue).
  if (res.socket !== null) return answer();
  const socket = req.socket;
  let c = connections.get(socket);
  if (c === undefined) {
    const created: Connection = { unsent: new Set(), waiting: [], closed: false };
    socket.once('close', () => closeAll(created));
    connections.set(socket, created);
    c = created;
  }
  const connection = c;
  const start = (): void => {
    if (connection.closed) return;
    connection.unsent.add(res);
    // 'close' follows 'finish' (the answer handed to the socket) or the connection's end.
    res.once('close', () => {
      connection.unsent.delete(res);
      connection.waiting.shift()?.();
    });
    answer();
  };
  if (connection.unsent.size < answers_unsent_max) return start();
  if (connection.waiting.length >= requests_waiting_max) {
    onTooMany();
    socket.destroy();
    return;
  }
  connection.waiting.push(start);
}

/** The connection closed: what waits never runs, and every answer node left queued is closed. */
function closeAll(connection: Connection): void {
  connection.closed = true;
  connection.waiting.length = 0;
  for (const res of [...connection.unsent]) {
    // One that reached the socket gets its 'close' from node; the ones still queued do not.
    if (res.socket !== null) continue;
    res.destroy();
    res.emit('close');
  }
}

/** The answer node is writing on `socket` (its `_httpMessage`; null once it has finished). */
export function answerInFlight(socket: Duplex): ServerResponse | undefined {
  return (socket as { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
}

/**
 * `then` once the answers on `socket` to the requests before are sent: what is written on the
 * socket meanwhile (a 101, a 400) would land inside them, and a socket given to a new parser while
 * one was still being made left that request and all after it where nothing hands them the socket.
 * Not called if the connection closes first.
 */
export function afterEarlierAnswers(socket: Duplex, then: () => void): void {
  const in_flight = answerInFlight(socket);
  if (in_flight === undefined) return then();
  // 'close' comes a tick after node handed the socket to the next answer queued, if any.
  in_flight.once('close', () => {
    if (!socket.destroyed) afterEarlierAnswers(socket, then);
  });
}
