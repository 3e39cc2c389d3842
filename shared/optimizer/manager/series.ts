/**
 * Time series for the operator dashboard: the shared per-minute metric buckets (the store's
 * recent minutes, Postgres' older ones) grouped into steps, each step's figures computed as the
 * observation computes a window's (`figuresOf`), so a chart and the rules read the same numbers.
 *
 * @module
 */
import { mergeSnapshots, type SharedBucket } from '../metrics.ts';
import { figuresOf } from './observe.ts';

/** Ranges the series endpoint accepts, with their step. */
export const SERIES_RANGES = {
  '1h': { rangeMs: 3_600_000, stepMs: 60_000 },
  '24h': { rangeMs: 86_400_000, stepMs: 900_000 },
} as const;
/** A series range name. */
export type SeriesRange = keyof typeof SERIES_RANGES;

/**
 * The metric rows a series reads from `optimization_metrics` (`counter:` / `histogram:`), so a
 * day of history reads these and not every per-key counter.
 */
export const SERIES_METRICS: readonly string[] = [
  ...[
    'edge.requests',
    'edge.errors',
    'edge.cold_starts',
    'cache.hit.memory',
    'cache.hit.redis',
    'cache.stale.served',
    'cache.stale_if_error.served',
    'cache.origin.calls',
    'cache.store.timeout',
    'cache.store.error',
    'optimizer.operations',
    'optimizer.errors',
    'throttle.calls',
    'throttle.rejected',
  ].map((name) => `counter:${name}`),
  ...['edge.request.ms', 'edge.request.cold.ms', 'optimizer.operation.ms', 'optimizer.origin.ms']
    .map((name) => `histogram:${name}`),
];

/** One step of a series. Rates are 0..1 (null when nothing was counted), times ms. */
export interface SeriesPoint {
  /** Step start, ms since epoch. */
  t: number;
  /** Edge requests in the step (warm-up pings excluded). */
  requests: number;
  /** Edge requests per minute. */
  requestsPerMin: number;
  /** Cached operations (hits + origin loads). */
  cacheRequests: number;
  /** Share of cached operations served from each tier. */
  hitRate: number | null;
  hitRateMemory: number | null;
  hitRateRedis: number | null;
  hitRateStale: number | null;
  /** Edge request latency quantiles. */
  p50Ms: number | null;
  p95Ms: number | null;
  /** 5xx share of edge requests. */
  errorRate: number | null;
  /** Errors of optimized (database) operations / operations. */
  dbErrorRate: number | null;
  /** Throttle rejections / throttle calls. */
  throttleRate: number | null;
  coldStarts: number;
}

/** A series over one range. */
export interface Series {
  range: SeriesRange;
  stepMs: number;
  from: string;
  to: string;
  points: SeriesPoint[];
}

const r4 = (n: number) => Math.round(n * 10_000) / 10_000;
const r2 = (n: number) => Math.round(n * 100) / 100;

/**
 * Groups per-minute buckets into the steps of `range` ending at `now` (oldest first, empty
 * steps included, so the x axis is regular).
 *
 * @example
 * ```ts
 * const series = seriesOf(buckets, '1h', Date.now());
 * series.points.map((p) => p.hitRate);
 * ```
 */
export function seriesOf(buckets: SharedBucket[], range: SeriesRange, now: number): Series {
  const { rangeMs, stepMs } = SERIES_RANGES[range];
  const last = now - (now % stepMs);
  const first = last - rangeMs + stepMs;
  const byStep = new Map<number, SharedBucket[]>();
  for (const b of buckets) {
    if (b.start < first || b.start > now) continue;
    const step = b.start - ((b.start - first) % stepMs);
    let list = byStep.get(step);
    if (!list) byStep.set(step, list = []);
    list.push(b);
  }
  const points: SeriesPoint[] = [];
  for (let t = first; t <= last; t += stepMs) {
    const merged = mergeSnapshots((byStep.get(t) ?? []).map((b) => b.snapshot));
    const f = figuresOf(merged, t, t + stepMs);
    const c = (name: string) => merged.counters[name] ?? 0;
    const edge = merged.histograms['edge.request.ms'];
    const cacheRequests = c('cache.hit.memory') + c('cache.hit.redis') + c('cache.stale.served') +
      c('cache.stale_if_error.served') + c('cache.origin.calls');
    const share = (n: number) => (cacheRequests > 0 ? r4(n / cacheRequests) : null);
    points.push({
      t,
      requests: f.edgeRequests,
      requestsPerMin: r2(f.edgeRequests / (stepMs / 60_000)),
      cacheRequests,
      hitRate: cacheRequests > 0 ? f.hitRate : null,
      hitRateMemory: share(c('cache.hit.memory')),
      hitRateRedis: share(c('cache.hit.redis')),
      hitRateStale: share(c('cache.stale.served') + c('cache.stale_if_error.served')),
      p50Ms: edge?.count ? r2(edge.p50) : null,
      p95Ms: edge?.count ? r2(edge.p95) : null,
      errorRate: f.edgeRequests > 0 ? f.edgeErrorRate : null,
      dbErrorRate: f.operations > 0 ? f.dbErrorRate : null,
      throttleRate: f.throttleCalls > 0 ? f.throttleRejectionRate : null,
      coldStarts: f.coldStarts,
    });
  }
  return {
    range,
    stepMs,
    from: new Date(first).toISOString(),
    to: new Date(now).toISOString(),
    points,
  };
}
