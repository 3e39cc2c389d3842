/**
 * Options of retries, breakers, throttling, pooling, deduplication and batching
 * (`OptimizationConfig.resilience`), with defaults and their environment variables.
 *
 * The spec's own options stay at the top level of `OptimizationConfig`: `maxRetryAttempts`
 * (most attempts, the first included) and `retryBackoffBase` (ms).
 *
 * @module
 */
import { z } from 'zod';
import type { EnvBinding } from '../env.ts';
import { DEFAULT_BREAKER_KEY_PREFIX } from './breaker_state.ts';
import { countSchemaBuild, setsOnlyDefaults } from '../options_defaults.ts';

const ratio = () => z.number().min(0).max(1);
const ms = () => z.number().min(0).max(3_600_000);
const count = () => z.number().int().min(1).max(1_000_000);

/**
 * The resilience options' defaults (what `resilienceOptionsSchema.parse({})` yields; the schema
 * takes its defaults from here). Frozen: copy it to change a value. An input that sets only these
 * values is answered from here without building the schema (`../options_defaults.ts`).
 */
export const RESILIENCE_OPTION_DEFAULTS = Object.freeze({
  retryMaxDelayMs: 5000,
  retryJitterRatio: 1,
  retryDeadlineMs: 10_000,
  retryAttemptTimeoutMs: 0,
  retryBudgetRatio: 0.2,
  retryBudgetMinPerSecond: 10,
  retryBudgetWindowMs: 10_000,
  breakerFailureRateThreshold: 0.5,
  breakerSlowCallRateThreshold: 0.8,
  breakerSlowCallMs: 2000,
  breakerMinimumCalls: 10,
  breakerConsecutiveFailures: 5,
  breakerWindowMs: 30_000,
  breakerOpenMs: 1000,
  breakerHalfOpenProbes: 1,
  breakerStateCacheMs: 1000,
  breakerProbeLeaseMs: 5000,
  breakerKeyPrefix: DEFAULT_BREAKER_KEY_PREFIX,
  throttleLimit: 10_000,
  throttleWindowMs: 1000,
  throttleMaxConcurrent: 50,
  throttleMaxWaitMs: 100,
  throttleMinLimitRatio: 0.1,
  throttleLatencyTargetMs: 1000,
  throttleErrorRateTarget: 0.1,
  throttleDecreaseFactor: 0.7,
  throttleIncreaseRatio: 0.1,
  throttleAdjustIntervalMs: 1000,
  throttleStoreTimeoutMs: 50,
  throttleKeyPrefix: 'qf:throttle',
  poolMaxConcurrent: 10,
  poolMaxQueue: 100,
  poolQueueTimeoutMs: 1000,
  batchMaxSize: 100,
});

/**
 * Schema of `OptimizationConfig.resilience`; every field documents its default. Built on its
 * first use (`z.lazy`): the defaults need no schema (see {@link parseResilienceOptions}).
 */
