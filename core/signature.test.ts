import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { newSigningSecret, parseSignature, signatureHeader, signatureHex, signatureValid } from './signature.ts';

const now_s = 1_790_000_000;
const bytes = fc.uint8Array({ maxLength: 512 });
const secret = fc.string({ minLength: 1, maxLength: 60 }).map((s) => `whsec_${s}`);

function valid(header: string, body: Uint8Array, secrets: string[], at = now_s): boolean {
  const parsed = parseSignature(header);
  return parsed !== undefined && signatureValid(parsed, body, secrets, at);
}

describe('signatures (spec/EVENTS.md)', () => {
  it('is HMAC-SHA256 over "<t>." + body keyed with the secret string as is, lower-case hex', () => {
    const s = 'whsec_abc';
    const expected = createHmac('sha256', 'whsec_abc').update('1700000000.{"a":1}').digest('hex');
    expect(signatureHex(s, 1_700_000_000, '{"a":1}')).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a secret is whsec_ + 32 random bytes in base64url', () => {
    const a = newSigningSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.slice(6), 'base64url')).toHaveLength(32);
    expect(newSigningSecret()).not.toBe(a);
  });

  it('what is signed verifies, with any of several v1 and any of several secrets', () => {
    fc.assert(
      fc.property(bytes, fc.array(secret, { minLength: 1, maxLength: 4 }), fc.integer({ min: -300, max: 300 }), (body, secrets, skew) => {
        const header = signatureHeader(secrets, now_s + skew, body);
        for (const s of secrets) if (!valid(header, body, [s])) return false;
        return valid(header, body, ['whsec_other', ...secrets]);
      }),
    );
  });

  it('any change of body, t or secret fails', () => {
    fc.assert(
      fc.property(bytes, secret, fc.nat({ max: 511 }), fc.integer({ min: 1, max: 255 }), (body, s, at, flip) => {
        const header = signatureHeader([s], now_s, body);
        const changed = body.length === 0 ? Uint8Array.of(flip) : body.map((b, i) => (i === at % body.length ? b ^ flip : b));
        const shifted = header.replace(`t=${now_s}`, `t=${now_s + 1}`);
        return !valid(header, changed, [s]) && !valid(shifted, body, [s]) && !valid(header, body, [`${s}x`]);
      }),
    );
  });

  it('a t more than 300 s from the clock fails, either way; 300 s passes', () => {
    const body = Buffer.from('{}');
    for (const skew of [-301, 301, -86_400]) expect(valid(signatureHeader(['whsec_k'], now_s + skew, body), body, ['whsec_k'])).toBe(false);
    for (const skew of [-300, 0, 300]) expect(valid(signatureHeader(['whsec_k'], now_s + skew, body), body, ['whsec_k'])).toBe(true);
  });

  it('never throws, whatever the header, and accepts only a well-formed one', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (header) => {
        const parsed = parseSignature(header);
        return parsed === undefined || (Number.isSafeInteger(parsed.t) && parsed.v1.length > 0 && parsed.v1.every((d) => d.length === 32));
      }),
    );
  });

  it('refuses malformed headers', () => {
    const hex = 'a'.repeat(64);
    const malformed = [
      undefined,
      '',
      `v1=${hex}`, // no t
      't=1700000000', // no v1
      `t=1700000000,t=1700000001,v1=${hex}`,
      `t=-5,v1=${hex}`,
      `t=17e8,v1=${hex}`,
      `t=1700000000,v1=${'A'.repeat(64)}`, // upper-case, and no other v1
      `t=1700000000,v1=${hex.slice(1)}`,
      `t=1700000000,v1=${hex}0`,
      `t=1700000000;v1=${hex}`,
      `t=1700000000,${Array.from({ length: 17 }, () => `v1=${hex}`).join(',')}`,
      `t=1700000000,v1=${hex},${'x'.repeat(3000)}`,
    ];
    for (const header of malformed) expect(parseSignature(header), String(header)).toBeUndefined();
    expect(parseSignature(` t=1700000000 , v0=zz, v1=${hex} `)).toEqual({ t: 1_700_000_000, v1: [Buffer.from(hex, 'hex')] });
    // A v1 of another form beside a well-formed one is skipped: one valid is enough.
    for (const other of ['deadbeef', 'A'.repeat(64), '', `${hex}0`]) {
      expect(parseSignature(`t=1700000000,v1=${other},v1=${hex}`), other).toEqual({ t: 1_700_000_000, v1: [Buffer.from(hex, 'hex')] });
    }
  });
});
