// Webhooks out (spec/EVENTS.md): event types, the input rules of endpoints and of the deliveries
// listing, and the retry schedule. Pure.

import { z } from 'zod';
import { holdsCardNumber } from './luhn.ts';
import { cursorSchema, limitSchema, nullAbsent } from './schemas.ts';

export const webhook_event_types = ['transaction.approved', 'award.created', 'award.expired'] as const;
export type WebhookEventType = (typeof webhook_event_types)[number];

/** Attempts of a delivery before it is `failed` (the first, then retries 2..8). */
export const delivery_attempts_max = 8;

const url_length_max = 2_048;
const url_forbidden_characters = /[\u0000-\u001f\u007f\s]/u;
// The parser reads 'http:x', 'http:///host/', 'http:/host/' and 'https:\\host\\' as http URLs
// too, supplying or skipping what is not there, and a backslash as a slash: kept as sent, the URL
// shown was not the one delivered to ('http:///h.test/hook' went to 'http://h.test/hook': a
// probe). What is taken is written out: the scheme, '//', a host, no backslash.
const url_written_out = /^https?:\/\/[^/?#]/iu;

/**
 * An http(s) URL, kept and shown as it was given (EVENTS.md answers the `url` sent): parsed only
 * to check it. HTTP sends no fragment, so one given never reaches the receiver.
 */
export const webhookUrlSchema = z
  .string()
  .max(url_length_max)
  .transform((s, ctx) => {
    // The URL parser drops tabs and line breaks inside a URL: kept, the URL shown
    // ('https://exa\nmple.com/') would not be the one delivered to ('https://example.com/').
    if (url_forbidden_characters.test(s.trim())) {
      ctx.addIssue({ code: 'custom', message: 'must not contain spaces or control characters (percent-encode them)' });
      return z.NEVER;
    }
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute http or https URL' });
      return z.NEVER;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', message: 'must be an http or https URL' });
      return z.NEVER;
    }
    if (!url_written_out.test(s.trim()) || s.includes('\\')) {
      ctx.addIssue({ code: 'custom', message: 'must be written out as http(s)://host/path, without backslashes (percent-encode them)' });
      return z.NEVER;
    }
    return s.trim();
  });

/** `["*"]` (every type, present and future) or a list of known types; duplicates count once. */
const eventsSchema = z
  .array(z.enum([...webhook_event_types, '*'], { message: `each must be one of ${webhook_event_types.join(', ')}, or the list be ["*"]` }))
  .min(1, 'name at least one event type, or ["*"]')
  .max(16)
  .refine((e) => !e.includes('*') || e.every((t) => t === '*'), '"*" stands alone: ["*"]')
  .transform((e) => [...new Set(e)]);

const description_length_max = 500;
// Free text a person writes: no card number (API.md: never stored), as names and tags are. Checked
// only within the length allowed: zod runs a refinement even on text max() refused.
const descriptionSchema = z
  .string()
  .max(description_length_max)
  .refine((text) => text.length > description_length_max || !holdsCardNumber(text), 'holds what reads as a card number: card numbers are never stored');

export const webhookCreateSchema = z.object({
  url: webhookUrlSchema,
  events: eventsSchema,
  description: nullAbsent(descriptionSchema),
});
export type WebhookCreateInput = z.infer<typeof webhookCreateSchema>;

export const webhookPatchSchema = z.object({
  url: webhookUrlSchema.optional(),
  events: eventsSchema.optional(),
  status: z.enum(['enabled', 'disabled']).optional(),
  description: descriptionSchema.nullable().optional(),
});
export type WebhookPatchInput = z.infer<typeof webhookPatchSchema>;

export const deliveryStatuses = ['pending', 'succeeded', 'failed'] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

export const deliveriesQuerySchema = z.object({
  status: z.enum(deliveryStatuses).optional(),
  limit: limitSchema(1_000, 100),
  starting_after: cursorSchema.optional(),
});

/**
 * What a retry takes to reach its receiver past its wait at most, as a rule (the failed answer
 * recorded, the retry claimed and sent: 2–4 ms on a quiet machine, up to 10 ms under load).
 */
export const retry_send_allowance_ms = 10;

/**
 * How long attempt `k` (2..8) waits after the one before failed: base × 4^(k−2), ±20% jitter
 * (`random` in [0, 1), so that concurrent failures do not all come back at the same instant). The
 * top of the band is lowered by what sending takes (retry_send_allowance_ms, at most a fifth of
 * the nominal wait): a receiver times the gap between two attempts, the wait and the send, and a
 * wait drawn at the top came past the band (a black-box audit, 2026-12-07: 61–66 ms at a 50 ms
 * base, at most 60 allowed); the gaps it sees centre on the nominal wait.
 */
export function retryDelayMs(base_ms: number, k: number, random: number): number {
  const nominal = base_ms * 4 ** (k - 2);
  const low = 0.8 * nominal;
  const high = 1.2 * nominal - Math.min(retry_send_allowance_ms, 0.2 * nominal);
  return Math.round(low + (high - low) * random);
}
