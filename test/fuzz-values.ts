// The fuzzer's values (test/fuzz.test.ts): JSON bodies built from the OpenAPI document's schemas,
// valid enough to reach past the first check, then mutated where clients go wrong or attack:
// wrong types, huge, negative and fractional money, NaN-like strings, deep nesting, very long
// strings, unicode edge cases, duplicate keys, extra fields, arrays for objects, empty bodies.
// Pure fast-check arbitraries: the same seed gives the same cases.

import fc from 'fast-check';

/** A JSON Schema as /openapi.json spells it (the subset zod's document uses). */
export interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
  readonly enum?: readonly unknown[];
  readonly anyOf?: readonly JsonSchema[];
  readonly oneOf?: readonly JsonSchema[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly maxItems?: number;
  readonly pattern?: string;
  readonly format?: string;
}

/** Values a field of this name should hold to get past "unknown id" (ids, cards, codes of the fuzzer's businesses). */
export type Hints = Readonly<Record<string, readonly unknown[]>>;

const rtl = '\u202Eevil\u202C';
/** Strings that are wrong in some interesting way wherever they go. */
export const weird_strings: readonly string[] = [
  '', ' ', '0', '-1', '1e309', 'NaN', 'Infinity', '-Infinity', 'null', 'undefined', 'true', '[]', '{}',
  '\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '\ud83d\ude00', rtl, '\u200b', '\ufeff', 'é'.normalize('NFD'),
  '%00', '%s%n', '../../etc/passwd', "' or 1=1 --", '<script>', '${7*7}', '\\', '"', '\r\n', '\t',
  '4111111111111111', '4111 1111 1111 1111', '2026-02-30T25:61:61Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:60Z',
  '10000-01-01T00:00:00Z', '2026-11-24T10:15:00+25:00', '2026-11-24T10:15:00.1234567891234Z', '1970-01-01T00:00:00Z',
  'x'.repeat(255), 'x'.repeat(65), '9'.repeat(40), 'ä'.repeat(300), '\ud83d\ude00'.repeat(70),
];

/** Numbers at the edges of money and counts, and past them. */
export const weird_numbers: readonly number[] = [
  0, -0, -1, 1, 0.5, -0.01, 1.0000001, 2 ** 31, 2 ** 31 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 999_999_999_999, 1_000_000_000_000,
  1e21, 1e308, -1e308, Number.MIN_VALUE, 5e-324, 123456789.123,
];

/** Any odd JSON value: what a field should not hold. */
export const weird_value: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...weird_strings),
  fc.constantFrom(...weird_numbers),
  fc.constantFrom(null, true, false, [], {}, [[]], { '': null }, ['a', 1, null], { __proto__: 1 }, { constructor: { prototype: 1 } }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer({ min: 64, max: 3_000 }).map((n) => 'y'.repeat(n)),
  fc.integer({ min: 2, max: 200 }).map((n) => nest(n)),
  fc.anything({ maxDepth: 3, maxKeys: 4 }),
);

/** An array `depth` deep. */
function nest(depth: number): unknown {
  let v: unknown = 'deep';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function typeOf(schema: JsonSchema): string | undefined {
  const t = schema.type;
  if (Array.isArray(t)) return t.find((x) => x !== 'null');
  return t as string | undefined;
}

function stringOf(schema: JsonSchema): fc.Arbitrary<string> {
  if (schema.pattern !== undefined) {
    try {
      return fc.stringMatching(new RegExp(schema.pattern));
    } catch {
      // a pattern fast-check cannot read: any short string
    }
  }
  const min = schema.minLength ?? 0;
  const max = Math.min(schema.maxLength ?? 24, min + 24);
  return fc.string({ minLength: min, maxLength: max, unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.@ ') });
}

/** A value as the schema describes it (hinted by its field's name where the fuzzer knows good ones). */
export function valueOf(schema: JsonSchema, hints: Hints, name = '', depth = 0): fc.Arbitrary<unknown> {
  const hinted = hints[name];
  const plain = plainValueOf(schema, hints, depth);
  if (hinted !== undefined && hinted.length > 0) return fc.oneof({ arbitrary: fc.constantFrom(...hinted), weight: 4 }, { arbitrary: plain, weight: 1 });
  return plain;
}

function plainValueOf(schema: JsonSchema, hints: Hints, depth: number): fc.Arbitrary<unknown> {
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants !== undefined) return fc.oneof(...variants.map((s) => valueOf(s, hints, '', depth)));
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  switch (typeOf(schema)) {
    case 'object':
      return objectOf(schema, hints, depth);
    case 'array': {
      if (depth > 4 || schema.items === undefined) return fc.constant([]);
      return fc.array(valueOf(schema.items, hints, '', depth + 1), { maxLength: Math.min(schema.maxItems ?? 3, 3) });
    }
    case 'integer':
      return fc.integer({ min: Math.max(schema.minimum ?? 0, -1e6), max: Math.min(schema.maximum ?? 100_000, 100_000) });
    case 'number':
      return fc.double({ min: Math.max(schema.minimum ?? 0, -1e6), max: Math.min(schema.maximum ?? 100, 100), noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'string':
      return stringOf(schema);
    default:
      return fc.constant('x');
  }
}

function objectOf(schema: JsonSchema, hints: Hints, depth: number): fc.Arbitrary<unknown> {
  const props = schema.properties ?? {};
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [key, s] of Object.entries(props)) model[key] = valueOf(s, hints, key, depth + 1);
  const required = (schema.required ?? []).filter((k) => k in model);
  return fc.record(model, { requiredKeys: required });
}

/** One change to a JSON value at a path chosen by `pick` (0..1): replace, delete, add a field, wrap in an array. */
export type Mutation =
  | { readonly kind: 'replace'; readonly pick: number; readonly value: unknown }
  | { readonly kind: 'delete'; readonly pick: number }
  | { readonly kind: 'extra'; readonly pick: number; readonly key: string; readonly value: unknown }
  | { readonly kind: 'arrayify'; readonly pick: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('replace' as const), pick: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), value: weird_value }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }) }), weight: 2 },
  {
    arbitrary: fc.record({
      kind: fc.constant('extra' as const),
      pick: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      key: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'business_id', 'id', 'status', 'admin_key', '', '\u0000', 'amount'), fc.string({ maxLength: 8 })),
      value: weird_value,
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('arrayify' as const), pick: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }) }), weight: 1 },
);

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };

