/**
 * The options and results of the `AdvancedBackendOptimizer` facade (`advanced.ts`).
 *
 * @module
 */
import type { OptimizationConfig, OptimizationConfigInput } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { CacheResult } from '../cache/mod.ts';
import type { KeyValueStore } from '../../store/types.ts';

/** Options of `AdvancedBackendOptimizer.executeOptimizedOperation`, the spec's names first. */
export interface OptimizedOperationOptions {
  /** Cache key. Without it the result is not cached (writes, one-off reads). Include the caller's scope for user data (`userKey`). */
  cacheKey?: string;
  /** Table the operation reads, for query-plan analysis and metrics. */
  table?: string;
  /** Filters the operation applies, for query-plan analysis. */
  filters?: Record<string, unknown>;
  /** Throttle, breaker and pool key. @default table, else 'default' */
  resourceKey?: string;
  /** Keys to pre-warm in the background (declared prediction). */
  dependencies?: string[];
  /** Cache tags, for invalidation by tag. */
  tags?: string[];
  /** Base TTL of this entry (ms) before popularity adjusts it. @default config.predictiveCacheTTL */
  ttlMs?: number;
  /** Whether the operation may run twice (reads: yes). Non-idempotent ones are never retried. @default true */
  idempotent?: boolean;
  /** Stops waiting, retrying and the attempt in flight. */
  signal?: AbortSignal;
}

/** What `AdvancedBackendOptimizer.executeOptimizedOperationDetailed` reports besides the value. */
export interface OptimizedResult<T> {
  value: T;
  /** How the cache served it; `undefined` when the call was not cacheable. */
  cache?: Omit<CacheResult<T>, 'value'>;
  /** How the throttle admitted it. */
  throttle: 'allowed' | 'delayed' | 'fail-open' | 'disabled';
  /** Whether the origin ran for this call. */
  originCalled: boolean;
  /** Wall time of the whole call, ms. */
  durationMs: number;
}

/** The spec's metrics, from this isolate's counters. Rates are 0..1. */
export interface OptimizerMetrics {
  predictiveCacheHitRate: number;
  queryPlanImprovement: number;
  resourceUtilization: number;
  retrySuccessRate: number;
  adaptiveThrottlingRate: number;
  /** Origin time saved by the cache, as a share of the time all requests would have taken. */
  totalOptimizationGain: number;
  operations: number;
  originCalls: number;
}

/** Constructor options of `AdvancedBackendOptimizer`. */
export interface AdvancedBackendOptimizerOptions {
  /** Configuration; missing options come from defaults (not the environment). */
  config?: OptimizationConfigInput | OptimizationConfig;
  /** The shared store. @default the isolate's store (`getStore()`) */
  store?: KeyValueStore;
  /** @default the isolate's shared metrics */
  metrics?: Metrics;
  /** How often metrics are flushed to the store in the background, ms (0: never). @default 10000 */
  metricsFlushIntervalMs?: number;
  /**
   * Overrides the manager applied: TTL per key-prefix class, throttle limit and pool size per
   * resource (each clamped by the throttle and the pools to their configured bounds).
   * @default none
   */
  settings?: SettingsOverrides;
}

/** What the optimizer reads from the manager's applied settings (synchronous, no I/O). */
export interface SettingsOverrides {
  /** Base TTL (ms) for a cache key, overriding the call's and the configuration's. */
  ttlFor(cacheKey: string): number | undefined;
  /** Requests per window of a resource, replacing `resilience.throttleLimit` (clamped). */
  throttleLimitFor?(resourceKey: string): number | undefined;
  /** Slots of a resource's pool, replacing `resilience.poolMaxConcurrent` (clamped). */
  poolSizeFor?(resourceKey: string): number | undefined;
}
