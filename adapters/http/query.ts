// A query parameter as it was written. Form decoding (URLSearchParams, Hono's c.req.query) reads
// "+" as a space, which HTML forms send for one; a CIM value written by hand in a URL means its
// "+": `?cim_type=phone&cim_value=+44…` was 400 "must be in international form", and
// `cim_value=+plain@x.com` found the contact holding plain@x.com (probes, 2026-12-06). Read here
// with percent-decoding only, so that "+" is "+" and "%20" a space.

/** The first value of `name` in `url`'s query, percent-decoded with "+" kept; undefined when absent or not decodable. */
export function literalQueryParam(url: string, name: string): string | undefined {
  const start = url.indexOf('?');
  if (start < 0) return undefined;
  const end = url.indexOf('#', start);
  for (const pair of url.slice(start + 1, end < 0 ? undefined : end).split('&')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (decoded(key.replaceAll('+', ' ')) !== name) continue;
    return eq < 0 ? '' : decoded(pair.slice(eq + 1));
  }
  return undefined;
}

function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
