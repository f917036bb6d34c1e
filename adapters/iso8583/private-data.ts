// DE48 as Pocketgate uses it: `TAG=value;` pairs, e.g. `OTP=123456;`. Tags are letters, digits
// and '_'; values are printable ASCII without ';'. The final ';' may be missing on input
// (peers differ) but is always written.

import { IsoFormatError } from './format-error.ts';

const MAX_DE48 = 999;

function isTagChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/** Pairs in wire order; a repeated tag is a format error (which one would count?). */
export function parseTagData(value: string): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < value.length) {
    let semi = value.indexOf(';', at);
    if (semi < 0) semi = value.length;
    const eq = value.indexOf('=', at);
    if (eq < 0 || eq > semi) throw new IsoFormatError(48, at, 'bad_format', 'expected TAG=value;');
    if (eq === at) throw new IsoFormatError(48, at, 'bad_format', 'empty tag');
    for (let i = at; i < eq; i++) {
      if (!isTagChar(value.charCodeAt(i))) throw new IsoFormatError(48, i, 'bad_charset', 'tags are letters, digits and _');
    }
    const tag = value.slice(at, eq);
    if (out.has(tag)) throw new IsoFormatError(48, at, 'bad_format', `tag ${tag} repeated`);
    out.set(tag, value.slice(eq + 1, semi));
    at = semi + 1;
  }
  return out;
}

export function formatTagData(entries: Iterable<readonly [string, string]> | Readonly<Record<string, string>>): string {
  const list: Iterable<readonly [string, string]> =
    Symbol.iterator in entries ? (entries as Iterable<readonly [string, string]>) : Object.entries(entries);
  let out = '';
  const seen = new Set<string>();
  for (const [tag, value] of list) {
    const at = out.length;
    if (tag.length === 0) throw new IsoFormatError(48, at, 'bad_format', 'empty tag');
    if (seen.has(tag)) throw new IsoFormatError(48, at, 'bad_format', `tag ${tag} repeated`);
    seen.add(tag);
    for (let i = 0; i < tag.length; i++) {
      if (!isTagChar(tag.charCodeAt(i))) throw new IsoFormatError(48, at + i, 'bad_charset', 'tags are letters, digits and _');
    }
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === 59) {
        throw new IsoFormatError(48, at + tag.length + 1 + i, 'bad_charset', 'values are printable ASCII without ;');
      }
    }
    out += `${tag}=${value};`;
  }
  if (out.length > MAX_DE48) throw new IsoFormatError(48, MAX_DE48, 'too_long', `${out.length} characters, DE48 holds ${MAX_DE48}`);
  return out;
}
