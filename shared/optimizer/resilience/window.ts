/**
 * A sliding window of counters split in fixed buckets (a ring), shared by the retry budget and
 * the circuit breaker. Recording is O(1) amortised, allocates nothing, and needs no timer: old
 * buckets are cleared lazily when time moves on.
 *
 * @module
 */

/**
 * Counts events of a few kinds (`width` counters) over the last `windowMs`.
 *
 * @example
 * ```ts
 * const w = new BucketWindow(10_000, 10, 2); // calls, failures over 10 s
 * w.add(Date.now(), 0); // one call
 * w.total(0); // 1
 * ```
 */
export class BucketWindow {
  readonly #bucketMs: number;
  readonly #buckets: number;
  readonly #width: number;
  readonly #counts: Float64Array;
  readonly #totals: Float64Array;
  #current = -1;

  constructor(windowMs: number, buckets: number, width: number) {
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new RangeError(`'windowMs' must be a finite number > 0: received ${windowMs}`);
    }
    this.#bucketMs = windowMs / buckets;
    this.#buckets = buckets;
    this.#width = width;
    this.#counts = new Float64Array(buckets * width);
    this.#totals = new Float64Array(width);
  }

  #advance(now: number): number {
    const index = Math.floor(now / this.#bucketMs);
    if (index === this.#current) return index;
    if (this.#current < 0 || index - this.#current >= this.#buckets || index < this.#current) {
      this.reset();
    } else {
      for (let i = this.#current + 1; i <= index; i++) {
        const base = (i % this.#buckets) * this.#width;
        for (let k = 0; k < this.#width; k++) {
          this.#totals[k] -= this.#counts[base + k];
          this.#counts[base + k] = 0;
        }
      }
    }
    this.#current = index;
    return index;
  }

  /** Adds `by` (default 1) to counter `kind` at time `now`. */
  add(now: number, kind: number, by = 1): void {
    const index = this.#advance(now);
    this.#counts[(index % this.#buckets) * this.#width + kind] += by;
    this.#totals[kind] += by;
  }

  /** The total of counter `kind` over the window ending at `now` (default: the last update). */
  total(kind: number, now?: number): number {
    if (now !== undefined) this.#advance(now);
    return this.#totals[kind];
  }

  /** Forgets everything. */
  reset(): void {
    this.#counts.fill(0);
    this.#totals.fill(0);
  }
}
