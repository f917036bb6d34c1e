import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseWith } from './schemas.ts';
import { deliveriesQuerySchema, retry_send_allowance_ms, retryDelayMs, webhookCreateSchema, webhookPatchSchema } from './webhooks.ts';

describe('webhooks (spec/EVENTS.md)', () => {
  it('attempt k waits base × 4^(k−2), within ±20%, its top lowered by what sending takes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600_000 }), fc.integer({ min: 2, max: 8 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (base, k, random) => {
        const nominal = base * 4 ** (k - 2);
        const delay = retryDelayMs(base, k, random);
        const top = 1.2 * nominal - Math.min(retry_send_allowance_ms, 0.2 * nominal);
        return Number.isInteger(delay) && delay >= Math.floor(0.8 * nominal) && delay <= Math.ceil(top);
      }),
    );
    // The bottom of the band as drawn; the top less the allowance; the middle less half of it.
    expect(retryDelayMs(30_000, 2, 0)).toBe(24_000);
    expect(retryDelayMs(50, 2, 0.999_999)).toBe(50);
    expect(retryDelayMs(30_000, 2, 0.5)).toBe(30_000 - retry_send_allowance_ms / 2);
    expect(retryDelayMs(30_000, 8, 0.5)).toBe(30_000 * 4096 - retry_send_allowance_ms / 2);
  });

  it('takes http(s) URLs and known event types, or ["*"]', () => {
    expect(parseWith(webhookCreateSchema, { url: 'https://example.com/a#frag', events: ['award.created', 'award.created'] })).toEqual({ url: 'https://example.com/a#frag', events: ['award.created'] });
    // Kept as given, not as WHATWG URL would write it (a slash added, the host lower-cased, :80 dropped).
    for (const url of ['http://127.0.0.1:18777', 'http://LOCALHOST:18777/Hook', 'http://127.0.0.1:80/x']) {
      expect(parseWith(webhookCreateSchema, { url, events: ['*'] }).url).toBe(url);
    }
    for (const bad of [{ url: 'https://example.com/\r\nX-Injected: 1', events: ['*'] }, { url: 'https://exa\nmple.com/', events: ['*'] }, { url: 'https://example.com/\ta', events: ['*'] }, { url: 'https://example.com/a b', events: ['*'] }, { url: 'http://127.0.0\n.1/', events: ['*'] }, { url: 'file:///etc/passwd', events: ['*'] }, { url: 'https://x.test/', events: ['*', 'award.expired'] }, { url: 'https://x.test/', events: ['award.updated'] }]) {
      expect(() => parseWith(webhookCreateSchema, bad)).toThrow(expect.objectContaining({ code: 'validation_failed' }));
    }
  });

  it('refuses what the URL parser reads as another URL than the one written: no \'//\', an empty host, backslashes (a probe: http:///h.test/hook stored, delivered to http://h.test/hook)', () => {
    for (const url of ['http:///pocketgate-probe.invalid/hook', 'http:x', 'http:/127.0.0.1/', 'https:\\\\example.com/', 'http:\\\\127.0.0.1/', 'https://example.com\\hook', 'HTTP:example.com']) {
      expect(() => parseWith(webhookCreateSchema, { url, events: ['*'] }), url).toThrow(expect.objectContaining({ code: 'validation_failed' }));
      expect(() => parseWith(webhookPatchSchema, { url }), url).toThrow(expect.objectContaining({ code: 'validation_failed' }));
    }
    for (const url of ['HTTPS://Example.com/a?b=c', 'http://user:pw@h.test:8080/x', '  https://h.test/  ']) {
      expect(parseWith(webhookCreateSchema, { url, events: ['*'] }).url).toBe(url.trim());
    }
  });

  it('a description holds no card number, as names and tags (a black-box probe found one stored and sent on)', () => {
    expect(parseWith(webhookCreateSchema, { url: 'https://x.test/', events: ['*'], description: 'orders 4242 and 1234567890' }).description).toBe('orders 4242 and 1234567890');
    for (const description of ['d 5422020597326948', 'card 5422 0205 9732 6948 here']) {
      expect(() => parseWith(webhookCreateSchema, { url: 'https://x.test/', events: ['*'], description })).toThrow(expect.objectContaining({ code: 'validation_failed' }));
      expect(() => parseWith(webhookPatchSchema, { description })).toThrow(expect.objectContaining({ code: 'validation_failed' }));
    }
  });

  it('lists 1 to 1000 deliveries a page, 100 by default', () => {
    expect(parseWith(deliveriesQuerySchema, {})).toEqual({ limit: 100 });
    expect(parseWith(deliveriesQuerySchema, { limit: '1000', status: 'failed' })).toEqual({ limit: 1000, status: 'failed' });
    for (const limit of ['0', '1001', '-1', '1.5', 'x', '']) expect(() => parseWith(deliveriesQuerySchema, { limit })).toThrow();
  });
});
