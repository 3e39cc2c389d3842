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

/** Counters of one cache instance (see also the shared metrics). */
export interface CacheStats {
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
