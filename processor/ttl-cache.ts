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
  private readonly keep_missing: boolean;

  /** `keep_missing` false: a miss is read again every time (what is missing may be made any moment, elsewhere). */
  constructor(
    private readonly read: (key: string) => Promise<V | undefined>,
    options: { readonly ttl_ms: number; readonly found_max: number; readonly missing_max: number; readonly keep_missing?: boolean },
  ) {
    this.found = new TtlCache(options.found_max, options.ttl_ms);
    this.missing = new TtlCache(options.missing_max, options.ttl_ms);
    this.keep_missing = options.keep_missing ?? true;
  }

  get(key: string): Promise<V | undefined> {
    const now = Date.now();
    const hit = this.found.get(key, now);
    if (hit !== undefined) return Promise.resolve(hit);
    if (this.missing.has(key, now)) return Promise.resolve(undefined);
    let reading = this.reading.get(key);
    if (reading === undefined) {
      const mine: Promise<V | undefined> = this.readAndKeep(key).finally(() => {
        // Only its own: a delete may have let a newer read take its place.
        if (this.reading.get(key) === mine) this.reading.delete(key);
      });
      reading = mine;
      this.reading.set(key, reading);
    }
    return reading;
  }

  /**
   * Forget `key`: the next get reads afresh. A read already in flight (begun before what made the
   * caller forget, a write) is neither shared with later gets nor kept when it settles.
   */
  delete(key: string): void {
    this.found.delete(key);
    this.missing.delete(key);
    this.reading.delete(key);
    this.forgotten++;
  }

  clear(): void {
    this.found.clear();
    this.missing.clear();
    this.reading.clear();
    this.forgotten++;
  }

  /** Bumped by every delete and clear: a read begun before one is not kept. */
  private forgotten = 0;

  private async readAndKeep(key: string): Promise<V | undefined> {
    const forgotten = this.forgotten;
    const value = await this.read(key);
    if (this.forgotten === forgotten) {
      if (value === undefined) {
        if (this.keep_missing) this.missing.set(key, true, Date.now());
      }
      else this.found.set(key, value, Date.now());
    }
    return value;
  }
}
