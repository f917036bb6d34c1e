import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decryptSecret, encryptSecret, secretBoxKey } from './secret-box.ts';

describe('secrets at rest', () => {
  const key = secretBoxKey('hmac key', 'webhook signing secrets');

  it('decrypt gives back what was encrypted, and the stored text is not it', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (secret) => {
        const stored = encryptSecret(key, secret);
        return decryptSecret(key, stored) === secret && (secret.length < 8 || !stored.includes(secret));
      }),
    );
  });

  it('another key, another purpose or a changed byte decrypts nothing', () => {
    const stored = encryptSecret(key, 'whsec_abc');
    expect(decryptSecret(secretBoxKey('other key', 'webhook signing secrets'), stored)).toBeUndefined();
    expect(decryptSecret(secretBoxKey('hmac key', 'processor signing secrets'), stored)).toBeUndefined();
    fc.assert(
      fc.property(fc.nat(), (i) => {
        // Not the last character: its low bits are padding, which decoding drops.
        const at = 3 + (i % (stored.length - 4));
        const changed = stored.slice(0, at) + (stored[at] === 'A' ? 'B' : 'A') + stored.slice(at + 1);
        return decryptSecret(key, changed) !== 'whsec_abc';
      }),
    );
    expect(decryptSecret(key, 'plain')).toBeUndefined();
  });
});
