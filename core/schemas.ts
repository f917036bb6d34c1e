// zod schemas of every command and request body the contract defines. Adapters parse with these
// and nothing else, so a rule about input lives in one place.

import { z } from 'zod';
import { amount_max, percentToBasisPoints } from './money.ts';
import { currencyByCode } from './currency.ts';
import { assignable_cim_types, cim_types, maskCardNumbers } from './cim.ts';
import { PocketgateError, type FieldError } from './errors.ts';
import { holdsCardNumber } from './luhn.ts';
import { holdsUnstorable, unstorable_message } from './storable.ts';

export const amountSchema = z.number().int('must be an integer in minor units').min(0, 'must not be negative').max(amount_max);
export const positiveAmountSchema = z.number().int('must be an integer in minor units').min(1, 'must be positive').max(amount_max);
export const currencySchema = z.string().refine((c) => currencyByCode(c) !== undefined, 'must be an ISO 4217 alphabetic code, e.g. EUR');
export const referenceSchema = z.string().min(1).max(64);
/** Free text a person writes holds no card number (luhn.ts): refused, never stored; a card is a CIM. */
// Only within the longest length checked: zod runs the refinement even on text its max refused
// (a 1 MiB name took 1.9 s), and such text is refused anyway.
const checked_text_max = 200;
const no_card_number = [(text: string) => text.length > checked_text_max || !holdsCardNumber(text), 'holds what reads as a card number: card numbers are never stored (a card is given as a CIM)'] as const;
const nameSchema = z.string().trim().min(1).max(200).refine(...no_card_number);
const personNameSchema = z.string().max(100).refine(...no_card_number);
/** Whether YYYY-MM-DD names a day of the calendar (Date.parse takes 2026-02-30 for 2 March). */
function isCalendarDate(d: string): boolean {
  const t = Date.parse(`${d}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().startsWith(d);
}
// Year 0000 parses in JavaScript but does not exist in PostgreSQL's calendar (1 BC is followed
// by AD 1): refused here rather than failing the insert.
// Each check that fails ends the field's checks (abort): a date not even YYYY-MM-DD was also told
// it "must be a real date", a fee of 101 that it has "at most 2 decimals" (an API audit, 2026-12-04).
// A birth date is a day that has begun somewhere (UTC+14 is the first zone into a date): one later
// was accepted (2999-01-01, a black-box audit) and made a contact no birthday offer could match.
const birthDateSchema = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'must be YYYY-MM-DD', abort: true })
  .refine((d) => !d.startsWith('0000') && isCalendarDate(d), { error: 'must be a real date', abort: true })
  .refine((d) => d <= latestDateNow(), 'must not be in the future');
const latest_zone_offset_ms = 14 * 3_600_000;
function latestDateNow(): string {
  return new Date(Date.now() + latest_zone_offset_ms).toISOString().slice(0, 10);
}
const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
// Years 0001 to 9999 in UTC: what every store and every client library can hold. Year 0000 does
// not exist in PostgreSQL's calendar, and 9999-12-31T23:59:59-14:00 is already in year 10000.
const timestamp_min_ms = Date.parse('0001-01-01T00:00:00Z');
const timestamp_max_ms = Date.parse('9999-12-31T23:59:59.999Z');
const timestampSchema = z.string().refine((s) => {
  // A day past its month's end and hour 24 name no date-time (RFC 3339), though Date.parse rolls them over.
  if (!rfc3339.test(s) || !isCalendarDate(s.slice(0, 10)) || s.slice(11, 13) > '23') return false;
  const ms = Date.parse(s.toUpperCase());
  return Number.isFinite(ms) && ms >= timestamp_min_ms && ms <= timestamp_max_ms;
}, 'must be an RFC 3339 timestamp between years 0001 and 9999 (UTC)');
/** Already as the contract writes timestamps: UTC, upper-case T and Z (API.md, Conventions). */
const utc_timestamp = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/**
 * A timestamp timestampSchema took, as the contract writes timestamps: in UTC (API.md: "RFC 3339
 * strings in UTC"). One sent so is kept as sent; one with an offset or in lower case is the same
 * instant in UTC, to the millisecond, without a fraction when it falls on a whole second.
 */
export function utcTimestamp(s: string): string {
  if (utc_timestamp.test(s)) return s;
  return new Date(Date.parse(s.toUpperCase())).toISOString().replace(/\.000Z$/, 'Z');
}

/** The zone's IANA name as ICU spells it, or undefined for no zone ICU knows. */
function resolvedZone(tz: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/**
 * An IANA time zone, kept as sent but for its case: ICU takes any case, so "europe/paris" was
 * stored and read back as sent (an admin probe, 2026-12-06), and is now "Europe/Paris". An alias
 * is kept (ICU would turn "Asia/Kolkata" into its older "Asia/Calcutta").
 */
const timezoneSchema = z
  .string()
  .refine((tz) => resolvedZone(tz) !== undefined, 'must be an IANA time zone, e.g. Europe/Lisbon')
  .transform((tz) => {
    const resolved = resolvedZone(tz)!;
    return resolved.toLowerCase() === tz.toLowerCase() ? resolved : tz;
  });
/** A contact's tags, each once (["a", "a"] was kept twice: a contacts probe). */
const tagsSchema = z
  .array(z.string().trim().min(1).max(64).refine(...no_card_number))
  .max(64)
  .transform((tags) => [...new Set(tags)]);

// An optional field sent as null is the same as left out (a serializer writing null for what is
// unset; a venue or offer read back, unset fields null, sent again as it is): on an offer, the
// optional fields of POS bodies, a venue's, a contact's and a processor's callback data (null was
// 400 on all but offers': an API probe, 2026-12-06), and of every other create: a business's,
// merchant's, processor's, scheme's, codes', sign-up's, spend OTP's, webhook's, callback envelope's.
// In a PATCH null clears the field (the key stays in the parsed patch, undefined, and overrides).
const clearable = <T extends z.ZodType>(schema: T) => schema.nullable().optional().transform((v) => v ?? undefined);
/** Optional, null read as left out before `schema` sees it (its key stays optional in the output). */
export const nullAbsent = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === null ? undefined : v), schema.optional());
/** An object's `schema` with its keys sent as null left out; with `empty_absent`, an object with none left is no object. */
const withoutNulls = <T extends z.ZodType>(schema: T, empty_absent = false) =>
  z.preprocess((v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    const kept = Object.entries(v).filter(([, x]) => x !== null);
    if (empty_absent && kept.length === 0) return undefined;
    return kept.length === Object.keys(v).length ? v : Object.fromEntries(kept);
  }, schema);
/** As nullAbsent, with a default where it is left out or null. */
export const nullDefault = <T extends z.ZodType>(schema: T, fallback: z.output<T>) => z.preprocess((v) => (v === null ? undefined : v), schema.default(fallback as never));

export const businessCreateSchema = z.object({
  name: nameSchema,
  currency: currencySchema,
  reward_resolution: nullDefault(z.enum(['all', 'best', 'best_per_scheme']), 'all'),
});

/**
 * An ISO 8583 code (DE42 a merchant's, DE41 a terminal's; class ans, space-padded on the right):
 * printable ASCII, no space at either end, or no message could name it.
 */
function isoCodeSchema(length_max: number, field: string) {
  return z.string().min(1).max(length_max).regex(/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/, `must be printable ASCII with no space at either end (ISO 8583 ${field})`);
}


export const merchantCreateSchema = z.object({
  name: nameSchema,
  code: isoCodeSchema(15, 'DE42'),
  contribution_fee_percent: nullDefault(z.number().min(0, { abort: true }).max(100, { abort: true }).refine((p) => percentToBasisPoints(p) !== undefined, 'at most 2 decimals').describe('0 to 100, at most 2 decimals'), 0),
  settle_on: nullDefault(z.enum(['award', 'spend']), 'award'),
});

export const venueCreateSchema = z.object({
  name: nameSchema,
  merchant_id: nullAbsent(z.string().min(1).max(64)),
  timezone: nullDefault(timezoneSchema, 'UTC'),
});

export const terminalCreateSchema = z.object({
  venue_id: z.string().min(1).max(64),
  code: isoCodeSchema(8, 'DE41'),
});

function cimTypeError(issue: { input?: unknown }): string {
  return issue.input === undefined ? 'required' : `must be one of ${cim_types.join(', ')}`;
}

export const cimInputSchema = z.object({
  type: z.enum(cim_types),
  value: z.string().min(1).max(254),
});

export const assignableCimSchema = z.object({
  type: z.enum(assignable_cim_types),
  value: z.string().min(1).max(254),
});

/**
 * The email on file (not a CIM: kept as given, normalised): no card number in it either, as in a
 * name (a probe stored and echoed `4111111111111111@x.com` whole).
 */
const contactEmailSchema = z.string().max(254).refine(...no_card_number);

/** The CIMs a contact holds at most, given at its creation or added one by one. */
export const contact_cims_max = 20;

export const contactCreateSchema = z.object({
  first_name: nullAbsent(personNameSchema),
  last_name: nullAbsent(personNameSchema),
  email: nullAbsent(contactEmailSchema),
  phone: nullAbsent(z.string().max(32)),
  birth_date: nullAbsent(birthDateSchema),
  tags: nullDefault(tagsSchema, []),
  cims: nullDefault(z.array(assignableCimSchema).max(contact_cims_max), []),
  // A referral code in any case, as a contact code is taken at the POS: the codes are upper case,
  // and a customer reads one out or types it as it comes (a contacts probe: lower case was 400).
  referred_by: nullAbsent(
    z
      .string()
      .trim()
      .min(1)
      .max(32)
      .transform((code) => code.toUpperCase()),
  ),
  // As PATCH sets it: a back office importing its customers brings their blocks with them (a black-box
  // audit saw `spend_blocked: true` on a create answered 201 with the contact free to spend).
  spend_blocked: nullAbsent(z.boolean()),
});
export type ContactCreate = z.infer<typeof contactCreateSchema>;

/** A contact field a PATCH cannot set: 400 saying where it is set, not 200 and ignored (an API probe, 2026-12-06). */
const notPatched = (where: string) =>
  z
    .unknown()
    .refine((v) => v === undefined, `not changed by PATCH: ${where}`)
    .optional()
    .meta({ description: `Not accepted (400): ${where}`, not: {} });

/** null clears a detail on file (the contact's CIMs stay: they are their own). */
export const contactPatchSchema = z.object({
  first_name: personNameSchema.nullable().optional(),
  last_name: personNameSchema.nullable().optional(),
  email: contactEmailSchema.nullable().optional(),
  phone: z.string().max(32).nullable().optional(),
  birth_date: birthDateSchema.nullable().optional(),
  tags: tagsSchema.optional(),
  spend_blocked: z.boolean().optional(),
  cims: notPatched('a CIM is added with POST /v1/contacts/{id}/cims'),
  referred_by: notPatched('a referrer is named when the contact is created'),
  // Read back, not set: 200 with nothing changed misled a client "changing" its wallet code (a contacts probe).
  wallet_code: notPatched('a new wallet code is made with POST /v1/contacts/{id}/wallet-code'),
  code: notPatched("a contact's code is made once, when it is created"),
  referral_code: notPatched("a contact's referral code is made once, when it is created"),
  tier: notPatched('a tier follows the contact\'s purchases (PUT /v1/tiers)'),
});
export type ContactPatch = z.infer<typeof contactPatchSchema>;


const conditionsSchema = z
  .object({
    min_amount: amountSchema.optional(),
    merchants: z.array(z.string().min(1).max(64)).max(1000).optional(),
    venues: z.array(z.string().min(1).max(64)).max(1000).optional(),
    products: withoutNulls(
      z
        .object({
          skus: z.array(z.string().max(64)).max(10_000).optional(),
          families: z.array(z.string().max(64)).max(1000).optional(),
          brands: z.array(z.string().max(64)).max(1000).optional(),
          types: z.array(z.string().max(64)).max(1000).optional(),
        })
        .strict(),
    ).optional(),
    days_of_week: z.array(z.number().int().min(1).max(7)).max(7).optional(),
    time_from: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM').optional(),
    // 24:00 is the end of the day; 24:01 to 24:59 no time at all (they were taken: a black-box probe, 2026-12-05).
    time_to: z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'must be HH:MM (24:00 the end of the day)').optional(),
    // Names of tiers and contacts' tags, which hold no card number (a black-box probe found
    // both stored and echoed whole, 2026-12-05). Not an offer's skus, brands or pool: a
    // barcode or a merchant's code may well read as one.
    tiers: z.array(z.string().min(1).max(64).refine(...no_card_number)).max(100).optional(),
    tags: z.array(z.string().min(1).max(64).refine(...no_card_number)).max(100).optional(),
  })
  // Strict, as `award` and `limits`: a misspelt condition ("min_amout") was dropped and the offer
  // awarded without it, to everyone (an offers probe, 2026-12-06; Stripe refuses an unknown
  // parameter). The offer's own top level stays lenient: an offer read back, id and all, may be
  // sent again as it is.
  .strict();

const limitsSchema = z
  .object({
    per_contact: z.object({ count: z.number().int().min(1).max(1_000_000), period: z.enum(['day', 'week', 'month', 'lifetime']) }).strict().optional(),
    budget: amountSchema.optional(),
  })
  .strict();

/** `shape`'s fields each clearable: null removes the field (a PATCH's nested object, merged key by key). */
function clearableFields<S extends Record<string, z.ZodType>>(shape: S) {
  const fields = Object.fromEntries(Object.entries(shape).map(([k, f]) => [k, clearable(f)]));
  return z.object(fields as { [K in keyof S]: ReturnType<typeof clearable<S[K]>> }).strict();
}

// The fields of an offer without their defaults: the create schema adds them, the patch schema
// must not (zod applies defaults inside `.partial()` too, so `{active: false}` would reset the
// offer's kind, conditions and instant_redeem to their defaults).
export const offerFields = {
  name: nameSchema,
  scheme_id: clearable(z.string().min(1).max(64)),
  active: z.boolean(),
  kind: z.enum(['cashback', 'instant_discount']),
  goal: z.enum(['spend', 'product', 'happy_hour', 'birthday', 'signup', 'referral', 'first_purchase']),
  // `{percent: null, fixed: 100}` (a form's unused field sent null) is `{fixed: 100}` (a probe).
  award: withoutNulls(z.union([
    z.object({ percent: z.number().min(0, { abort: true }).max(100, { abort: true }).refine((p) => percentToBasisPoints(p) !== undefined, 'at most 2 decimals').describe('0 to 100, at most 2 decimals') }).strict(),
    z.object({ fixed: amountSchema }).strict(),
  ], { error: 'must be {"percent": 0 to 100} or {"fixed": an amount in minor units}, exactly one' })),
  conditions: conditionsSchema,
  max_award: clearable(amountSchema),
  limits: clearable(limitsSchema),
  instant_redeem: z.boolean(),
  validity_days: clearable(z.number().int().min(1).max(3650)),
  // Trimmed: a merchant's code has no spaces at its ends, so " SHOP1 " named no merchant and its
  // award redeemed anywhere (a redemptions probe).
  pool: clearable(z.string().trim().min(1).max(64)),
  valid_from: clearable(timestampSchema),
  valid_to: clearable(timestampSchema),
};

export const offerSchema = z
  .object({
    ...offerFields,
    // null is left out here too, as on the offer's other optional fields, and `limits: {}` is none
    // (an API probe found both 400, and `{}` kept beside PATCH's null).
    active: nullDefault(offerFields.active, true),
    kind: nullDefault(offerFields.kind, 'cashback'),
    conditions: nullDefault(withoutNulls(conditionsSchema), {}),
    limits: nullAbsent(withoutNulls(limitsSchema.optional(), true)),
    instant_redeem: nullDefault(offerFields.instant_redeem, false),
  })
  // An offer valid from after it ends could never award anything: bad input, not a silent no-op.
  .refine((o) => o.valid_from === undefined || o.valid_to === undefined || Date.parse(o.valid_from) < Date.parse(o.valid_to), {
    message: 'must be before valid_to',
    path: ['valid_from'],
  });
export type OfferInput = z.infer<typeof offerSchema>;
/**
 * A PATCH: `conditions` and `limits` are merged into the offer's key by key (null removes one;
 * `limits: null` all), as Stripe merges a nested hash: replaced whole, a patch of `limits.budget`
 * dropped the offer's per-contact cap and its awards went out again (an API probe, 2026-12-06).
 * Their own nested values (`products`, `per_contact`) are replaced whole.
 */
export const offerPatchSchema = z
  .object({ ...offerFields, conditions: clearable(clearableFields(conditionsSchema.shape)), limits: clearable(clearableFields(limitsSchema.shape)) })
  .partial();
export type OfferPatch = z.infer<typeof offerPatchSchema>;

/**
 * An offer as the API answers it: every field of API.md's example, in its order, an unset one
 * null (not left out: a client reads `scheme_id: null` as "a promotion open to all").
 */
export function offerView<T extends { readonly id: string; readonly created_at: string }>(offer: T): Record<string, unknown> {
  const fields = offer as unknown as Record<string, unknown>;
  const view: Record<string, unknown> = { id: offer.id };
  for (const key of Object.keys(offerFields)) view[key] = fields[key] ?? null;
  view.created_at = offer.created_at;
  return view;
}

// A purchase's item: `quantity` is required, as API.md lists it (no `?`): a basket line without one
// is bad input (400), not one unit.
export const itemSchema = z.object({
  sku: z.string().min(1).max(64),
  family: nullAbsent(z.string().max(64)),
  brand: nullAbsent(z.string().max(64)),
  type: nullAbsent(z.string().max(64)),
  quantity: z.number().positive().max(1_000_000),
  amount: amountSchema,
});
// A processor's callback sale (EVENTS.md: `items?`, its shape not spelt out) may leave the
// quantity out: one unit, as it always was.
const callbackItemSchema = itemSchema.extend({ quantity: itemSchema.shape.quantity.default(1) });

const paySchema = z
  .object({
    amount: positiveAmountSchema,
    otp: nullAbsent(z.string().regex(/^\d{6}$/, 'must be 6 digits')),
    wallet_code: nullAbsent(z.string().min(1).max(32)),
  })
  .refine((p) => (p.otp === undefined) !== (p.wallet_code === undefined), 'exactly one of otp or wallet_code');

// A purchase and its quote (POST /v1/purchases/quote) read the same fields the same way; a quote
// takes no reference and no payment (sent anyway, they are dropped as unknown keys are).
const purchaseFields = {
  cim: cimInputSchema,
  amount: positiveAmountSchema,
  currency: currencySchema,
  items: nullAbsent(z.array(itemSchema).max(500)),
  occurred_at: nullAbsent(timestampSchema),
};

// API.md: "`items` amounts, when given, must add up to `amount`": an empty list, given, adds up to
// 0, which no amount is (it was taken as no basket until a black-box audit, 2026-12-05).
function itemsAddUp(p: { amount: number; items?: readonly { amount: number }[] | undefined }, ctx: z.RefinementCtx): void {
  if (p.items !== undefined) {
    let sum = 0;
    for (const item of p.items) sum += item.amount;
    if (sum !== p.amount) ctx.addIssue({ code: 'custom', path: ['items'], message: `item amounts add up to ${sum}, not ${p.amount}` });
  }
}

export const purchaseSchema = z
  .object({ reference: referenceSchema, ...purchaseFields, pay: nullAbsent(paySchema) })
  .superRefine(itemsAddUp);
export const purchaseQuoteSchema = z.object(purchaseFields).superRefine(itemsAddUp);
export type PurchaseQuoteInput = z.infer<typeof purchaseQuoteSchema>;
export type PurchaseInput = z.infer<typeof purchaseSchema>;

type Issue = z.core.$ZodIssue;
/**
 * A union's failure told by the one branch whose keys the value has (`award: {fixed: 5.5}` fails
 * only at `award.fixed`: "expected int"), not as the whole union's "Invalid input"; as it is where
 * no branch or several have the value's keys.
 */
function unionBranchIssues(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [issue];
  const fitting = issue.errors.filter((branch) => !branch.some((i) => i.code === 'unrecognized_keys' && i.path.length === 0));
  if (fitting.length !== 1) return [issue];
  return fitting[0]!.flatMap((i) => unionBranchIssues({ ...i, path: [...issue.path, ...i.path] }));
}

/** Parse with `schema` or throw a validation_failed PocketgateError listing every problem. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const errors: FieldError[] = r.error.issues.flatMap(unionBranchIssues).slice(0, 50).map((issue) => ({
    path: issue.path.length === 0 ? '' : issue.path.map(String).join('.'),
    message: issue.message,
  }));
  const first = errors[0];
  throw new PocketgateError('validation_failed', first === undefined ? 'invalid request' : `${first.path || 'body'}: ${first.message}`, errors);
}

// JSON.parse rejects raw control characters and bodies arrive as UTF-8, so the characters no
// store can hold (core/storable.ts) can only come from \u escapes: the walk runs only when the
// text has one.
const unstorable_escape = /\\u(?:0000|d[89a-f])/i;

/** A step of unstorablePath's walk: a value and the key (an array's index) it sits under in its parent. */
type Step = { readonly value: unknown; readonly key: string | number; readonly parent: Step | undefined };

/**
 * The path of the first string (key or value) no store can hold, walking the value with a stack
 * of its own: a client chooses how deep its JSON nests, and recursion here overflowed the call
 * stack on a deep enough body (a 500 on every JSON route). The path is spelled only for the string
 * found, and only its first segments: spelled at every level, a body nested 500,000 deep held the
 * event loop for seconds and was answered with a 2 MB path (a bad-input probe, 2026-12-07).
 */
function unstorablePath(root: unknown): string | undefined {
  const stack: Step[] = [{ value: root, key: '', parent: undefined }];
  for (let step = stack.pop(); step !== undefined; step = stack.pop()) {
    const value = step.value;
    if (typeof value === 'string') {
      if (holdsUnstorable(value)) return pathOf(step);
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    // Pushed in reverse, so the first offending path in document order is the one named.
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], key: i, parent: step });
      continue;
    }
    const keys = Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const child: Step = { value: (value as Record<string, unknown>)[keys[i]!], key: keys[i]!, parent: step };
      if (holdsUnstorable(child.key as string)) return pathOf(child);
      stack.push(child);
    }
  }
  return undefined;
}

/** Segments of a path an error names; a deeper path is cut there and ends in "…". */
const error_path_segments_max = 32;

/** A step's dotted path from the root, its first error_path_segments_max segments. */
function pathOf(step: Step): string {
  const keys: (string | number)[] = [];
  for (let s: Step | undefined = step; s?.parent !== undefined; s = s.parent) keys.push(s.key);
  keys.reverse();
  return keys.length <= error_path_segments_max ? keys.join('.') : `${keys.slice(0, error_path_segments_max).join('.')}.…`;
}

/** JSON text as a value, or validation_failed: not JSON, or a string no store can hold. */
export function parseJsonText(text: string): unknown {
  const value = parseJsonSyntax(text);
  checkStorable(text, value);
  return value;
}

/** JSON.parse, refusing what is not JSON as bad input. */
export function parseJsonSyntax(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new PocketgateError('validation_failed', 'not valid JSON', [{ path: '', message: 'not valid JSON' }]);
  }
}

/** Refuses `value` (parsed from `text`, or a part of what was) when it holds a string no store can hold. */
export function checkStorable(text: string, value: unknown): void {
  if (mayHoldUnstorable(text)) checkStorableValue(value);
}

/** Whether JSON text may hold a string no store can hold: only a \u escape can write one. */
export function mayHoldUnstorable(text: string): boolean {
  return unstorable_escape.test(text);
}

/** checkStorable without the text's quick test: for the parts of a body checked one by one. */
export function checkStorableValue(value: unknown): void {
  const path = unstorablePath(value);
  if (path !== undefined) {
    throw new PocketgateError('validation_failed', `${path || 'body'}: ${unstorable_message}`, [{ path, message: unstorable_message }]);
  }
}

export const redemptionSchema = z.object({
  reference: referenceSchema,
  cim: cimInputSchema,
  amount: nullAbsent(positiveAmountSchema),
});
export type RedemptionInput = z.infer<typeof redemptionSchema>;

/**
 * A wallet read by CIM where the request is a JSON body, the WebSocket's `wallet` op (TERMINAL.md:
 * "as `GET /v1/wallets`"): its CIM checked as the query's is, with the same messages (a WebSocket probe found zod's own here, and one error on
 * `cim` where HTTP names both fields), the paths `cim.type` and `cim.value`.
 */
export const walletLookupSchema = z.object({
  // Absent: its two fields are, as the query's two parameters are.
  cim: z.preprocess((v) => v ?? {}, z.object({ type: z.enum(cim_types, { error: cimTypeError }), value: z.string({ error: 'required' }) })),
});

export const spendSchema = z
  .object({
    reference: referenceSchema,
    amount: positiveAmountSchema,
    currency: currencySchema,
    otp: nullAbsent(z.string().regex(/^\d{6}$/, 'must be 6 digits')),
    wallet_code: nullAbsent(z.string().min(1).max(32)),
  })
  .refine((s) => (s.otp === undefined) !== (s.wallet_code === undefined), { message: 'exactly one of otp or wallet_code', path: ['otp'] });
export type SpendInput = z.infer<typeof spendSchema>;

export const refundSchema = z.object({
  reference: referenceSchema,
  original_reference: referenceSchema,
  amount: nullAbsent(positiveAmountSchema),
  // Not needed (a refund is in its original's currency), but checked when sent: a POS that sends
  // USD to an EUR business means something this refund would not do (a black-box probe, 2026-12-05).
  currency: nullAbsent(currencySchema).describe('optional; when sent, must be the business’s currency'),
});
export type RefundInput = z.infer<typeof refundSchema>;

export const reversalSchema = z.object({
  reference: referenceSchema,
  original_reference: referenceSchema,
  // Refused rather than ignored, as Stripe and Adyen refuse a field they do not know: a POS that
  // sends an amount means part of the original, and a reversal would void all of it (audit).
  amount: nullAbsent(z.unknown().refine(() => false, 'a reversal voids the whole original and takes no amount; to return part of it, send a refund'))
    .describe('not taken: a reversal voids the whole original; to return part of it, send a refund'),
});
export type ReversalInput = z.infer<typeof reversalSchema>;

export const spendOtpSchema = z.object({
  amount: positiveAmountSchema,
  ttl_seconds: nullDefault(z.number().int().min(30).max(900), 300),
});

/** GET /v1/wallets: a CIM by its type and value (the value is checked as its type's, once normalised). */
export const walletQuerySchema = z.object({
  cim_type: z.enum(cim_types, { error: cimTypeError }),
  cim_value: z.string({ error: 'required' }),
});

/**
 * A timestamp in a query string: an offset's "+" sent unencoded is read as a space by form
 * decoding (`?from=2026-12-06T07:34:08+01:00`), so a space where the offset's sign goes is that
 * "+" (a contacts probe, 2026-12-06: 400 for a URL written by hand). Nothing else reads so.
 */
const queryTimestampSchema = z.preprocess((v) => (typeof v === 'string' ? v.replace(/(T\d{2}:\d{2}:\d{2}(?:\.\d+)?) (\d{2}:\d{2})$/i, '$1+$2') : v), timestampSchema);

/**
 * A period that ends before it starts is bad input (400 on `to`), for a statement (no closing
 * would be its opening plus its lines) and a settlement alike; from = to is an empty period.
 */
const period_in_order: [(q: { from?: string | undefined; to?: string | undefined }) => boolean, { message: string; path: string[] }] = [
  (q) => q.from === undefined || q.to === undefined || Date.parse(q.from.toUpperCase()) <= Date.parse(q.to.toUpperCase()),
  { message: 'must not be before from', path: ['to'] },
];

export const statementQuerySchema = z
  .object({
    from: queryTimestampSchema.optional(),
    to: queryTimestampSchema.optional(),
  })
  .refine(...period_in_order);

export const settlementQuerySchema = z
  .object({
    merchant_id: z.string().min(1).max(64).optional(),
    from: queryTimestampSchema.optional(),
    to: queryTimestampSchema.optional(),
  })
  .refine(...period_in_order);

/**
 * DE32, the acquiring institution id: LLVAR n..11, as digits; a JSON whole number is taken as its
 * digits too (the page gives no type, and an id of digits is often sent as a number).
 */
export const isoLinkSchema = z.object({
  acquirer_id: z
    .union([z.string(), z.number().int().nonnegative().max(99_999_999_999).transform(String)])
    .pipe(z.string().regex(/^\d{1,11}$/, 'must be 1 to 11 digits (ISO 8583 DE32)')),
});

/**
 * A domain name an email may end in: dot-separated labels of letters (any script), digits and
 * inner hyphens, 63 characters each at most; one "@" before it is taken off where the scheme is
 * made. An entry that is none could never match an email, so it is the business's mistake (rewards
 * audit, 2026-12-04: `"not a domain"` was stored).
 */
const domain_label = /^[\p{L}\p{N}](?:[\p{L}\p{N}\p{M}-]{0,61}[\p{L}\p{N}\p{M}])?$/u;
function isDomainName(entry: string): boolean {
  const domain = entry.startsWith('@') ? entry.slice(1) : entry;
  if (domain === '') return true;
  const labels = domain.split('.');
  // A top-level label is never all digits (RFC 3696 2): "10.0.0.1" is an address, and a lone
  // number (a card number among them: a black-box probe found one stored) names no domain.
  return labels.every((label) => domain_label.test(label)) && !/^\d+$/.test(labels.at(-1)!);
}

export const schemeSchema = z.object({
  name: nameSchema,
  signup: z.enum(['auto', 'self', 'email_domain', 'codes']),
  email_domains: nullAbsent(z.array(z.string().trim().min(1).max(253).refine(isDomainName, 'must be a domain name, e.g. example.com')).max(100)),
});
export type SchemeInput = z.infer<typeof schemeSchema>;

/** Either `count` new codes, or `codes` to import (each usable once). */
export const schemeCodesSchema = z
  .object({
    count: nullAbsent(z.number().int().min(1).max(10_000)),
    codes: nullAbsent(z.array(z.string().trim().min(4).max(64)).min(1).max(10_000)),
  })
  .refine((c) => (c.count === undefined) !== (c.codes === undefined), { message: 'exactly one of count or codes', path: ['count'] });

export const signupSchema = z.object({
  contact_id: z.string().min(1).max(64),
  code: nullAbsent(z.string().min(1).max(64)),
});

export const tiersSchema = z
  .array(
    z.object({
      name: z.string().trim().min(1).max(64).refine(...no_card_number),
      min_period_units: z.number().int().min(0).max(1_000_000_000_000),
      period: z.enum(['month', 'quarter', 'year']),
    }),
  )
  .max(20)
  // Unique in any case ("gold" and "Gold" read as one tier to a person), and ranked by their
  // units: two at one threshold left the tier a contact holds to the list's order (a tiers probe).
  .refine((tiers) => new Set(tiers.map((t) => t.name.toLowerCase())).size === tiers.length, 'tier names must be unique (in any case)')
  .refine((tiers) => new Set(tiers.map((t) => t.min_period_units)).size === tiers.length, 'tiers are ranked by min_period_units: no two may have the same');
export type TiersInput = z.infer<typeof tiersSchema>;

/** `POST /v1/contacts/lookup`: a CIM in the body, so a card number never goes in a URL. */
export const contactLookupSchema = z.object({
  cim: cimInputSchema,
});

/**
 * A list's cursor: the id of the last item of the page before. A query string decodes %00 into
 * U+0000, which PostgreSQL cannot compare with text (its error was a 500); no id holds one.
 */
export const cursorSchema = z.string().min(1).max(64).refine((s) => !s.includes('\u0000'), 'must not contain U+0000');

/**
 * A page's `limit` from a query string: decimal digits alone, from 1 to `max`, one rule and one
 * message on every list (Number() took 0x2, 1e0, +5 and " 5" on some lists and not on others).
 */
export function limitSchema(max: number, fallback: number) {
  return limitDigits(max).default(fallback).meta(limitDoc(max, fallback));
}

function limitDigits(max: number) {
  const message = `must be an integer from 1 to ${max}`;
  return z
    .string()
    .regex(/^\d{1,7}$/, message)
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, message);
}

/** What a client sends, as the document says it: a string of digits read as a number said only "string" (a read-back probe). */
function limitDoc(max: number, fallback?: number) {
  return { type: 'integer', minimum: 1, maximum: max, pattern: undefined, ...(fallback === undefined ? {} : { default: fallback }) } as const;
}

/** A page of a list: at most `limit` items after the item `starting_after` (Stripe's cursor). */
export const listQuerySchema = z.object({
  limit: limitSchema(1_000, 100),
  starting_after: cursorSchema.optional(),
});
export type ListQuery = z.infer<typeof listQuerySchema>;

/** A page of any list, as Stripe answers one. */
export interface Page<T> {
  readonly object: 'list';
  readonly data: T[];
  readonly has_more: boolean;
}

/**
 * A page of a list read whole (offers, schemes, webhooks: bounded per business): without `limit`
 * every item, as these lists answered before they took one; with it, Stripe's page.
 */
export const wholeListQuerySchema = z.object({
  limit: limitDigits(1_000).optional().meta(limitDoc(1_000)),
  starting_after: cursorSchema.optional(),
});
export type WholeListQuery = z.infer<typeof wholeListQuerySchema>;

/**
 * The page of `items` (in their list's order) after the one whose id is `starting_after`, at most
 * `limit` (all without one); a cursor naming none of them is 400, as on every list.
 */
export function pageOfList<T extends { readonly id: string }>(items: readonly T[], query: WholeListQuery, what: string): Page<T> {
  let from = 0;
  if (query.starting_after !== undefined) {
    from = items.findIndex((item) => item.id === query.starting_after) + 1;
    if (from === 0) throw new PocketgateError('validation_failed', `starting_after: no ${what} ${query.starting_after} in this business`, [{ path: 'starting_after', message: `must be the id of one of the business's ${what}s` }]);
  }
  const end = query.limit === undefined ? items.length : from + query.limit;
  return { object: 'list', data: items.slice(from, end), has_more: end < items.length };
}