function slots(value: unknown, out: Slot[] = []): Slot[] {
  if (Array.isArray(value)) value.forEach((v, i) => (out.push({ parent: value, key: i }), slots(v, out)));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) (out.push({ parent: value as Record<string, unknown>, key: k }), slots(v, out));
  return out;
}

/** `value` with `m` applied (on a deep copy). The root itself may be replaced. */
export function mutate(value: unknown, m: Mutation): unknown {
  const copy = value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  const all = slots(copy);
  if (all.length === 0 || (m.kind === 'replace' && m.pick < 0.05)) return m.kind === 'replace' ? m.value : m.kind === 'arrayify' ? [copy] : copy;
  const slot = all[Math.floor(m.pick * all.length)]!;
  const parent = slot.parent as Record<string | number, unknown>;
  switch (m.kind) {
    case 'replace':
      parent[slot.key] = m.value;
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(slot.key as number, 1);
      else delete parent[slot.key];
      break;
    case 'extra': {
      const target = parent[slot.key];
      if (target !== null && typeof target === 'object' && !Array.isArray(target)) Object.defineProperty(target, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
      else if (copy !== null && typeof copy === 'object' && !Array.isArray(copy)) Object.defineProperty(copy, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
      break;
    }
    case 'arrayify':
      parent[slot.key] = [parent[slot.key]];
      break;
  }
  return copy;
}

/** How the JSON text is then spoilt, if at all. */
export type TextSpoil = 'none' | 'duplicate_key' | 'truncate' | 'trailing' | 'bom' | 'empty' | 'not_utf8' | 'huge' | 'deep' | 'whitespace' | 'number_literal';

export const text_spoil: fc.Arbitrary<TextSpoil> = fc.oneof(
  { arbitrary: fc.constant('none' as const), weight: 30 },
  { arbitrary: fc.constantFrom<TextSpoil>('duplicate_key', 'truncate', 'trailing', 'bom', 'empty', 'not_utf8', 'huge', 'deep', 'whitespace', 'number_literal'), weight: 5 },
);

/** The body's bytes: `value` as JSON, spoilt as `spoil` says. */
export function bodyBytes(value: unknown, spoil: TextSpoil): Buffer {
  const text = value === undefined ? '' : JSON.stringify(value);
  switch (spoil) {
    case 'none':
      return Buffer.from(text);
    case 'duplicate_key':
      // The first key again with another value at the end: JSON.parse keeps the last.
      return Buffer.from(text.startsWith('{') && text.length > 2 ? `${text.slice(0, -1)},"${firstKey(text)}":-1}` : `{"a":1,"a":2}`);
    case 'truncate':
      return Buffer.from(text.slice(0, Math.floor(text.length / 2)));
    case 'trailing':
      return Buffer.from(`${text} {}`);
    case 'bom':
      return Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
    case 'empty':
      return Buffer.alloc(0);
    case 'not_utf8':
      return Buffer.concat([Buffer.from(text.slice(0, 3)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(text.slice(3))]);
    case 'huge':
      return Buffer.from(`{"pad":"${'z'.repeat(70_000)}"}`);
    case 'deep':
      return Buffer.from(`{"reference":${'['.repeat(20_000)}1${']'.repeat(20_000)}}`);
    case 'whitespace':
      return Buffer.from(`\n\t ${text}\r\n `);
    case 'number_literal':
      return Buffer.from(text.replace(/:(\d+)/, ':1e999').replace(/^\{/, '{"n":-0.0e-0,'));
  }
}

function firstKey(text: string): string {
  const m = /^\{"((?:[^"\\]|\\.)*)"/.exec(text);
  return m?.[1] ?? 'a';
}

/** A Content-Type (or none) and other headers a client might send. */
export const odd_headers: fc.Arbitrary<Record<string, string>> = fc.oneof({ arbitrary: fc.constant({ 'content-type': 'application/json' }), weight: 6 }, { arbitrary: fc.record(
  {
    'content-type': fc.constantFrom(
      'application/json', 'application/json', 'application/json', 'application/json; charset=utf-8', 'application/json; charset=UTF-16', 'application/json;charset="utf-8"',
      'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/vnd.api+json', 'application/x-ndjson', '', ';', 'application/json; charset=',
      'APPLICATION/JSON', 'application/json; boundary=\u00ff',
    ),
    'content-encoding': fc.constantFrom('gzip', 'identity', 'br', ''),
    accept: fc.constantFrom('application/json', 'text/html', '*/*', 'application/xml'),
    'idempotency-key': fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x20-\x7e]/g, 'x')),
    'x-forwarded-for': fc.constantFrom('1.2.3.4', 'garbage', '::1, 10.0.0.1', ''),
    'accept-charset': fc.constantFrom('iso-8859-1', 'utf-8'),
  },
  { requiredKeys: [] },
), weight: 2 });
