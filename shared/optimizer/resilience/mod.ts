/**
 * The resilience layer of the optimizer: intelligent retries, circuit breakers, adaptive
 * throttling, bulkheads (resource pooling), request deduplication and batching, each a small
 * class taking the `OptimizationConfig` values it needs, a store where state is shared, a
 * `Metrics` instance and an injectable clock.
 *
 * Documented composition order (outermost first): throttle, breaker, cache with
 * deduplication, bulkhead + retry around the origin, metrics.
 *
 * @example With this module's exports in scope (no import line here: the Supabase CLI's
 * bundler reads import lines inside comments and warns about paths that do not exist):
 * ```ts
 * const config = optimizationConfigFromEnv();
 * const retry = new RetryPolicy(config);
 * const breakers = new CircuitBreakerRegistry(config, { store: getStore() });
 * const throttle = new AdaptiveThrottle(config, { store: getStore() });
 * const rows = await throttle.execute('db', () =>
 *   breakers.execute('db', () => retry.execute(() => sql`select 1`, { resourceKey: 'db' }))
 * );
 * ```
 *
 * @module
 */
export {
  type AttemptRecord,
  BulkheadRejectedError,
  CircuitOpenError,
  RetryExhaustedError,
  type RetryStopReason,
  ThrottledError,
  type ThrottleReason,
} from './errors.ts';
export {
  type Classification,
  classifyError,
  parseRetryAfter,
  resultError,
  signalsOverload,
} from './classify.ts';
export { type Clock, type RandomSource, sleep, systemClock } from './clock.ts';
export {
  type AttemptContext,
  type BackoffParams,
  computeBackoffDelay,
  type RetryCallOptions,
  type RetryConfig,
  type RetryDeps,
  RetryPolicy,
  retrySuccessRate,
  retryWithBackoff,
} from './retry.ts';
export { RetryBudget, type RetryBudgetOptions } from './budget.ts';
export {
  type BreakerCallOptions,
  type BreakerDeps,
  type BreakerState,
  CircuitBreaker,
} from './breaker.ts';
export { CircuitBreakerRegistry } from './breaker_registry.ts';
export {
  breakerIndexKey,
  type OpenBreaker,
  readOpenBreakers,
  type SharedBreakerState,
} from './breaker_state.ts';
export { AdaptiveThrottle, type ThrottleDeps, throttlingRate } from './throttle.ts';
export {
  type ThrottleAdmission,
  type ThrottleLimitsSnapshot,
  type ThrottlePermit,
} from './throttle_limits.ts';
export {
  MemoryRateWindow,
  type RateDecision,
  type RateWindow,
  UpstashRateWindow,
  type UpstashRateWindowOptions,
} from './rate_window.ts';
export { Bulkhead, type BulkheadDeps, BulkheadRegistry } from './bulkhead.ts';
export { type BatchFunction, BatchLoader, type BatchLoaderOptions } from './batch.ts';
export { Deduplicator } from './dedup.ts';
export {
  resilienceEnvBindings,
  type ResilienceOptions,
  resilienceOptionsSchema,
} from './options.ts';
