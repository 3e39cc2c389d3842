/**
 * The rate token of an origin call, counted in the cache's read (see `ExecuteOptions.companion`)
 * and handed to the throttle's shared rate window, so that a cold miss costs the store one read
 * and one write instead of a third request for the window.
 *
 * {@link LoadCompanions} makes, per resource, what rides in the read (`ExecuteOptions.companion`).
 * {@link CompanionRateWindow} sits in front of the throttle's shared window: the next admission
 * asked for a resource takes a decision the cache's read already counted, if one is waiting and
 * is not older than the window; otherwise it asks the shared window as before. The counters are
 * the same Redis keys either way (`@upstash/ratelimit`'s sliding window), so isolates and calls
 * that take either path count together.
 *
 * @module
 */
import type { KeyValueStore } from '../../store/types.ts';
import type { Metrics } from '../metrics.ts';
import type { SharedBreakerState } from '../resilience/breaker_state.ts';
import type { ResilienceOptions } from '../resilience/options.ts';
import { UpstashRateWindow, type UpstashRateWindowOptions } from '../resilience/rate_window.ts';
import type { CompanionRate, LoadCompanion } from './types.ts';

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

/** The breaker side of {@link LoadCompanions} (`CircuitBreakerRegistry`). */
export interface CompanionBreakers {
  get(resourceKey: string): {
    readonly sharedKey: string;
    applyShared(state: SharedBreakerState | null, options?: { refreshed?: boolean }): void;
  };
}

/** What {@link LoadCompanions} needs from the optimizer. */
export interface LoadCompanionsDeps {
  store: KeyValueStore;
  /** The optimizer's configuration (an `OptimizationConfig` fits). */
  config: {
    enableAdaptiveThrottling: boolean;
    resilience: Pick<
      ResilienceOptions,
      'throttleWindowMs' | 'throttleStoreTimeoutMs' | 'throttleKeyPrefix'
    >;
  };
  metrics: Metrics;
  /** The breakers (read when a companion is first made for a resource). */
  breakers: () => CompanionBreakers;
  /** The throttle's configured limit of a resource in force (`AdaptiveThrottle.configuredLimit`). */
  limitOf: (resourceKey: string) => number;
}

/**
 * The companions of one optimizer: per resource, what rides in the cache read before an origin
 * call (the breaker's shared state and the throttle's rate token), and the throttle's shared
 * window that takes those tokens. On Upstash only; on the memory store the windows are in memory
 * and there is nothing to save.
 *
 * @example
 * ```ts
 * const companions = new LoadCompanions({ store, config, metrics,
 *   breakers: () => breakers, limitOf: (key) => throttle.configuredLimit(key) });
 * const throttle = new AdaptiveThrottle(config, { store, rateWindow: companions.rateWindow });
 * await cache.execute(key, load, [], { companion: companions.for('robots_db') });
 * ```
 */
export class LoadCompanions {
  /** The throttle's shared window on Upstash (`rateWindow` of its deps), else `undefined`. */
  readonly rateWindow: CompanionRateWindow | undefined;
  readonly #deps: LoadCompanionsDeps;
  readonly #byResource = new Map<string, LoadCompanion>();

  constructor(deps: LoadCompanionsDeps) {
    this.#deps = deps;
    const redis = (deps.store as { redis?: UpstashRateWindowOptions['redis'] }).redis;
    if (deps.store.backend === 'upstash' && redis) {
      const r = deps.config.resilience;
      this.rateWindow = new CompanionRateWindow(
        new UpstashRateWindow({
          redis,
          windowMs: r.throttleWindowMs,
          timeoutMs: r.throttleStoreTimeoutMs,
          prefix: r.throttleKeyPrefix,
          metrics: deps.metrics,
        }),
        r.throttleWindowMs,
      );
    }
  }

  /** The companion of `resourceKey`'s origin calls (one object per resource), or `undefined`. */
  for(resourceKey: string): LoadCompanion | undefined {
    const window = this.rateWindow;
    if (window === undefined) return undefined;
    let companion = this.#byResource.get(resourceKey);
    if (companion !== undefined) return companion;
    const { config, breakers, limitOf } = this.#deps;
    companion = {
      readKeys: [breakers().get(resourceKey).sharedKey],
      get rateWindow() {
        if (!config.enableAdaptiveThrottling) return undefined;
        return {
          prefix: config.resilience.throttleKeyPrefix,
          identifier: resourceKey,
          limit: limitOf(resourceKey),
          windowMs: config.resilience.throttleWindowMs,
        };
      },
      onRead(values, rate) {
        let shared: SharedBreakerState | null = null;
        try {
          shared = values[0] === null ? null : JSON.parse(values[0]);
        } catch {
          // Not a breaker state: ignored (the breaker reads its key itself next time).
        }
        breakers().get(resourceKey).applyShared(shared, { refreshed: true });
        if (rate !== undefined) window.keep(resourceKey, rate);
      },
    };
    if (this.#byResource.size >= 10_000) this.#byResource.clear();
    this.#byResource.set(resourceKey, companion);
    return companion;
  }
}
