/**
 * The predictive cache's public types: what `execute` returns, its per-call options, the
 * constructor's options, reports and counters.
 *
 * @module
 */
import type { KeyValueStore } from '../../store/types.ts';
import type { Metrics } from '../metrics.ts';
import type { PredictiveCacheConfig } from './options.ts';

/** How a result was served (for the `x-cache` header and metrics). */
export type CacheStatus = 'hit' | 'miss' | 'stale' | 'prewarmed';
/** Where the value came from. */
export type CacheTier = 'memory' | 'redis' | 'origin';
/** Why it was served that way. */
export type CacheReason =
  | 'fresh'
  | 'prewarmed'
  | 'stale-while-revalidate'
  | 'stale-if-error'
  | 'loaded'
  | 'lease-wait'
  | 'store-unavailable'
  | 'disabled';

/** The outcome of `PredictiveCache.execute`. */
export interface CacheResult<T> {
  value: T;
  status: CacheStatus;
  tier: CacheTier;
  reason: CacheReason;
  /** Time since the origin produced the value (0 for a fresh load). */
  ageMs: number;
  /** The entry's fresh window (popularity-adjusted TTL); 0 when not cached. */
  ttlMs: number;
}

/** Per-call options of `PredictiveCache.execute`. */
export interface ExecuteOptions {
  /** Tags for `PredictiveCache.invalidateTag`. @default [] */
  tags?: string[];
  /** Base TTL of this entry before popularity adjusts it. @default config.predictiveCacheTTL */
  ttlMs?: number;
  /** Sequence in which co-access is learned. @default the key's scope (`scopeOfKey`) */
  scope?: string;
  /**
   * Store work of the origin call that rides in the read claiming the load lease (the read
   * after which this caller loads in the foreground), so a cold miss costs one read and one
   * write: the origin's shared rate window and the shared state it checks (a breaker's).
   * Nothing rides in any other read. @default none
   */
  companion?: LoadCompanion;
}

/** The answer of a rate window counted in the read (see {@link LoadCompanion.rateWindow}). */
export interface CompanionRate {
  /** Whether this load was counted (within the limit). */
  success: boolean;
  /** Requests left in the window after this one (0 when refused). */
  remaining: number;
  /** The clock (ms) the read counted at. */
  at: number;
}

/** See {@link ExecuteOptions.companion}. */
export interface LoadCompanion {
  /** Store keys read as well (raw JSON text, `null` when absent), e.g. the breaker's state. */
  readKeys?: readonly string[];
  /**
   * A sliding window counted once, the `@upstash/ratelimit` way (`slidingWindow(limit,
   * windowMs)` under the same prefix: the counters are shared with the limiter's own calls):
   * `<prefix>:<identifier>:<floor(now / windowMs)>`.
   */
  rateWindow?: { prefix: string; identifier: string; limit: number; windowMs: number };
  /** Receives what rode along, before the load starts. Called only when something rode. */
  onRead(values: (string | null)[], rate: CompanionRate | undefined): void;
}

/** Constructor options of `PredictiveCache`. */
export interface PredictiveCacheOptions {
  /** The shared store (Redis tier). */
  store: KeyValueStore;
  /**
   * The cache's configuration: its `cache` section, `predictiveCacheTTL` and
   * `enablePredictiveCaching`. A whole `OptimizationConfig` fits.
   * @default defaultPredictiveCacheConfig() (the same as `parseOptimizationConfig()`)
   */
  config?: PredictiveCacheConfig;
  /** Where metrics go. @default the isolate's shared `metrics` */
  metrics?: Metrics;
  /** Clock in ms (tests). @default Date.now */
  now?: () => number;
  /** Identifies this isolate in lease tokens. @default a random UUID */
  instanceId?: string;
}

/** Result of `PredictiveCache.prewarm`. */
export interface PrewarmReport {
  /** Keys now in the memory tier. */
  warmed: string[];
  /** Keys not warmed, with why. */
  skipped: { key: string; reason: PrewarmSkipReason }[];
}

/** Why a key was not pre-warmed. */
export type PrewarmSkipReason = 'no-loader' | 'fresh' | 'failed' | 'lease-held';

/** The counters behind {@link CacheStats} (all but the derived ones). */
export interface CacheCounts {
  requests: number;
  hitsMemory: number;
  hitsRedis: number;
  misses: number;
  staleServed: number;
  staleIfErrorServed: number;
  prewarms: number;
  prewarmedRead: number;
  originCalls: number;
  originMsSaved: number;
  storeFailures: number;
}

/** Counters of one cache instance (see also the shared metrics). */
export interface CacheStats extends CacheCounts {
  /** (memory + Redis hits + stale served) / requests. */
  hitRate: number;
  memoryEntries: number;
  memoryBytes: number;
  learnedKeys: number;
}

/** Options of `PredictiveCache.invalidateTags`. */
export interface InvalidateOptions {
  /**
   * Called once the store confirmed the invalidation: at once, or after background retries when
   * the store was unreachable (e.g. to delete the durable outbox row).
   */
  onInvalidated?: () => unknown;
  /**
   * Keep the invalidation pending and retry it in the background when the store fails.
   * `false`: try once (the outbox drainer, which keeps its rows instead). @default true
   */
  retry?: boolean;
}
