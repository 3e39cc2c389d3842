/**
 * The manager's thresholds and bounds: when a rule fires, how far a change may go. Every value
 * has a default; `parseManagerOptions` says what was wrong with a bad one.
 *
 * @module
 */
import type { OptimizationConfig } from '../config.ts';

/** Thresholds of the rules (see docs/operations.md for what each one drives). */
export interface ManagerThresholds {
  /** Fewest operations in a window before a rate is trusted. @default 20 */
  minRequests: number;
  /** A cache hit rate below this is low. @default 0.5 */
  lowHitRate: number;
  /** Origin (database) p95 above this, ms, is slow. @default 200 */
  slowOriginP95Ms: number;
  /** Cold starts / edge requests above this is a cold-start problem. @default 0.1 */
  coldStartRate: number;
  /** An error rate above this, in one system, is high. @default 0.05 */
  errorRate: number;
  /** A key-prefix class with at least this share of the cache requests is hot. @default 0.2 */
  hotPrefixShare: number;
  /** A hot prefix whose hit rate is below this gets a longer TTL. @default 0.9 */
  hotPrefixMaxHitRate: number;
  /** Throttle rejections / throttle calls above this, with healthy origin, raise the limit. @default 0.05 */
  throttleRejectionRate: number;
  /** Pool waits p95 above this, ms (or any pool rejection), grow the pool. @default 50 */
  poolWaitP95Ms: number;
  /** Retries exhausted / retried calls above this is retry waste. @default 0.5 */
  retryExhaustedRate: number;
  /** A key with at least this many requests in 15 min goes on the pre-warm list. @default 5 */
  prewarmMinRequests: number;
}

/** Degradation thresholds of proactive alerts (current window vs the previous one). */
export interface AlertThresholds {
  /** p95 latency rose by more than this share... @default 0.5 */
  p95IncreaseRatio: number;
  /** ...and by more than this many ms. @default 50 */
  p95IncreaseMinMs: number;
  /** Error rate rose by more than this (absolute). @default 0.05 */
  errorRateIncrease: number;
  /** Hit rate fell by more than this (absolute). @default 0.15 */
  hitRateDrop: number;
  /** Cold-start rate rose by more than this (absolute). @default 0.1 */
  coldStartRateIncrease: number;
}

/** Bounds of what the manager may apply. */
export interface ManagerBounds {
  /** TTL overrides stay within [min, max] ms. @default config.predictiveCacheTTL x [0.25, 4] */
  ttlMs: [number, number];
  /** Throttle limits stay within [min, max]. @default throttleLimit x [throttleMinLimitRatio, 4] */
  throttleLimit: [number, number];
  /** Pool sizes stay within [min, max]. @default [1, poolMaxConcurrent x 4] */
  poolSize: [number, number];
  /** Warming interval, ms. @default [60_000, 900_000] */
  warmingIntervalMs: [number, number];
  /** Longest pre-warm list. @default 20 */
  prewarmKeys: number;
}

/** Options of the manager. */
export interface ManagerOptions {
  thresholds: ManagerThresholds;
  alerts: AlertThresholds;
  bounds: ManagerBounds;
  /** How long an isolate may use applied settings before re-reading them, ms. @default 5000 */
  settingsRefreshMs: number;
  /** Longest wait for the alert webhook, ms. @default 2000 */
  webhookTimeoutMs: number;
  /** Metric rows older than this are pruned by a run. @default '7 days' */
  retention: string;
}

/** What a caller may pass. */
export interface ManagerOptionsInput {
  thresholds?: Partial<ManagerThresholds>;
  alerts?: Partial<AlertThresholds>;
  bounds?: Partial<ManagerBounds>;
  settingsRefreshMs?: number;
  webhookTimeoutMs?: number;
  retention?: string;
}

/** Default thresholds. */
export const DEFAULT_THRESHOLDS: ManagerThresholds = {
  minRequests: 20,
  lowHitRate: 0.5,
  slowOriginP95Ms: 200,
  coldStartRate: 0.1,
  errorRate: 0.05,
  hotPrefixShare: 0.2,
  hotPrefixMaxHitRate: 0.9,
  throttleRejectionRate: 0.05,
  poolWaitP95Ms: 50,
  retryExhaustedRate: 0.5,
  prewarmMinRequests: 5,
};

/** Default alert thresholds. */
export const DEFAULT_ALERTS: AlertThresholds = {
  p95IncreaseRatio: 0.5,
  p95IncreaseMinMs: 50,
  errorRateIncrease: 0.05,
  hitRateDrop: 0.15,
  coldStartRateIncrease: 0.1,
};

function checkRange(name: string, value: [number, number]): void {
  if (
    !Array.isArray(value) || value.length !== 2 || !value.every(Number.isFinite) ||
    value[0] > value[1] || value[0] < 0
  ) {
    throw new RangeError(
      `'bounds.${name}' must be [min, max] with 0 <= min <= max: received ${JSON.stringify(value)}`,
    );
  }
}

/**
 * Applies defaults (bounds derived from the optimizer configuration) and validates.
 *
 * @example
 * ```ts
 * const options = parseManagerOptions(config, { thresholds: { lowHitRate: 0.6 } });
 * ```
 */
export function parseManagerOptions(
  config: OptimizationConfig,
  input: ManagerOptionsInput = {},
): ManagerOptions {
  const r = config.resilience;
  const options: ManagerOptions = {
    thresholds: { ...DEFAULT_THRESHOLDS, ...input.thresholds },
    alerts: { ...DEFAULT_ALERTS, ...input.alerts },
    bounds: {
      ttlMs: [
        Math.max(1000, Math.round(config.predictiveCacheTTL * 0.25)),
        config.predictiveCacheTTL * 4,
      ],
      throttleLimit: [
        Math.max(1, Math.round(r.throttleLimit * r.throttleMinLimitRatio)),
        r.throttleLimit * 4,
      ],
      poolSize: [1, r.poolMaxConcurrent * 4],
      warmingIntervalMs: [60_000, 900_000],
      prewarmKeys: 20,
      ...input.bounds,
    },
    settingsRefreshMs: input.settingsRefreshMs ?? 5000,
    webhookTimeoutMs: input.webhookTimeoutMs ?? 2000,
    retention: input.retention ?? '7 days',
  };
  for (const [name, value] of Object.entries(options.thresholds)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(
        `'thresholds.${name}' must be a finite number >= 0: received ${JSON.stringify(value)}`,
      );
    }
  }
  for (const [name, value] of Object.entries(options.alerts)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(
        `'alerts.${name}' must be a finite number >= 0: received ${JSON.stringify(value)}`,
      );
    }
  }
  checkRange('ttlMs', options.bounds.ttlMs);
  checkRange('throttleLimit', options.bounds.throttleLimit);
  checkRange('poolSize', options.bounds.poolSize);
  checkRange('warmingIntervalMs', options.bounds.warmingIntervalMs);
  if (!Number.isInteger(options.bounds.prewarmKeys) || options.bounds.prewarmKeys < 0) {
    throw new RangeError(
      `'bounds.prewarmKeys' must be an integer >= 0: received ${options.bounds.prewarmKeys}`,
    );
  }
  if (!Number.isFinite(options.settingsRefreshMs) || options.settingsRefreshMs < 0) {
    throw new RangeError(
      `'settingsRefreshMs' must be a finite number >= 0: received ${options.settingsRefreshMs}`,
    );
  }
  return options;
}
