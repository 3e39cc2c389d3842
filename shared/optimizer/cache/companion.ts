/**
 * The rate token of an origin call, counted in the cache's read (see `ExecuteOptions.companion`)
 * and handed to the throttle's shared rate window, so that a cold miss costs the store one read
 * and one write instead of a third request for the window.
 *
 * {@link CompanionRateWindow} sits in front of the throttle's shared window: the next admission
 * asked for a resource takes a decision the cache's read already counted, if one is waiting and
 * is not older than the window; otherwise it asks the shared window as before. The counters are
 * the same Redis keys either way (`@upstash/ratelimit`'s sliding window), so isolates and calls
 * that take either path count together.
 *
 * @module
 */
import type { CompanionRate } from './types.ts';

/** A rate decision as the throttle's windows give it (`resilience/rate_window.ts`). */
export interface CompanionRateDecision {
  success: boolean;
  remaining: number;
  retryAfterMs: number;
  failOpen?: 'timeout' | 'error';
}

/** The throttle's shared window (`RateWindow` of `resilience/rate_window.ts`). */
export interface SharedRateWindow {
  limit(identifier: string, limit: number): CompanionRateDecision | Promise<CompanionRateDecision>;
}

/**
 * A shared rate window that first hands out decisions counted in cache reads.
 *
 * @example
 * ```ts
 * const window = new CompanionRateWindow(upstashWindow, 1000);
 * window.keep('robots_api', { success: true, remaining: 99, at: Date.now() });
 * window.limit('robots_api', 100); // the kept decision, no store call
 * ```
 */
export class CompanionRateWindow implements SharedRateWindow {
  readonly #inner: SharedRateWindow;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #kept = new Map<string, CompanionRate[]>();

  /**
   * @param inner the shared window asked when no counted decision waits
   * @param windowMs the window's length: a kept decision older than it is dropped
   * @param now clock in ms. @default Date.now
   */
  constructor(inner: SharedRateWindow, windowMs: number, now: () => number = Date.now) {
    if (!Number.isFinite(windowMs) || windowMs < 1) {
      throw new RangeError(`'windowMs' must be a finite number >= 1: received ${windowMs}`);
    }
    this.#inner = inner;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** Keeps a decision a cache read counted for `identifier`, for its next admission. */
  keep(identifier: string, rate: CompanionRate): void {
    let queue = this.#kept.get(identifier);
    if (queue === undefined) {
      if (this.#kept.size >= 10_000) this.#kept.clear();
      this.#kept.set(identifier, queue = []);
    }
    if (queue.length < 1_000) queue.push(rate);
  }

  /** How many counted decisions wait for `identifier` (tests). */
  waiting(identifier: string): number {
    return this.#kept.get(identifier)?.length ?? 0;
  }

  limit(identifier: string, limit: number): CompanionRateDecision | Promise<CompanionRateDecision> {
    const queue = this.#kept.get(identifier);
    if (queue !== undefined) {
      const now = this.#now();
      let kept: CompanionRate | undefined;
      while (kept === undefined && queue.length > 0) {
        const next = queue.shift()!;
        if (now - next.at < this.#windowMs) kept = next;
      }
      if (queue.length === 0) this.#kept.delete(identifier);
      if (kept !== undefined) {
        if (kept.success) return { success: true, remaining: kept.remaining, retryAfterMs: 0 };
        // Refused in the read (not counted): retry once a slot frees, as the shared window would.
        const retryAfterMs = Math.max(1, Math.ceil(this.#windowMs / Math.max(1, limit)));
        return { success: false, remaining: 0, retryAfterMs };
      }
    }
    return this.#inner.limit(identifier, limit);
  }
}
