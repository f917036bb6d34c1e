// A query parameter as it was written. Form decoding (URLSearchParams, Hono's c.req.query) reads
// "+" as a space, which HTML forms and every client's form encoder send for one (a real "+" as
// %2B); a CIM value written by hand in a URL means its "+": `?cim_type=phone&cim_value=+44…` was
// 400 "must be in international form", and `cim_value=+plain@x.com` found the contact holding
// plain@x.com (probes, 2026-12-06). So a "+" is read by what the CIM type can hold (walletCimValue).

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

/**
 * GET /v1/wallets' `cim_value` (`decoded`: as form decoding read it): an email's "+" is a "+" (an
 * email holds no space); a phone's is one where a country code's goes (first, or after "("), a
 * space elsewhere ("%2B44+20+7946", a form encoder's "+44 20 7946"); any other type's, a space
 * as form decoding has it (a card "4111+1111…", a loyalty id "GOLD+123" from a form encoder: a
 * review found them read as written).
 */
export function walletCimValue(url: string, cim_type: string, decoded: string): string {
  if (cim_type !== 'email' && cim_type !== 'phone') return decoded;
  const literal = literalQueryParam(url, 'cim_value');
  if (literal === undefined) return decoded;
  if (cim_type === 'email') return literal;
  return literal.replace(/\+/g, (plus, at: number) => (/^\s*\(?\s*$/.test(literal.slice(0, at)) ? plus : ' '));
}
