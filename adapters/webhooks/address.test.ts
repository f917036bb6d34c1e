// A webhook URL naming localhost is refused whatever the resolver says: spec/EVENTS.md refuses
// loopback, and RFC 6761 makes `localhost.` and every name under it loopback, but a resolver
// without them (no /etc/hosts match for the trailing dot, no DNS) answers nothing, and a name
// that does not resolve is otherwise taken.

import { describe, expect, it } from 'vitest';
import { checkWebhookUrl } from './address.ts';

describe('webhook URL check without WEBHOOKS_ALLOW_PRIVATE', () => {
  it('refuses localhost in every spelling, trailing dot and sub-names included', async () => {
    for (const url of ['http://localhost/', 'http://LOCALHOST./', 'http://localhost.:8080/hook', 'https://api.localhost/', 'http://a.b.LocalHost./', 'http://localhost../']) {
      await expect(checkWebhookUrl(url, false), url).rejects.toMatchObject({ code: 'validation_failed' });
    }
  });

  it('still takes a name that merely contains localhost', async () => {
    for (const url of ['http://localhost.example.invalid/', 'http://mylocalhost.invalid/']) {
      await expect(checkWebhookUrl(url, false), url).resolves.toBeUndefined();
    }
  });
});
