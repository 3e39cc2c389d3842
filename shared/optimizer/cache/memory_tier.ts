/**
 * The memory tier: an LRU map bounded by entries and by estimated bytes. A `Map` keeps
 * insertion order, so re-inserting on read marks an entry most recently used and the first key
 * is the least recently used one.
 *
 * @module
 */

/** One cached value with its windows (absolute ms) and bookkeeping. */
export interface CacheEntry {
  value: unknown;
  /** When the origin produced the value. */
  storedAt: number;
  /** Fresh until; then stale. */
  freshUntil: number;
  /** Stale entries are served while revalidating until then. */
  staleUntil: number;
  /** Stale entries replace origin errors until then. */
  errorUntil: number;
  /** Version written with the value; compared when re-checking the Redis tier. */
  version: string;
  /** When this isolate last saw the value in the Redis tier (or wrote it). */
  checkedAt: number;
  /** Origin time the value cost, credited as time saved on each hit. */
  originMs: number;
  /** Tags, for invalidation by tag. */
  tags?: string[];
  /** Written by a pre-warm and not read since. */
  prewarmed: boolean;
  /** Estimated bytes. */
  bytes: number;
  /** Reads of this entry in this isolate since it was stored. */
  hits: number;
}

/** Estimated size of a value: JSON text length x 2 (UTF-16) plus the key and a fixed overhead. */
export function estimateBytes(key: string, json: string): number {
  return (json.length + key.length) * 2 + 96;
}

/**
 * LRU bounded by `maxEntries` and `maxBytes`.
 *
 * @example
 * ```ts
 * const tier = new MemoryTier(1000, 1 << 20);
 * tier.set('k', entry);
 * tier.get('k');
 * ```
 */
export class MemoryTier {
  #entries = new Map<string, CacheEntry>();
  #bytes = 0;
  #maxEntries: number;
  #maxBytes: number;
  /** Called for each entry evicted to make room (not for deletes). */
  onEvict?: (key: string, entry: CacheEntry) => void;

  constructor(maxEntries: number, maxBytes: number) {
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  /** The entry, marked most recently used. */
  get(key: string): CacheEntry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry;
  }

  /** The entry, without touching its recency. */
  peek(key: string): CacheEntry | undefined {
    return this.#entries.get(key);
  }

  /** Stores an entry, evicting least recently used ones beyond either bound. */
  set(key: string, entry: CacheEntry): void {
    this.delete(key);
    if (entry.bytes > this.#maxBytes) return; // larger than the whole tier: Redis tier only
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const [oldestKey, oldest] = this.#entries.entries().next().value as [string, CacheEntry];
      this.#entries.delete(oldestKey);
      this.#bytes -= oldest.bytes;
      this.onEvict?.(oldestKey, oldest);
    }
  }

  /** Removes an entry; whether it existed. */
  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    return true;
  }

  /** Keys carrying `tag`. */
  keysWithTag(tag: string): string[] {
    const out: string[] = [];
    for (const [key, entry] of this.#entries) if (entry.tags?.includes(tag)) out.push(key);
    return out;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }
}