export const resilienceOptionsSchema = z.lazy(() => {
  countSchemaBuild();
  return z.object({
    /** Longest single delay between two attempts, ms. @default 5000 */
    retryMaxDelayMs: ms().default(RESILIENCE_OPTION_DEFAULTS.retryMaxDelayMs),
    /**
     * Jitter added to each backoff delay, as a share of the exponential part: the delay before
     * attempt n+1 is `min(retryMaxDelayMs, base * 2^(n-1) * (1 + retryJitterRatio * random()))`.
     * @default 1
     */
    retryJitterRatio: z.number().min(0).max(10).default(
      RESILIENCE_OPTION_DEFAULTS.retryJitterRatio,
    ),
    /** Overall deadline of one retried operation (all attempts and delays), ms; 0 = none. @default 10000 */
    retryDeadlineMs: ms().default(RESILIENCE_OPTION_DEFAULTS.retryDeadlineMs),
    /** Bound of one attempt, ms (aborts the attempt's signal); 0 = none. @default 0 */
    retryAttemptTimeoutMs: ms().default(RESILIENCE_OPTION_DEFAULTS.retryAttemptTimeoutMs),
    /** Retry budget: retries may add at most this share of the calls of a resource. @default 0.2 */
    retryBudgetRatio: ratio().default(RESILIENCE_OPTION_DEFAULTS.retryBudgetRatio),
    /** Retry budget: retries always allowed per second and resource, whatever the ratio. @default 10 */
    retryBudgetMinPerSecond: z.number().min(0).max(1_000_000).default(
      RESILIENCE_OPTION_DEFAULTS.retryBudgetMinPerSecond,
    ),
    /** Retry budget: window over which calls and retries are counted, ms. @default 10000 */
    retryBudgetWindowMs: z.number().min(100).max(3_600_000).default(
      RESILIENCE_OPTION_DEFAULTS.retryBudgetWindowMs,
    ),

    /** Breaker opens when failed calls / calls in the window reach this ratio. @default 0.5 */
    breakerFailureRateThreshold: ratio().default(
      RESILIENCE_OPTION_DEFAULTS.breakerFailureRateThreshold,
    ),
    /** Breaker opens when slow calls / calls in the window reach this ratio. @default 0.8 */
    breakerSlowCallRateThreshold: ratio().default(
      RESILIENCE_OPTION_DEFAULTS.breakerSlowCallRateThreshold,
    ),
    /** A call slower than this (ms) is a slow call. @default 2000 */
    breakerSlowCallMs: z.number().min(1).max(3_600_000).default(
      RESILIENCE_OPTION_DEFAULTS.breakerSlowCallMs,
    ),
    /** Fewest calls in the window before the breaker may open. @default 10 */
    breakerMinimumCalls: count().default(RESILIENCE_OPTION_DEFAULTS.breakerMinimumCalls),
    /**
     * Breaker opens after this many failures in a row, however slow each one was and whatever the
     * window holds (failures slower than the window, or fewer than `breakerMinimumCalls` of them,
     * never reach the ratio). @default 5
     */
    breakerConsecutiveFailures: count().default(
      RESILIENCE_OPTION_DEFAULTS.breakerConsecutiveFailures,
    ),
    /** Sliding window of the breaker's ratios, ms (10 buckets). @default 30000 */
    breakerWindowMs: z.number().min(100).max(3_600_000).default(
      RESILIENCE_OPTION_DEFAULTS.breakerWindowMs,
    ),
    /**
     * How long an open breaker fails fast before admitting a probe, ms. Short, so that service
     * resumes within about this long once the resource is back; a failed probe costs one call.
     * @default 1000
     */
    breakerOpenMs: z.number().min(1).max(3_600_000).default(
      RESILIENCE_OPTION_DEFAULTS.breakerOpenMs,
    ),
    /** Probes admitted in half-open; that many successes close the breaker. @default 1 */
    breakerHalfOpenProbes: count().default(RESILIENCE_OPTION_DEFAULTS.breakerHalfOpenProbes),
    /** How long the shared breaker state read from the store is trusted, ms. @default 1000 */
    breakerStateCacheMs: ms().default(RESILIENCE_OPTION_DEFAULTS.breakerStateCacheMs),
    /** Lease of the half-open probe claim (`SET NX PX`) across isolates, ms. @default 5000 */
    breakerProbeLeaseMs: z.number().min(1).max(3_600_000).default(
      RESILIENCE_OPTION_DEFAULTS.breakerProbeLeaseMs,
    ),
    /** Prefix of the breakers' keys in the store (one per deployment sharing a Redis). @default 'qf:breaker:' */
    breakerKeyPrefix: z.string().min(1).max(200).default(
      RESILIENCE_OPTION_DEFAULTS.breakerKeyPrefix,
    ),

    /**
     * Requests per window and resource key (all isolates together on Redis). High enough not to
     * cap a healthy database (the pool and the concurrency limit bound the load; one isolate on a
     * 2-core machine answered 3,600 uncached reads per second from a 3-connection pool, which 2,000
     * capped with 429s); the adaptive limit shrinks it when latency or errors rise. @default 10000
     */
    throttleLimit: z.number().int().min(1).max(1_000_000_000).default(
      RESILIENCE_OPTION_DEFAULTS.throttleLimit,
    ),
    /** Rate window, ms (sliding window, as `@upstash/ratelimit`'s `slidingWindow`). @default 1000 */
    throttleWindowMs: z.number().min(10).max(3_600_000).default(
      RESILIENCE_OPTION_DEFAULTS.throttleWindowMs,
    ),
    /** Concurrent operations per resource key and isolate. @default 50 */
    throttleMaxConcurrent: count().default(RESILIENCE_OPTION_DEFAULTS.throttleMaxConcurrent),
    /** Longest wait for a free slot before a request is rejected, ms. @default 100 */
    throttleMaxWaitMs: ms().default(RESILIENCE_OPTION_DEFAULTS.throttleMaxWaitMs),
    /** The adaptive limits never shrink below this share of the configured ones. @default 0.1 */
    throttleMinLimitRatio: ratio().default(RESILIENCE_OPTION_DEFAULTS.throttleMinLimitRatio),
    /** Latency (EWMA, ms) above which the limits shrink. @default 1000 */
    throttleLatencyTargetMs: z.number().min(1).max(3_600_000).default(
      RESILIENCE_OPTION_DEFAULTS.throttleLatencyTargetMs,
    ),
    /** Error rate (EWMA) above which the limits shrink. @default 0.1 */
    throttleErrorRateTarget: ratio().default(RESILIENCE_OPTION_DEFAULTS.throttleErrorRateTarget),
    /** Multiplicative decrease of the limits when unhealthy. @default 0.7 */
    throttleDecreaseFactor: z.number().gt(0).lt(1).default(
      RESILIENCE_OPTION_DEFAULTS.throttleDecreaseFactor,
    ),
    /** Additive increase per adjustment when healthy, as a share of the configured limits. @default 0.1 */
    throttleIncreaseRatio: z.number().gt(0).max(1).default(
      RESILIENCE_OPTION_DEFAULTS.throttleIncreaseRatio,
    ),
    /** Least time between two adjustments of one resource's limits, ms. @default 1000 */
    throttleAdjustIntervalMs: z.number().min(1).max(3_600_000).default(
      RESILIENCE_OPTION_DEFAULTS.throttleAdjustIntervalMs,
    ),
    /** Bound of one shared-window store request (a reservation) before it fails open, ms. @default 50 */
    throttleStoreTimeoutMs: z.number().min(1).max(60_000).default(
      RESILIENCE_OPTION_DEFAULTS.throttleStoreTimeoutMs,
    ),
    /** Prefix of the shared rate windows' keys in the store. @default 'qf:throttle' */
    throttleKeyPrefix: z.string().min(1).max(200).default(
      RESILIENCE_OPTION_DEFAULTS.throttleKeyPrefix,
    ),

    /** Bulkhead: concurrent operations per resource key and isolate. @default 10 */
    poolMaxConcurrent: count().default(RESILIENCE_OPTION_DEFAULTS.poolMaxConcurrent),
    /** Bulkhead: operations waiting for a slot, beyond which calls are rejected. @default 100 */
    poolMaxQueue: z.number().int().min(0).max(1_000_000).default(
      RESILIENCE_OPTION_DEFAULTS.poolMaxQueue,
    ),
    /** Bulkhead: longest wait in the queue, ms. @default 1000 */
    poolQueueTimeoutMs: ms().default(RESILIENCE_OPTION_DEFAULTS.poolQueueTimeoutMs),

    /** Batching: most ids in one batch call. @default 100 */
    batchMaxSize: count().default(RESILIENCE_OPTION_DEFAULTS.batchMaxSize),
  }).strict();
});

