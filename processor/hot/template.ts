// Replies and journal entries are JSON written by Node with holes for what only the script knows
// (the balances after, amounts it decided, postings), which lib.lua's fill replaces: a hole is
// \u0001name\u0001 (\u0002name\u0002: a field the script may leave out, Hole.optional), name of
// letters and digits (fill matches %w+). JSON.stringify escapes control
// characters, so no value Node writes (a client's reference among them) can contain a hole.

declare const holes_brand: unique symbol;

/** JSON with holes among H (the names the script fills); made only by template(). */
export type Template<H extends string> = string & { readonly [holes_brand]: H };

/** Where a hole goes in the JSON, and what the script writes into it. */
export class Hole<H extends string> {
  private constructor(
    readonly name: H,
    /** The JSON text standing for the value: the hole, with what surrounds it. */
    readonly text: string,
    /** The field's name and comma are the script's to write, or not: see `optional`. */
    readonly optional = false,
  ) {}

  private static mark(name: string, mark = '\u0001'): string {
    if (!/^[A-Za-z0-9]+$/.test(name)) throw new Error(`a hole's name is letters and digits (lib.lua's fill matches %w+): ${JSON.stringify(name)}`);
    return `${mark}${name}${mark}`;
  }

  /** A number, or any JSON value, the script writes whole. */
  static json<H extends string>(name: H): Hole<H> {
    return new Hole(name, Hole.mark(name));
  }

  /** A string whose characters the script knows need no escaping (ids, kind names). */
  static str<H extends string>(name: H): Hole<H> {
    return new Hole(name, `"${Hole.mark(name)}"`);
  }

  /** An array whose elements the script writes, joined by commas. */
  static list<H extends string>(name: H): Hole<H> {
    return new Hole(name, `[${Hole.mark(name)}]`);
  }

  /**
   * A field the script writes whole, its comma and name with it (`,"name":value`), or leaves out
   * (''): most entries then keep their bytes (a purchase's `settled`, present only where an award
   * paid commerce debt). Never a template's first field.
   */
  static optional<H extends string>(name: H): Hole<H> {
    // Its own mark (\u0002): a refusal's entry (lib.lua refusalJson) writes null into the others
    // and leaves these out.
    return new Hole(name, Hole.mark(name, '\u0002'), true);
  }

  /** The wallet after the transaction, as every reply ends: filled by lib.lua's commit. */
  static readonly wallet: Hole<WalletHole> = new Hole<WalletHole>('open', `{"open":${Hole.mark('open')},"commerce":${Hole.mark('commerce')}}`);
}

/** The holes lib.lua's commit fills in every reply: the balances after the transaction. */
export type WalletHole = 'open' | 'commerce';

/** `T` with the fields `K` left as holes among `H`. */
export type Holed<T, K extends keyof T, H extends string> = { readonly [P in keyof T]: P extends K ? Hole<H> : T[P] };

/**
 * `fields` as JSON, in their order, holes left as holes: what JSON.stringify writes of it
 * otherwise (undefined fields left out). Field names are our own (no escaping needed).
 */
export function template<H extends string>(fields: object): Template<H> {
  let out = '{';
  for (const name in fields) {
    const value: unknown = (fields as Readonly<Record<string, unknown>>)[name];
    if (value === undefined) continue;
    if (value instanceof Hole && value.optional) {
      if (out.length === 1) throw new Error(`an optional hole is never a template's first field: ${name}`);
      out += value.text;
      continue;
    }
    if (out.length > 1) out += ',';
    out += '"' + name + '":' + (value instanceof Hole ? value.text : JSON.stringify(value));
  }
  return (out + '}') as Template<H>;
}
