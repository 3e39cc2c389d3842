/**
 * Memory: a sliding window with `@upstash/ratelimit`'s arithmetic, per isolate (the embedded
 * default, and the Upstash limiter's fallback while Redis fails).
 *
 * @module
 */
import type { CallerRateLimiter, CallerTier, RateLimitDecision } from './types.ts';

interface WindowState {
  window: number;
  current: number;
  previous: number;
}

/** Options of {@link MemorySlidingWindow}. */
export interface MemorySlidingWindowOptions {
  /** Length of the window, ms. @default 60000 */
  windowMs?: number;
  /** Identifiers tracked; the least recently seen are forgotten beyond it. @default 100000 */
  maxIdentifiers?: number;
  /** Clock. @default Date.now */
  now?: () => number;
}

/**
 * An in-memory sliding window (the embedded default, and the fallback while Redis fails): the
 * count of the previous window, weighted by how much of it still overlaps, plus the current one.
 *
 * @example
 * ```ts
 * const window = new MemorySlidingWindow({ windowMs: 1000 });
 * (await window.limit('ip:203.0.113.7', 'anon', 10)).success; // true
 * ```
 */
export class MemorySlidingWindow implements CallerRateLimiter {
  readonly backend = 'memory';
  readonly windowMs: number;
  #max: number;
  #now: () => number;
  #states = new Map<string, WindowState>();

  constructor(options: MemorySlidingWindowOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    if (!Number.isFinite(this.windowMs) || this.windowMs <= 0) {
      throw new RangeError(`'windowMs' must be a finite number > 0: received ${this.windowMs}`);
    }
    this.#max = options.maxIdentifiers ?? 100_000;
    if (!Number.isInteger(this.#max) || this.#max < 1) {
      throw new RangeError(`'maxIdentifiers' must be an integer >= 1: received ${this.#max}`);
    }
    this.#now = options.now ?? Date.now;
  }

  /** Identifiers currently tracked. */
  get size(): number {
    return this.#states.size;
  }

  limit(identifier: string, tier: CallerTier, limit: number): Promise<RateLimitDecision> {
    return Promise.resolve(this.limitSync(`${tier}:${identifier}`, limit));
  }

  /** The same decision, synchronously. */
  limitSync(key: string, limit: number): RateLimitDecision {
    const now = this.#now();
    const window = Math.floor(now / this.windowMs);
    let state = this.#states.get(key);
    if (state) {
      this.#states.delete(key); // re-inserted below: the map's order is recency
      if (state.window !== window) {
        state = {
          window,
          previous: state.window === window - 1 ? state.current : 0,
          current: 0,
        };
      }
    } else {
      state = { window, current: 0, previous: 0 };
    }
    this.#states.set(key, state);
    while (this.#states.size > this.#max) {
      this.#states.delete(this.#states.keys().next().value!);
    }
    const overlap = 1 - (now - window * this.windowMs) / this.windowMs;
    const used = Math.floor(state.previous * overlap) + state.current;
    const reset = (window + 1) * this.windowMs;
    if (used >= limit) return { success: false, limit, remaining: 0, reset };
    state.current++;
    return { success: true, limit, remaining: Math.max(0, limit - used - 1), reset };
  }
}
