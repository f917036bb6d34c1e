// PostgreSQL text and jsonb cannot hold U+0000 nor a UTF-16 surrogate outside a pair: such a
// string would fail on insert (a 500, or a journal entry the ledger writer can never record), or
// on a comparison (a lookup by it read as an outage: a 503 for bad input), so it is refused as
// input wherever a client's string enters.

export const unstorable_char = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const unstorable_message = 'must not contain U+0000 or unpaired surrogates';

/** Whether `text` holds a character no store can hold. */
export function holdsUnstorable(text: string): boolean {
  return unstorable_char.test(text);
}
