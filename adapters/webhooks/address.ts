// Where a webhook may be sent: public addresses only (core/public-address.ts), unless the gateway
// runs with WEBHOOKS_ALLOW_PRIVATE=1. Checked when a URL is given (creation, PATCH) and again at
// every delivery, on the addresses the name resolves to then (a name can be made to resolve to a
// private address after it was checked: DNS rebinding), and the connection goes to the very
// address checked (guardedLookup is the socket's own lookup), never to a second resolution.

import { lookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns';
import { PocketgateError } from '../../core/errors.ts';
import { ipLiteral, isLocalhostName, isPublicAddress } from '../../core/public-address.ts';

/** How long creation waits for DNS: an answer later than this is checked at delivery instead. */
const creation_lookup_timeout_ms = 2_000;

export class AddressRefused extends Error {
  readonly code = 'EADDRNOTPUBLIC';
}

function refusedAddress(host: string, address: string): AddressRefused {
  return new AddressRefused(host === address ? `${address} is not a public address` : `${host} resolves to ${address}, not a public address`);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request: resolves the name, refuses it if any address it has is not public
 * (a name with one private address among public ones is refused whole: which one a client gets
 * is not ours to choose), and hands the socket exactly the addresses it checked.
 */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  const all: LookupAllOptions = { all: true, family: options.family ?? 0, ...(options.hints === undefined ? {} : { hints: options.hints }) };
  lookup(hostname, all, (err, addresses) => {
    if (err) return callback(err, []);
    const bad = addresses.find((a) => !isPublicAddress(a.address));
    if (bad !== undefined) return callback(refusedAddress(hostname, bad.address), []);
    if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
    if (options.all === true) return callback(null, addresses);
    callback(null, addresses[0]!.address, addresses[0]!.family);
  });
}

function refusal(message: string): PocketgateError {
  return new PocketgateError('validation_failed', `url: ${message}`, [{ path: 'url', message }]);
}

/**
 * A webhook URL given at creation or in a PATCH: refused (400 validation_failed) when its host is
 * an IP literal that is not public, or a name that resolves to one. A name that does not resolve
 * now (or not within 2 s) is taken: it is checked again at every delivery, which fails until it
 * resolves to a public address.
 */
export async function checkWebhookUrl(url: string, allow_private: boolean): Promise<void> {
  if (allow_private) return;
  const host = new URL(url).hostname;
  const literal = ipLiteral(host);
  if (literal !== undefined) {
    if (!isPublicAddress(literal)) throw refusal(`${literal} is not a public address (loopback, private, link-local and reserved ranges are refused)`);
    return;
  }
  if (isLocalhostName(host)) throw refusal(`${host} is loopback (loopback, private, link-local and reserved ranges are refused)`);
  const addresses = await resolveWithin(host, creation_lookup_timeout_ms);
  const bad = addresses.find((a) => !isPublicAddress(a.address));
  if (bad !== undefined) throw refusal(`${host} resolves to ${bad.address}, not a public address (loopback, private, link-local and reserved ranges are refused)`);
}

/** The name's addresses, or none when it does not resolve within `timeout_ms`. */
function resolveWithin(host: string, timeout_ms: number): Promise<LookupAddress[]> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve([]), timeout_ms);
    lookup(host, { all: true }, (err, addresses) => {
      clearTimeout(timer);
      resolve(err ? [] : addresses);
    });
  });
}
