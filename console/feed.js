// The live feed (GET /v1/feed), one per browser for a key: the dashboard holding the key's Web
// Lock reads it and tells the other dashboards signed in with that key over a BroadcastChannel.
// A browser holds 6 HTTP/1.1 connections per host, and each feed keeps one: six dashboards in
// view (windows side by side, or a headless browser's pages, all "visible") left the seventh
// unable to load the console at all (a console probe, 2026-12-06). Where the browser has no Web
// Locks (a page served over plain HTTP from another host is no secure context), each dashboard
// reads its own, as before.

import { readEvents, retry_ms, session } from './api.js';

/** The live feed, reconnected after a pause whenever it ends, until `signal` aborts; `say` tells its state. */
export async function follow(signal, say, on) {
  while (!signal.aborted) {
    try {
      await readEvents('/v1/feed', signal, (type, data) => {
        say('Live: new transactions appear as they happen.');
        if (type === 'ready') on.ready();
        if (type === 'transaction') on.transaction(JSON.parse(data));
        if (type === 'missed') {
          say(`Live (the feed skipped ${JSON.parse(data).count} transactions while this tab was slow; they are read from the ledger).`);
          on.missed();
        }
      });
      if (!signal.aborted) say('The live feed ended; reconnecting…');
    } catch (err) {
      if (signal.aborted) return;
      say(`The live feed is down (${err.message}); reconnecting…`);
    }
    await new Promise((resolve) => setTimeout(resolve, retry_ms));
  }
}

/**
 * The channel's name for a key: tabs signed in with one key share a feed, and never a tab of
 * another key (two FNV-1a hashes, 64 bits: the key itself is not put in a name).
 */
export function feedName(key) {
  let a = 0x811c9dc5;
  let b = 0x5bd1e995;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return `pocketgate.feed.${(a >>> 0).toString(16).padStart(8, '0')}${(b >>> 0).toString(16).padStart(8, '0')}`;
}

/** `follow`, shared by the dashboards of this key until `signal` aborts (the tab hidden or left). */
export async function followShared(signal, say, on) {
  const locks = globalThis.navigator?.locks;
  if (locks === undefined || typeof BroadcastChannel !== 'function') return follow(signal, say, on);
  const name = feedName(session.key ?? '');
  const channel = new BroadcastChannel(name);
  let leading = false;
  let last = null; // what the feed last said, for a dashboard that joins
  channel.onmessage = ({ data: m }) => {
    if (leading) {
      if (m.hello === true && last !== null) channel.postMessage({ say: last });
      return;
    }
    if (typeof m.say === 'string') say(m.say);
    if (m.transaction !== undefined) on.transaction(m.transaction);
    if (m.reread === true) on.missed();
  };
  signal.addEventListener('abort', () => channel.close());
  channel.postMessage({ hello: true });
  const tell = (m) => {
    if (!signal.aborted) channel.postMessage(m);
  };
  const lead = async () => {
    leading = true;
    // What came while no dashboard held the feed (the one before was closed or hidden), here and
    // in the others, which are told at once, not at the feed's next event.
    on.missed();
    tell({ reread: true });
    try {
      await follow(signal, (text) => {
        last = text;
        say(text);
        tell({ say: text });
      }, {
        transaction: (t) => {
          on.transaction(t);
          tell({ transaction: t });
        },
        ready: () => {
          on.ready();
          tell({ reread: true });
        },
        missed: () => {
          on.missed();
          tell({ reread: true });
        },
      });
    } finally {
      leading = false;
    }
  };
  // Asked for again while the tab is shown: a failure other than leaving (the lock manager's own)
  // would otherwise leave this dashboard with no feed and no leader.
  while (!signal.aborted) {
    try {
      await locks.request(name, { signal }, lead);
    } catch (err) {
      if (signal.aborted) return;
      say(`The live feed is down (${err.message}); reconnecting…`);
    }
    await new Promise((resolve) => setTimeout(resolve, retry_ms));
  }
}
