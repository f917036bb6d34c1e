// The console's one way to the gateway: same origin, the admin key from this tab's session
// storage in the Authorization header (never in a URL), replies kept as the API gave them.

const key_item = 'pocketgate.admin_key';

export const session = {
  get key() {
    return sessionStorage.getItem(key_item);
  },
  set key(value) {
    sessionStorage.setItem(key_item, value);
  },
  clear() {
    sessionStorage.removeItem(key_item);
  },
};

/** Called when the gateway refuses the key (401): the console signs out. */
let on_unauthorized = () => {};
export function onUnauthorized(handler) {
  on_unauthorized = handler;
}

/** {status, ok, body, text}: body is the parsed JSON (a problem+json on errors), or the text. */
export async function api(method, path, body, headers = {}, key = session.key) {
  const res = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Not JSON: kept as text.
  }
  if (res.status === 401 && key === session.key) on_unauthorized();
  return { status: res.status, ok: res.ok, body: parsed, text, replayed: res.headers.get('idempotent-replayed') === 'true' };
}

/** The reply's body, or an Error carrying the problem's detail. */
export async function apiJson(method, path, body) {
  const r = await api(method, path, body);
  if (!r.ok) throw new Error(r.body?.detail ? `${r.body.detail} (${r.status} ${r.body.code})` : `HTTP ${r.status}`);
  return r.body;
}

/**
 * Every item of one of the paged lists (`GET /v1/terminals`, `/v1/venues`, `/v1/merchants`), a
 * page of 1000 at a time while `has_more`: one page is not all of a large business's network,
 * and a terminal or merchant past it could not be chosen.
 */
export async function apiListAll(path) {
  const items = [];
  for (let after; ; ) {
    const page = await apiJson('GET', `${path}?limit=1000${after === undefined ? '' : `&starting_after=${encodeURIComponent(after)}`}`);
    items.push(...page.data);
    if (!page.has_more || page.data.length === 0) return items;
    after = page.data.at(-1).id;
  }
}

/**
 * Reads a text/event-stream with fetch (an EventSource cannot send the Authorization header) and
 * calls onEvent(type, data) per event until the signal aborts or the stream ends.
 */
export async function readEvents(path, signal, onEvent) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${session.key}`, accept: 'text/event-stream' }, signal });
  if (!res.ok || res.body === null) throw new Error(`feed: HTTP ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) type = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) onEvent(type, data.join('\n'));
    }
  }
}

/** How long a page waits before it reads again what it could not (PostgreSQL down, say). */
export const retry_ms = 3_000;

/**
 * `read()` (it shows what it read), tried again every retry_ms while it fails, until the page is
 * left (`anchor` no longer in the document); `failed(err)` is told each failure. A list that could
 * not be read stayed on its error, or silently empty, until the page was opened again (black-box
 * probes of the console, 2026-12-05). Answers when the first try is over.
 */
export function readWhileShown(anchor, read, failed) {
  return read().catch((err) => {
    if (!anchor.isConnected) return;
    failed(err);
    setTimeout(() => anchor.isConnected && readWhileShown(anchor, read, failed), retry_ms);
  });
}
