/**
 * Upstash: sliding windows shared by every isolate through `@upstash/ratelimit`, failing open
 * fast to the isolate's memory window; and {@link createCallerRateLimiter}, which picks the
 * limiter the store calls for.
 *
 * @module
 */
import type { Ratelimit } from '@upstash/ratelimit';
import type { KeyValueStore } from '../../store/mod.ts';
import type { UpstashStore } from '../../store/upstash.ts';
import { type Metrics, metrics as isolateMetrics } from '../../optimizer/metrics.ts';
import { MemorySlidingWindow } from './memory.ts';
import type { RateLimitSettings } from './settings.ts';
import type { CallerRateLimiter, CallerTier, RateLimitDecision, RateLimitReason } from './types.ts';

type RatelimitClass = typeof Ratelimit;
let RatelimitLoaded: RatelimitClass | undefined;

/**
 * `@upstash/ratelimit`, loaded on the first Upstash rate check (a string-literal `import()` the
 * deploy bundles): an isolate on the memory store never loads it.
 */
async function loadRatelimit(): Promise<RatelimitClass> {
  return RatelimitLoaded ??= (await import('@upstash/ratelimit')).Ratelimit;
}

/** Whether this isolate has loaded `@upstash/ratelimit` through this module. */
export function upstashRatelimitLoaded(): boolean {
  return RatelimitLoaded !== undefined;
}

/** Options of {@link UpstashCallerLimiter}. */
export interface UpstashCallerLimiterOptions {
  /** The raw client (`UpstashStore.redis`). */
  redis: UpstashStore['redis'];
  /** @default 60000 */
  windowMs?: number;
  /** @default 100 */
  timeoutMs?: number;
  /** @default 1000 */
  fallbackMs?: number;
  /** @default 'qf:ratelimit' */
  prefix?: string;
  /** @default the isolate's metrics */
  metrics?: Metrics;
  /** @default Date.now */
  now?: () => number;
}

/**
 * `@upstash/ratelimit` sliding windows, one `Ratelimit` per tier and limit, created once and
 * kept for the isolate's life (its ephemeral cache only helps that way). A Redis that is slow or
 * down never holds a request longer than `timeoutMs`: the request passes (`reason` `timeout` or
 * `error`, counted as `ratelimit.fail_open`), and for `fallbackMs` afterwards the isolate's
 * memory window decides (`reason: 'fallback'`) instead of waiting on Redis again.
 *
 * @example
 * ```ts
 * const limiter = new UpstashCallerLimiter({ redis: (getStore() as UpstashStore).redis });
 * const decision = await limiter.limit('user:0b6f...', 'user', 600);
 * ```
 */
export class UpstashCallerLimiter implements CallerRateLimiter {
  readonly backend = 'upstash';
  #options: Required<Omit<UpstashCallerLimiterOptions, 'metrics'>>;
  #metrics: Metrics;
  #limiters = new Map<string, Ratelimit>();
  #fallback: MemorySlidingWindow;
  #fallbackUntil = 0;

  constructor(options: UpstashCallerLimiterOptions) {
    this.#options = {
      redis: options.redis,
      windowMs: options.windowMs ?? 60_000,
      timeoutMs: options.timeoutMs ?? 100,
      fallbackMs: options.fallbackMs ?? 1_000,
      prefix: options.prefix ?? 'qf:ratelimit',
      now: options.now ?? Date.now,
    };
    this.#metrics = options.metrics ?? isolateMetrics;
    this.#fallback = new MemorySlidingWindow({
      windowMs: this.#options.windowMs,
      now: this.#options.now,
    });
  }

  #limiter(Ratelimit: RatelimitClass, tier: CallerTier, limit: number): Ratelimit {
    const name = `${tier}:${limit}`;
    let limiter = this.#limiters.get(name);
    if (!limiter) {
      limiter = new Ratelimit({
        redis: this.#options.redis,
        limiter: Ratelimit.slidingWindow(limit, `${this.#options.windowMs} ms`),
        prefix: `${this.#options.prefix}:${tier}`,
        ephemeralCache: new Map(),
        timeout: this.#options.timeoutMs,
        analytics: false,
      });
      this.#limiters.set(name, limiter);
    }
    return limiter;
  }

  async limit(identifier: string, tier: CallerTier, limit: number): Promise<RateLimitDecision> {
    const now = this.#options.now();
    if (now < this.#fallbackUntil) {
      return { ...this.#fallback.limitSync(`${tier}:${identifier}`, limit), reason: 'fallback' };
    }
    let reason: RateLimitReason;
    try {
      const Ratelimit = RatelimitLoaded ?? await loadRatelimit();
      const result = await this.#limiter(Ratelimit, tier, limit).limit(identifier);
      if (result.reason !== 'timeout') {
        // Keep the memory window warm so a fallback starts from what this isolate has seen.
        if (result.success) this.#fallback.limitSync(`${tier}:${identifier}`, limit);
        return {
          success: result.success,
          limit: result.limit,
          remaining: result.remaining,
          reset: result.reset,
          ...(result.reason ? { reason: result.reason } : {}),
        };
      }
      reason = 'timeout';
    } catch {
      reason = 'error';
    }
    this.#metrics.increment('ratelimit.fail_open');
    this.#metrics.increment(`ratelimit.fail_open.${reason}`);
    this.#fallbackUntil = now + this.#options.fallbackMs;
    // Counted locally, but let through whatever the memory window says: the store failed.
    const local = this.#fallback.limitSync(`${tier}:${identifier}`, limit);
    return { ...local, success: true, reason };
  }
}

/**
 * Creates the limiter the store calls for: `@upstash/ratelimit` on an Upstash store (sharing
 * its client), the memory sliding window otherwise.
 *
 * @example
 * ```ts
 * const limiter = createCallerRateLimiter(rateLimitSettingsFromEnv(), getStore());
 * ```
 */
export function createCallerRateLimiter(
  settings: RateLimitSettings,
  store: KeyValueStore,
  metrics: Metrics = isolateMetrics,
): CallerRateLimiter {
  // Auto-pipelined: a burst's rate checks share one round trip per tick (rate windows need no
  // order against the cache's commands, which stay on the store's ordered client).
  const upstash = store as Partial<UpstashStore>;
  const redis = upstash.batchedRedis ?? upstash.redis;
  if (store.backend === 'upstash' && redis) {
    return new UpstashCallerLimiter({
      redis,
      windowMs: settings.windowMs,
      timeoutMs: settings.timeoutMs,
      fallbackMs: settings.fallbackMs,
      prefix: settings.prefix,
      metrics,
    });
  }
  return new MemorySlidingWindow({ windowMs: settings.windowMs });
}
