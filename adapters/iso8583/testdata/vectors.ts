// Loads the moov-io conformance vectors and their manifest from testdata/moov-io (a copy of
// /work/shared/iso8583-vectors, so a clean clone without ../shared still runs the tests).

import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const vectorRoot = path.join(path.dirname(fileURLToPath(import.meta.url)), 'moov-io');

export type Expectation =
  | 'valid-roundtrip'
  | 'parses-but-fails-validation'
  | 'expected-load-error'
  | 'alternate-encoding-config';

export interface ManifestEntry {
  file: string;
  bytes: number;
  sha256: string;
  moov_v0_expectation: Expectation;
  decoded_by_pyiso8583_default_ascii?: Record<string, string>;
  pyiso8583_default_ascii_error?: string;
  note?: string;
}

export interface Vector extends ManifestEntry {
  name: string;
  data: Buffer;
}

export function loadManifest(): Vector[] {
  const entries = JSON.parse(readFileSync(path.join(vectorRoot, 'moov-io-iso8583-decoded-manifest.json'), 'utf8')) as ManifestEntry[];
  return entries.map((e) => {
    const rel = e.file.replace(/^moov-io-iso8583\//, '');
    return { ...e, name: path.basename(rel, '.dat'), data: readFileSync(path.join(vectorRoot, rel)) };
  });
}

/** Go native-fuzz corpus files: `go test fuzz v1` then `[]byte("...")` with Go escapes. */
export function loadGoFuzzSeeds(): Buffer[] {
  const dir = path.join(vectorRoot, 'testdata/fuzz/FuzzUnpack');
  return readdirSync(dir).map((name) => {
    const text = readFileSync(path.join(dir, name), 'latin1');
    const m = /\[\]byte\("((?:[^"\\]|\\.)*)"\)/.exec(text);
    if (!m) throw new Error(`unrecognised Go fuzz file ${name}`);
    const body = m[1]!.replace(/\\x([0-9a-fA-F]{2})|\\(.)/g, (_s, hex: string | undefined, ch: string | undefined) =>
      hex ? String.fromCharCode(parseInt(hex, 16)) : ch === 'n' ? '\n' : ch === 't' ? '\t' : ch === 'r' ? '\r' : ch === '0' ? '\0' : (ch ?? ''),
    );
    return Buffer.from(body, 'latin1');
  });
}
