/**
 * Rate windows: how many requests a resource key may take per window, counted across isolates
 * on Redis with `@upstash/ratelimit`, or in memory on the embedded store with the same sliding
 * window semantics (`floor(previous * (1 - elapsed/window)) + current < limit` admits one more).
 *
 * @module
 */
import { Ratelimit } from '@upstash/ratelimit';
import type { Redis } from '@upstash/redis';
import { type Metrics, metrics as sharedMetrics } from '../metrics.ts';
import type { Clock } from './clock.ts';

/** One rate decision. */
export interface RateDecision {
  /** Whether the request is within the limit. */
  success: boolean;
  /** Requests still allowed in the window. */
  remaining: number;
  /** When a rejected request may pass, ms from now (0 when allowed). */
  retryAfterMs: number;
  /** Set when the window could not be read and the request was let through. */
  failOpen?: 'timeout' | 'error';
}

/** A sliding-window counter per identifier; `limit` may change from one call to the next. */
export interface RateWindow {
  /** Counts one request of `identifier` if it is within `limit`. */
  limit(identifier: string, limit: number): RateDecision | Promise<RateDecision>;
}

interface Counts {
  window: number;
  current: number;
  previous: number;
}

/**
 * In-memory sliding window (one isolate), synchronous: the allow path does not await.
 *
 * @example
 * ```ts
 * const w = new MemoryRateWindow(1000, systemClock);
 * w.limit('robots', 100); // { success: true, remaining: 99, retryAfterMs: 0 }
 * ```
 */
export class MemoryRateWindow implements RateWindow {
  readonly #windowMs: number;
  readonly #clock: Clock;
  readonly #counts = new Map<string, Counts>();
  // The allow path returns results without allocating when `remaining` is not needed exactly.
  constructor(windowMs: number, clock: Clock) {
    if (!Number.isFinite(windowMs) || windowMs < 1) {
      throw new RangeError(`'windowMs' must be a finite number >= 1: received ${windowMs}`);
    }
    this.#windowMs = windowMs;
    this.#clock = clock;
  }

  limit(identifier: string, limit: number): RateDecision {
    const now = this.#clock.now();
    const windowMs = this.#windowMs;
    const window = Math.floor(now / windowMs);
    let c = this.#counts.get(identifier);
    if (!c) {
      if (this.#counts.size >= 10_000) this.#counts.clear();
      this.#counts.set(identifier, c = { window, current: 0, previous: 0 });
    } else if (c.window !== window) {
      c.previous = window === c.window + 1 ? c.current : 0;
      c.current = 0;
      c.window = window;
    }
    const elapsed = (now % windowMs) / windowMs;
    const weighted = Math.floor(c.previous * (1 - elapsed));
    if (weighted + c.current < limit) {
      c.current++;
      return { success: true, remaining: limit - weighted - c.current, retryAfterMs: 0 };
    }
    const windowEnd = (window + 1) * windowMs;
    let freeAt = windowEnd;
    if (c.current < limit && c.previous > 0) {
      // The previous window's weight must fall below limit - current.
      freeAt = window * windowMs + windowMs * (1 - (limit - c.current) / c.previous);
    }
    return { success: false, remaining: 0, retryAfterMs: Math.max(1, Math.ceil(freeAt - now)) };
  }

  /**
   * Gives back one admission of `identifier` made in the current window (a request this window
   * admitted but a later check refused: it never ran, so it must not count).
   */
  refund(identifier: string): void {
    const c = this.#counts.get(identifier);
    const window = Math.floor(this.#clock.now() / this.#windowMs);
    if (c && c.window === window && c.current > 0) c.current--;
  }
}

/** Options of {@link UpstashRateWindow}. */
export interface UpstashRateWindowOptions {
  /** The store's raw client (`UpstashStore.redis`). */
  redis: Redis;
  /** Window, ms. */
  windowMs: number;
  /** Bound of one call; past it the request is let through (`failOpen: 'timeout'`). */
  timeoutMs: number;
  /** Key prefix. @default 'qf:throttle' */
  prefix?: string;
  /** @default the isolate's shared `metrics` */
  metrics?: Metrics;
}

/**
 * Sliding window on Redis through `@upstash/ratelimit`. Limiters are created once per isolate
 * and per limit value, all over the same Redis counters, so isolates count together.
 * Fail-opens (timeout, error) are counted as `throttle.fail_open`.
 *
 * After a refusal the identifier is blocked locally for `windowMs / limit` (the time one
 * admission takes to free in a saturated sliding window), not until the window's end as
 * `@upstash/ratelimit`'s ephemeral cache does: blocking to the end let a saturated window admit
 * only about half its limit (the next window then starts with the previous one weighing `limit /
 * 2` and blocks again at the first refusal). Redis is asked at most once per block per isolate.
 *
 * @example
 * ```ts
 * const w = new UpstashRateWindow({ redis: store.redis, windowMs: 1000, timeoutMs: 50 });
 * await w.limit('robots', 100);
 * ```
 */
export class UpstashRateWindow implements RateWindow {
  readonly #options: UpstashRateWindowOptions;
  readonly #limiters = new Map<number, Ratelimit>();
  // identifier -> blocked until (ms since epoch), after a refusal.
  readonly #blocked = new Map<string, number>();
  readonly #metrics: Metrics;

  constructor(options: UpstashRateWindowOptions) {
    this.#options = options;
    this.#metrics = options.metrics ?? sharedMetrics;
  }

  #limiter(limit: number): Ratelimit {
    let limiter = this.#limiters.get(limit);
    if (!limiter) {
      if (this.#limiters.size >= 256) this.#limiters.clear();
      limiter = new Ratelimit({
        redis: this.#options.redis,
        limiter: Ratelimit.slidingWindow(limit, `${this.#options.windowMs} ms`),
        prefix: this.#options.prefix ?? 'qf:throttle',
        timeout: this.#options.timeoutMs,
        analytics: false,
        ephemeralCache: false,
      });
      this.#limiters.set(limit, limiter);
    }
    return limiter;
  }

  async limit(identifier: string, limit: number): Promise<RateDecision> {
    const blockedUntil = this.#blocked.get(identifier);
    if (blockedUntil !== undefined) {
      const left = blockedUntil - Date.now();
      if (left > 0) return { success: false, remaining: 0, retryAfterMs: Math.ceil(left) };
      this.#blocked.delete(identifier);
    }
    try {
      const r = await this.#limiter(limit).limit(identifier);
      if (r.reason === 'timeout') {
        this.#metrics.increment('throttle.fail_open');
        return { success: true, remaining: 0, retryAfterMs: 0, failOpen: 'timeout' };
      }
      if (r.success) return { success: true, remaining: r.remaining, retryAfterMs: 0 };
      const now = Date.now();
      const blockMs = Math.max(
        1,
        Math.min(Math.ceil(this.#options.windowMs / Math.max(1, limit)), r.reset - now),
      );
      if (this.#blocked.size >= 10_000) this.#blocked.clear();
      this.#blocked.set(identifier, now + blockMs);
      return { success: false, remaining: 0, retryAfterMs: blockMs };
    } catch {
      this.#metrics.increment('throttle.fail_open');
      return { success: true, remaining: 0, retryAfterMs: 0, failOpen: 'error' };
    }
  }
}
