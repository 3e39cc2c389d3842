/**
 * The optimizer module's public entry: the spec's `advancedBackendOptimizer` (a ready instance
 * configured from the environment), its class and factory, the configuration, metrics, the
 * predictive cache, the resilience layer and the key helpers.
 *
 * @example
 * ```ts
 * import { advancedBackendOptimizer, userKey } from '@shared/optimizer/mod.ts';
 * const robots = await advancedBackendOptimizer.executeWithPredictiveCaching(
 *   userKey(userId, 'robots', 'list'), () => listRobots(userId));
 * ```
 *
 * @module
 */
import { AdvancedBackendOptimizer } from './advanced.ts';
import type { AdvancedBackendOptimizerOptions } from './advanced/types.ts';
import { optimizationConfigFromEnv, type OptimizationConfigInput } from './config.ts';
import { AppliedSettingsReader } from './manager/settings.ts';

export { AdvancedBackendOptimizer } from './advanced.ts';
export {
  type AdvancedBackendOptimizerOptions,
  type OptimizedOperationOptions,
  type OptimizedResult,
  type OptimizerMetrics,
  type SettingsOverrides,
} from './advanced/types.ts';
export {
  ConfigError,
  type OptimizationConfig,
  optimizationConfigFromEnv,
  type OptimizationConfigInput,
  optimizationConfigSchema,
  optimizationEnvBindings,
  parseOptimizationConfig,
} from './config.ts';
export {
  type BucketDocument,
  type FlushOptions,
  type HistogramSnapshot,
  LATENCY_BUCKETS_MS,
  mergeSnapshots,
  Metrics,
  metrics,
  type MetricsSnapshot,
  quantileFromBuckets,
  readSharedBuckets,
  readSharedMetrics,
  type ReadSharedOptions,
  type SharedBucket,
  sharedMetricKeys,
} from './metrics.ts';
export {
  type CacheScope,
  canonicalString,
  canonicalValue,
  type KeyPart,
  roleKey,
  scopedKey,
  scopedTag,
  scopeOfKey,
  scopePrefix,
  userKey,
} from './keys.ts';
export { SingleFlight } from './singleflight.ts';
export {
  type CacheEntry,
  cacheEnvBindings,
  type CacheOptions,
  cacheOptionsSchema,
  type CacheReason,
  type CacheResult,
  type CacheStats,
  type CacheStatus,
  type CacheTier,
  defaultPredictiveCacheConfig,
  deleteOutboxRow,
  drainInvalidationOutbox,
  type DrainOptions,
  type DrainReport,
  enqueueInvalidation,
  estimateBytes,
  type ExecuteOptions,
  executeWithPredictiveCaching,
  type InvalidateOptions,
  invalidateTagScript,
  type Loader,
  LoaderRegistry,
  MAX_OUTBOX_TAG_LENGTH,
  MAX_OUTBOX_TAGS,
  MemoryTier,
  type OutboxDatabase,
  Popularity,
  popularityTtl,
  PredictiveCache,
  type PredictiveCacheConfig,
  type PredictiveCacheOptions,
  Predictor,
  type PrewarmReport,
  pruneInvalidationOutbox,
  readEntryScript,
  releaseLeaseScript,
  writeBackScript,
} from './cache/mod.ts';
export {
  AdaptiveThrottle,
  type AttemptContext,
  type AttemptRecord,
  type BackoffParams,
  type BatchFunction,
  BatchLoader,
  type BatchLoaderOptions,
  type BreakerCallOptions,
  type BreakerDeps,
  breakerIndexKey,
  type BreakerState,
  Bulkhead,
  type BulkheadDeps,
  BulkheadRegistry,
  BulkheadRejectedError,
  CircuitBreaker,
  CircuitBreakerRegistry,
  CircuitOpenError,
  type Classification,
  classifyError,
  type Clock,
  computeBackoffDelay,
  Deduplicator,
  MemoryRateWindow,
  type OpenBreaker,
  parseRetryAfter,
  type RandomSource,
  type RateDecision,
  type RateWindow,
  readOpenBreakers,
  resilienceEnvBindings,
  type ResilienceOptions,
  resilienceOptionsSchema,
  resultError,
  RetryBudget,
  type RetryBudgetOptions,
  type RetryCallOptions,
  type RetryConfig,
  type RetryDeps,
  RetryExhaustedError,
  RetryPolicy,
  type RetryStopReason,
  retrySuccessRate,
  retryWithBackoff,
  type SharedBreakerState,
  signalsOverload,
  sleep,
  systemClock,
  type ThrottleAdmission,
  type ThrottleDeps,
  ThrottledError,
  type ThrottleLimitsSnapshot,
  type ThrottlePermit,
  type ThrottleReason,
  throttlingRate,
  UpstashRateWindow,
  type UpstashRateWindowOptions,
} from './resilience/mod.ts';

/**
 * Builds an optimizer configured from the environment (`QF_*` variables), with overrides.
 *
 * @example
 * ```ts
 * const optimizer = createAdvancedBackendOptimizer({ config: { enableAdaptiveThrottling: false } });
 * ```
 */
export function createAdvancedBackendOptimizer(
  options: AdvancedBackendOptimizerOptions = {},
): AdvancedBackendOptimizer {
  return new AdvancedBackendOptimizer({
    ...options,
    config: optimizationConfigFromEnv(undefined, options.config as OptimizationConfigInput),
  });
}

/**
 * The isolate's optimizer: configured from the `QF_*` environment variables, on the isolate's
 * store (Upstash when `UPSTASH_REDIS_REST_*` are set, memory otherwise). Created on import,
 * once per isolate, outside request handlers. It uses the settings the optimization manager
 * applied (TTL per key-prefix class), re-read from the store at most every 5 s.
 */
export const advancedBackendOptimizer: AdvancedBackendOptimizer = createAdvancedBackendOptimizer();
advancedBackendOptimizer.useSettings(new AppliedSettingsReader(advancedBackendOptimizer.store));
