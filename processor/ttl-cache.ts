// A small in-process cache with a time to live and a size bound: at most `max_entries`, the
// oldest written evicted first, so a flood of distinct misses (unknown API keys) costs memory
// that is bounded and never pushes out more than it adds. Pure: the caller gives the time.

export class TtlCache<V> {
  private readonly entries = new Map<string, { readonly value: V; readonly expires_ms: number }>();

  constructor(
    private readonly max_entries: number,
    private readonly ttl_ms: number,
  ) {
    if (!Number.isInteger(max_entries) || max_entries < 1) throw new RangeError('max_entries must be a positive integer');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The live value, or undefined (expired entries are dropped as they are found). */
  get(key: string, now_ms: number): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires_ms > now_ms) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  has(key: string, now_ms: number): boolean {
    return this.get(key, now_ms) !== undefined;
  }

  set(key: string, value: V, now_ms: number): void {
    // Re-inserted at the end: Map keeps insertion order, so the first key is the oldest written.
    this.entries.delete(key);
    if (this.entries.size >= this.max_entries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expires_ms: now_ms + this.ttl_ms });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * A read through two TtlCaches: what was found, and what was not (kept apart and bounded on its
 * own, so misses never evict hits). Concurrent reads of one key share one read.
 */
export class CachedLookup<V> {
  private readonly found: TtlCache<V>;
  private readonly missing: TtlCache<true>;
  /** Bounded by the requests in flight: each adds at most one, removed when its read settles. */
  private readonly reading = new Map<string, Promise<V | undefined>>();

  constructor(
    private readonly read: (key: string) => Promise<V | undefined>,
    options: { readonly ttl_ms: number; readonly found_max: number; readonly missing_max: number },
  ) {
    this.found = new TtlCache(options.found_max, options.ttl_ms);
    this.missing = new TtlCache(options.missing_max, options.ttl_ms);
  }

  get(key: string): Promise<V | undefined> {
    const now = Date.now();
    const hit = this.found.get(key, now);
    if (hit !== undefined) return Promise.resolve(hit);
    if (this.missing.has(key, now)) return Promise.resolve(undefined);
    let reading = this.reading.get(key);
    if (reading === undefined) {
      reading = this.readAndKeep(key);
      this.reading.set(key, reading);
    }
    return reading;
  }

  delete(key: string): void {
    this.found.delete(key);
    this.missing.delete(key);
  }

  clear(): void {
    this.found.clear();
    this.missing.clear();
  }

  private async readAndKeep(key: string): Promise<V | undefined> {
    try {
      const value = await this.read(key);
      if (value === undefined) this.missing.set(key, true, Date.now());
      else this.found.set(key, value, Date.now());
      return value;
    } finally {
      this.reading.delete(key);
    }
  }
}