/** The console's dashboard: `since` is the start of "today" in the viewer's zone. */
export const statsQuerySchema = z.object({
  since: queryTimestampSchema.optional(),
});

export const transactionsQuerySchema = z.object({
  limit: limitSchema(100, 20),
  starting_after: cursorSchema.optional(),
});

// Payment processors and their callbacks (spec/EVENTS.md).

export const processorCreateSchema = z.object({
  name: nameSchema,
  award_on: nullDefault(z.enum(['clearing', 'authorization']), 'clearing'),
});
export type ProcessorCreate = z.infer<typeof processorCreateSchema>;

export const callback_event_types = ['transaction.authorized', 'transaction.cleared', 'transaction.refunded', 'transaction.reversed'] as const;
export type CallbackEventType = (typeof callback_event_types)[number];

/** An event id: the processor's, replayed by; bounded like any input. */
export const callbackEventIdSchema = z.string().min(1).max(255).refine((id) => !holdsUnstorable(id), unstorable_message);
const processorTransactionIdSchema = z.string().min(1).max(64);
/**
 * A merchant's `code` as a processor names it. Longer than any code a merchant can have (15): a
 * code that names no merchant is an unknown merchant (ignored, `not_found`: EVENTS.md), not a
 * malformed event; bounded like the processor's transaction ids.
 */
