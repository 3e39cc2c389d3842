/**
 * The spec's optimizer metrics (`getMetrics()`), derived from one isolate's counters, its
 * cache's statistics and its pools' use.
 *
 * @module
 */
import type { CacheStats } from '../cache/mod.ts';
import type { Metrics } from '../metrics.ts';
import { retrySuccessRate, throttlingRate } from '../resilience/mod.ts';
import type { OptimizerMetrics } from './types.ts';

/**
 * The spec's metrics. Rates are 0..1; `totalOptimizationGain` is the origin time the cache
 * saved as a share of the time all requests would have taken.
 *
 * @example
 * ```ts
 * optimizerMetricsOf(metrics, cache.stats(), pools.utilization()).predictiveCacheHitRate;
 * ```
 */
export function optimizerMetricsOf(
  m: Metrics,
  stats: Pick<CacheStats, 'hitRate' | 'originMsSaved'>,
  pools: Record<string, { inUse: number; maxConcurrent: number }>,
): OptimizerMetrics {
  const utilization = Object.values(pools);
  const capacity = utilization.reduce((sum, u) => sum + u.maxConcurrent, 0);
  const inUse = utilization.reduce((sum, u) => sum + u.inUse, 0);
  const origin = m.histogram('optimizer.origin.ms');
  const originCalls = origin?.count ?? 0;
  const spent = origin?.sum ?? 0;
  const saved = stats.originMsSaved;
  const improvement = m.histogram('queryplan.improvement.percent');
  return {
    predictiveCacheHitRate: stats.hitRate,
    queryPlanImprovement: improvement ? improvement.mean : 0,
    resourceUtilization: capacity ? inUse / capacity : 0,
    retrySuccessRate: retrySuccessRate(m),
    adaptiveThrottlingRate: throttlingRate(m),
    totalOptimizationGain: spent + saved > 0 ? saved / (spent + saved) : 0,
    operations: m.counter('optimizer.operations'),
    originCalls,
  };
}
