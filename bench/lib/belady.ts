/**
 * The hit count of Belady's optimal offline policy (MIN) on a recorded trace: the most hits any
 * demand-fetch cache of `capacity` entries can get on it, the limit the cache strategies are
 * measured against (bench/cache_strategies.ts).
 *
 * With a TTL (`ttlMs`), an entry loaded at time t is fresh until t + ttlMs (a hit does not
 * extend it, as in the compared caches) and a request after that is a miss. MIN then evicts the
 * entry whose next request *while still fresh* is furthest away: an entry that expires before
 * its next request, or is never requested again, is worth nothing and goes first. A loaded value
 * whose next request comes after its expiry (or never) is not kept at all (MIN may bypass).
 *
 * @module
 */

/** One request of a trace: the key and when it was made (ms, any origin). */
export interface TraceRequest {
  key: string;
  atMs: number;
}

/** Options of {@link beladyHits}. */
export interface BeladyOptions {
  /** Entries the cache holds; `Infinity` for no capacity limit (then only the TTL misses). */
  capacity: number;
  /** Fresh window of a loaded entry, ms. @default Infinity (never expires) */
  ttlMs?: number;
}

/** A max-heap of (priority, key) with lazy deletion (stale pairs are skipped when popped). */
class MaxHeap {
  #items: { priority: number; key: string }[] = [];
  get size(): number {
    return this.#items.length;
  }
  push(priority: number, key: string): void {
    const a = this.#items;
    a.push({ priority, key });
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent].priority >= a[i].priority) break;
      [a[parent], a[i]] = [a[i], a[parent]];
      i = parent;
    }
  }
  pop(): { priority: number; key: string } | undefined {
    const a = this.#items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l].priority > a[m].priority) m = l;
        if (r < a.length && a[r].priority > a[m].priority) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Hits of Belady's MIN (TTL-aware, see the module doc) on `trace`.
 *
 * @example
 * ```ts
 * const trace = ['a', 'b', 'c', 'a', 'b'].map((key, i) => ({ key, atMs: i }));
 * beladyHits(trace, { capacity: 2 }); // 2 (keep a and b, bypass c)
 * ```
 */
export function beladyHits(trace: TraceRequest[], options: BeladyOptions): number {
  const { capacity } = options;
  const ttlMs = options.ttlMs ?? Infinity;
  if (!(capacity >= 0)) throw new RangeError(`'capacity' must be >= 0: received ${capacity}`);
  if (!(ttlMs > 0)) throw new RangeError(`'ttlMs' must be > 0: received ${ttlMs}`);
  const n = trace.length;
  // next[i]: index of the next request for trace[i].key, or n when there is none.
  const next = new Int32Array(n);
  const seen = new Map<string, number>();
  for (let i = n - 1; i >= 0; i--) {
    next[i] = seen.get(trace[i].key) ?? n;
    seen.set(trace[i].key, i);
  }
  // Cached entries: key -> { expiresAt, priority } where priority is the index of the entry's
  // next useful request (Infinity when it has none); the heap holds (priority, key) pairs.
  const cached = new Map<string, { expiresAt: number; priority: number }>();
  const heap = new MaxHeap();
  const usefulNext = (i: number, expiresAt: number) =>
    next[i] < n && trace[next[i]].atMs < expiresAt ? next[i] : Infinity;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const { key, atMs } = trace[i];
    const entry = cached.get(key);
    if (entry && entry.expiresAt > atMs) {
      hits++;
      entry.priority = usefulNext(i, entry.expiresAt);
      heap.push(entry.priority, key);
      continue;
    }
    if (entry) cached.delete(key); // expired: reload
    const expiresAt = atMs + ttlMs;
    const priority = usefulNext(i, expiresAt);
    if (priority === Infinity || capacity === 0) continue; // worth nothing: bypass
    if (cached.size >= capacity) {
      // The entry with the furthest next useful request (fresh priorities only).
      let victim: { priority: number; key: string } | undefined;
      while ((victim = heap.pop())) {
        const current = cached.get(victim.key);
        if (current && current.priority === victim.priority) break;
      }
      if (!victim || victim.priority <= priority) {
        if (victim) heap.push(victim.priority, victim.key);
        continue; // every cached entry is needed sooner than this one: bypass
      }
      cached.delete(victim.key);
    }
    cached.set(key, { expiresAt, priority });
    heap.push(priority, key);
  }
  return hits;
}