const merchantCodeSchema = z.string().min(1).max(64);
/**
 * A processor's currency: three capital letters. One the business does not run, ISO 4217 or not
 * ('USD' at a EUR business, 'ZZZ'), is ignored (validation_failed: EVENTS.md), not a malformed event.
 */
const callbackCurrencySchema = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 alphabetic code, e.g. EUR');

export const callbackEnvelopeSchema = z.object({
  id: callbackEventIdSchema,
  type: z.enum(callback_event_types),
  created_at: nullAbsent(timestampSchema),
  data: z.record(z.string(), z.unknown()),
});

/** transaction.authorized and transaction.cleared: a sale, by card number or by CIM (exactly one). */
/**
 * Shown with the transaction and sent in webhooks: what reads as a card number in it is kept
 * masked (a PAN probe found one stored and sent whole). Not refused: the field is for display, and
 * a refused event's sale would never be booked (a processor does not retry a `rejected`).
 */
const processorTerminalCodeSchema = z.string().min(1).max(64).transform(maskCardNumbers);

export const callbackSaleSchema = z
  .object({
    transaction_id: processorTransactionIdSchema,
    card: nullAbsent(z.object({ number: z.string().min(1).max(64) })),
    cim: nullAbsent(cimInputSchema),
    amount: positiveAmountSchema,
    currency: callbackCurrencySchema,
    merchant_code: merchantCodeSchema,
    terminal_code: nullAbsent(processorTerminalCodeSchema),
    occurred_at: nullAbsent(timestampSchema),
    items: nullAbsent(z.array(callbackItemSchema).max(500)),
  })
  .refine((s) => (s.card === undefined) !== (s.cim === undefined), { message: 'exactly one of card or cim', path: ['card'] });
export type CallbackSale = z.infer<typeof callbackSaleSchema>;

export const callbackRefundSchema = z.object({
  transaction_id: processorTransactionIdSchema,
  original_transaction_id: processorTransactionIdSchema,
  amount: positiveAmountSchema,
  currency: callbackCurrencySchema,
  merchant_code: merchantCodeSchema,
  terminal_code: nullAbsent(processorTerminalCodeSchema),
});
export type CallbackRefund = z.infer<typeof callbackRefundSchema>;

export const callbackReversalSchema = z.object({ transaction_id: processorTransactionIdSchema });
