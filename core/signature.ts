// `Pocketgate-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]` (spec/EVENTS.md, both
// directions): HMAC-SHA256 keyed with the signing secret's UTF-8 bytes (`whsec_` included) over
// `"<t>." + raw body bytes`, lower-case hex. Several v1 may come during a rotation; one valid is
// enough. Pure: no clock of its own, the caller says what time it is.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const signature_header = 'pocketgate-signature';
/** How far `t` may be from the receiver's clock, either way (the replay window). */
export const signature_tolerance_s = 300;
/** How long a replaced signing secret goes on working after a rotation, in both directions (EVENTS.md: 24 hours). */
export const secret_rotation_grace_ms = 24 * 3_600_000;

const secret_prefix = 'whsec_';
/** A header is at most this long, and holds at most this many v1 values: bounds the HMAC work a request can cause. */
const header_length_max = 2_048;
const v1_count_max = 16;
const digest_hex = /^[0-9a-f]{64}$/;
const unix_seconds = /^[0-9]{1,12}$/;

export interface ParsedSignature {
  readonly t: number;
  /** The v1 digests, 32 bytes each. */
  readonly v1: readonly Buffer[];
}

/** 32 random bytes as `whsec_` + base64url: what is shown once, and is the HMAC key as is. */
export function newSigningSecret(): string {
  return secret_prefix + randomBytes(32).toString('base64url');
}

/** The header value signing `body` at `t` with each of `secrets` (one v1 per secret). */
export function signatureHeader(secrets: readonly string[], t: number, body: Uint8Array | string): string {
  return [`t=${t}`, ...secrets.map((s) => `v1=${signatureHex(s, t, body)}`)].join(',');
}

export function signatureHex(secret: string, t: number, body: Uint8Array | string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${t}.`).update(body).digest('hex');
}

/**
 * The header's `t` and v1 digests, or undefined when it is malformed: no `t` or two, `t` not
 * whole seconds, no v1 of 64 lower-case hex digits, too long, too many v1. A v1 of any other
 * form is skipped: it can verify nothing, and "one valid is enough" (EVENTS.md) holds beside it,
 * as with a wrong digest; Stripe's receivers compare each v1 alike. Other schemes (`v0=`, a
 * future `v2=`) are skipped too.
 */
export function parseSignature(header: string | undefined): ParsedSignature | undefined {
  if (header === undefined || header.length > header_length_max) return undefined;
  let t: number | undefined;
  const v1: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (t !== undefined || !unix_seconds.test(value)) return undefined;
      t = Number(value);
    } else if (key === 'v1' && digest_hex.test(value)) {
      if (v1.length >= v1_count_max) return undefined;
      v1.push(Buffer.from(value, 'hex'));
    }
  }
  return t === undefined || v1.length === 0 ? undefined : { t, v1 };
}

/** Whether the signature's `t` is outside the tolerance of `now_s`: no secret can make it valid. */
export function signatureStale(signature: ParsedSignature, now_s: number, tolerance_s = signature_tolerance_s): boolean {
  return Math.abs(now_s - signature.t) > tolerance_s;
}

/**
 * Whether some v1 of `signature` is the HMAC of `body` at its `t` under one of `secrets`, with `t`
 * within the tolerance of `now_s`. Every comparison is constant-time (a mismatch takes as long
 * wherever it is), so the answer's timing says nothing of the expected digest.
 */
export function signatureValid(signature: ParsedSignature, body: Uint8Array, secrets: readonly string[], now_s: number, tolerance_s = signature_tolerance_s): boolean {
  if (signatureStale(signature, now_s, tolerance_s)) return false;
  let valid = false;
  for (const secret of secrets) {
    const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${signature.t}.`).update(body).digest();
    for (const given of signature.v1) if (timingSafeEqual(expected, given)) valid = true;
  }
  return valid;
}