/** The resilience options, defaults applied. */
export type ResilienceOptions = z.infer<typeof resilienceOptionsSchema>;

const n = (env: string, key: keyof ResilienceOptions): EnvBinding => ({
  env,
  path: `resilience.${key}`,
  type: 'number',
});

/** Environment variables of the resilience options. */
export const resilienceEnvBindings: readonly EnvBinding[] = [
  n('QF_RETRY_MAX_DELAY_MS', 'retryMaxDelayMs'),
  n('QF_RETRY_JITTER_RATIO', 'retryJitterRatio'),
  n('QF_RETRY_DEADLINE_MS', 'retryDeadlineMs'),
  n('QF_RETRY_ATTEMPT_TIMEOUT_MS', 'retryAttemptTimeoutMs'),
  n('QF_RETRY_BUDGET_RATIO', 'retryBudgetRatio'),
  n('QF_RETRY_BUDGET_MIN_PER_SECOND', 'retryBudgetMinPerSecond'),
  n('QF_RETRY_BUDGET_WINDOW_MS', 'retryBudgetWindowMs'),
  n('QF_BREAKER_FAILURE_RATE_THRESHOLD', 'breakerFailureRateThreshold'),
  n('QF_BREAKER_SLOW_CALL_RATE_THRESHOLD', 'breakerSlowCallRateThreshold'),
  n('QF_BREAKER_SLOW_CALL_MS', 'breakerSlowCallMs'),
  n('QF_BREAKER_MINIMUM_CALLS', 'breakerMinimumCalls'),
  n('QF_BREAKER_CONSECUTIVE_FAILURES', 'breakerConsecutiveFailures'),
  n('QF_BREAKER_WINDOW_MS', 'breakerWindowMs'),
  n('QF_BREAKER_OPEN_MS', 'breakerOpenMs'),
  n('QF_BREAKER_HALF_OPEN_PROBES', 'breakerHalfOpenProbes'),
  n('QF_BREAKER_STATE_CACHE_MS', 'breakerStateCacheMs'),
  n('QF_BREAKER_PROBE_LEASE_MS', 'breakerProbeLeaseMs'),
  { env: 'QF_BREAKER_KEY_PREFIX', path: 'resilience.breakerKeyPrefix', type: 'string' },
  n('QF_THROTTLE_LIMIT', 'throttleLimit'),
  n('QF_THROTTLE_WINDOW_MS', 'throttleWindowMs'),
  n('QF_THROTTLE_MAX_CONCURRENT', 'throttleMaxConcurrent'),
  n('QF_THROTTLE_MAX_WAIT_MS', 'throttleMaxWaitMs'),
  n('QF_THROTTLE_MIN_LIMIT_RATIO', 'throttleMinLimitRatio'),
  n('QF_THROTTLE_LATENCY_TARGET_MS', 'throttleLatencyTargetMs'),
  n('QF_THROTTLE_ERROR_RATE_TARGET', 'throttleErrorRateTarget'),
  n('QF_THROTTLE_DECREASE_FACTOR', 'throttleDecreaseFactor'),
  n('QF_THROTTLE_INCREASE_RATIO', 'throttleIncreaseRatio'),
  n('QF_THROTTLE_ADJUST_INTERVAL_MS', 'throttleAdjustIntervalMs'),
  n('QF_THROTTLE_STORE_TIMEOUT_MS', 'throttleStoreTimeoutMs'),
  { env: 'QF_THROTTLE_KEY_PREFIX', path: 'resilience.throttleKeyPrefix', type: 'string' },
  n('QF_POOL_MAX_CONCURRENT', 'poolMaxConcurrent'),
  n('QF_POOL_MAX_QUEUE', 'poolMaxQueue'),
  n('QF_POOL_QUEUE_TIMEOUT_MS', 'poolQueueTimeoutMs'),
  n('QF_BATCH_MAX_SIZE', 'batchMaxSize'),
];

