// JSON with exact integers past 2^53: a report's totals (core/money.ts ExactAmount) are written
// as their digits, which JSON allows at any length (API.md: money is an integer, never a float).
// JSON.stringify refuses a bigint; a float would be off. Everything else is written as
// JSON.stringify writes it, which writes a reply without a bigint alone (the common case).

import type { Context } from 'hono';

/** `value` as JSON, a bigint as its digits. */
export function exactJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    // "Do not know how to serialize a BigInt"; anything else is not ours to write.
    if (!(err instanceof TypeError)) throw err;
  }
  return written(value);
}

/** The reply `value` as c.json answers it, exactly (exactJson). */
export function answerExact(c: Context, value: unknown): Response {
  return c.body(exactJson(value), 200, { 'content-type': 'application/json' });
}

const skipped = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

function written(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return `[${v.map((x) => (skipped(x) ? 'null' : written(x))).join(',')}]`;
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
    const fields = Object.entries(v).filter(([, x]) => !skipped(x));
    return `{${fields.map(([k, x]) => `${JSON.stringify(k)}:${written(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
