// Signing secrets at rest: AES-256-GCM under a key derived (HKDF) from CIM_HMAC_KEY, one key per
// purpose. An HMAC needs the secret itself, so a hash (as for API keys) cannot be kept; encrypted,
// a copy of the database alone signs nothing. Changing CIM_HMAC_KEY orphans them, as it does
// every CIM. Processors' secrets (processor/processors.ts) and webhooks' are kept so.

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const cipher = 'aes-256-gcm';
const stored_prefix = 'v1.';

/** The key for one purpose ('webhook signing secrets', …): a leak of one says nothing of another. */
export function secretBoxKey(cim_hmac_key: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', cim_hmac_key, 'pocketgate', purpose, 32));
}

export function encryptSecret(key: Buffer, secret: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv(cipher, key, iv);
  const body = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
  return stored_prefix + Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url');
}

/** The secret, or undefined when this key did not encrypt it (CIM_HMAC_KEY changed, or tampered). */
export function decryptSecret(key: Buffer, stored: string): string | undefined {
  if (!stored.startsWith(stored_prefix)) return undefined;
  const raw = Buffer.from(stored.slice(stored_prefix.length), 'base64url');
  if (raw.length < 28) return undefined;
  try {
    const d = createDecipheriv(cipher, key, raw.subarray(0, 12), { authTagLength: 16 });
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