/**
 * Validates resilience options (defaults applied), with errors that name the option and what
 * it received. The classes of this folder call it on the `resilience` they are given.
 *
 * @example
 * ```ts
 * parseResilienceOptions({ breakerOpenMs: 5000 }).breakerMinimumCalls; // 10
 * ```
 */
export function parseResilienceOptions(input: Partial<ResilienceOptions> = {}): ResilienceOptions {
  if (setsOnlyDefaults(input, RESILIENCE_OPTION_DEFAULTS)) return { ...RESILIENCE_OPTION_DEFAULTS };
  const result = resilienceOptionsSchema.safeParse(input, { jitless: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.join('.');
    const received = (input as Record<string, unknown>)[String(issue.path[0])];
    return `'resilience.${key}' ${issue.message}: received ${JSON.stringify(received)}`;
  });
  throw new RangeError(`Invalid resilience options: ${problems.join('; ')}`);
}

/**
 * The applied settings the throttle and the pools consult on every admission (the manager's
 * `AppliedSettingsReader`: synchronous, no I/O). `undefined` keeps the configured value.
 */
export interface ResourceSettings {
  /** Requests per window for `resourceKey`, replacing `throttleLimit`. */
  throttleLimitFor?(resourceKey: string): number | undefined;
  /** Concurrent slots of `resourceKey`'s pool, replacing `poolMaxConcurrent`. */
  poolSizeFor?(resourceKey: string): number | undefined;
}

/**
 * Bounds of an applied throttle limit: `throttleLimit` x [`throttleMinLimitRatio`, 4] (the
 * manager's default bounds; a wider manager is still held to these).
 */
export function throttleLimitBounds(o: ResilienceOptions): [number, number] {
  return [Math.max(1, Math.round(o.throttleLimit * o.throttleMinLimitRatio)), o.throttleLimit * 4];
}

/** Bounds of an applied pool size: [1, `poolMaxConcurrent` x 4] (the manager's default bounds). */
export function poolSizeBounds(o: ResilienceOptions): [number, number] {
  return [1, o.poolMaxConcurrent * 4];
}

/**
 * An applied value clamped into `bounds` (an integer), or `configured` when none is applied or
 * it is not a finite number.
 *
 * @example
 * ```ts
 * appliedWithin(1e9, 100, [10, 400]); // 400
 * appliedWithin(undefined, 100, [10, 400]); // 100
 * ```
 */
export function appliedWithin(
  applied: number | undefined,
  configured: number,
  [min, max]: [number, number],
): number {
  if (typeof applied !== 'number' || !Number.isFinite(applied)) return configured;
  return Math.min(max, Math.max(min, Math.floor(applied)));
}
