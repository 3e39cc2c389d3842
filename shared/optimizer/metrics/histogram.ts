/**
 * Fixed-bucket latency histograms: the bucket bounds every isolate shares (so counts from many
 * isolates add up exactly), percentile estimates by linear interpolation inside a bucket, and
 * the snapshot shape the metrics report.
 *
 * @module
 */

/** Upper bounds (inclusive, ms) of the histogram buckets; one more bucket holds the rest. */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10000,
];

/** A histogram's state. `buckets[i]` counts values <= `LATENCY_BUCKETS_MS[i]`, the last the rest. */
export interface HistogramSnapshot {
  count: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  buckets: number[];
}

/** Everything recorded, at one moment. */
export interface MetricsSnapshot {
  /** When counting started (ms since epoch). */
  since: number;
  counters: Record<string, number>;
  gauges: Record<string, number>;
  histograms: Record<string, HistogramSnapshot>;
}

/** A histogram as it is counted: totals and bucket counts (percentiles come from these). */
export interface Histogram {
  count: number;
  sum: number;
  min: number;
  max: number;
  buckets: number[];
}

/**
 * A histogram with nothing recorded.
 *
 * @example
 * ```ts
 * const h = emptyHistogram();
 * recordValue(h, 12.5);
 * ```
 */
export function emptyHistogram(): Histogram {
  return {
    count: 0,
    sum: 0,
    min: Infinity,
    max: -Infinity,
    buckets: new Array(LATENCY_BUCKETS_MS.length + 1).fill(0),
  };
}

/**
 * Records one value (ms) in `h`.
 *
 * @example
 * ```ts
 * recordValue(h, 21.5); // h.count + 1, one more in the (10, 25] bucket
 * ```
 */
export function recordValue(h: Histogram, value: number): void {
  h.count++;
  h.sum += value;
  if (value < h.min) h.min = value;
  if (value > h.max) h.max = value;
  h.buckets[bucketIndex(value)]++;
}

function bucketIndex(value: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (value <= LATENCY_BUCKETS_MS[i]) return i;
  return LATENCY_BUCKETS_MS.length;
}

/**
 * Estimates the `q` quantile (0..1) from bucket counts; `min`/`max` clamp the open ends.
 *
 * @example
 * ```ts
 * quantileFromBuckets(h.buckets, 0.95, h.min, h.max);
 * ```
 */
export function quantileFromBuckets(buckets: number[], q: number, min = 0, max = Infinity): number {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    if (buckets[i] === 0) continue;
    if (seen + buckets[i] >= rank) {
      const lower = Math.max(i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1], min);
      const upper = Math.min(i < LATENCY_BUCKETS_MS.length ? LATENCY_BUCKETS_MS[i] : max, max);
      const within = (rank - seen) / buckets[i];
      return lower + (Math.max(upper, lower) - lower) * within;
    }
    seen += buckets[i];
  }
  return max;
}

/**
 * The reported state of a histogram: totals, mean and estimated percentiles.
 *
 * @example
 * ```ts
 * snapshotOf(h).p95;
 * ```
 */
export function snapshotOf(h: Histogram): HistogramSnapshot {
  const min = h.count ? h.min : 0;
  const max = h.count ? h.max : 0;
  return {
    count: h.count,
    sum: h.sum,
    min,
    max,
    mean: h.count ? h.sum / h.count : 0,
    p50: quantileFromBuckets(h.buckets, 0.5, min, max),
    p95: quantileFromBuckets(h.buckets, 0.95, min, max),
    p99: quantileFromBuckets(h.buckets, 0.99, min, max),
    buckets: [...h.buckets],
  };
}

/**
 * Adds `h` to the histogram called `name` in `into` (created empty on first use): counts, sums
 * and buckets add up, min and max widen.
 *
 * @example
 * ```ts
 * const merged = new Map<string, Histogram>();
 * for (const [name, h] of perIsolate) addHistogram(merged, name, h);
 * ```
 */
export function addHistogram(into: Map<string, Histogram>, name: string, h: Histogram): void {
  const total = into.get(name) ?? emptyHistogram();
  into.set(name, total);
  total.count += h.count;
  total.sum += h.sum;
  total.min = Math.min(total.min, h.min);
  total.max = Math.max(total.max, h.max);
  h.buckets.forEach((n, i) => total.buckets[i] += n);
}

/**
 * The snapshots of named histograms.
 *
 * @example
 * ```ts
 * snapshotsOf(merged)['cache.origin.ms'].p95;
 * ```
 */
export function snapshotsOf(histograms: Map<string, Histogram>): Record<string, HistogramSnapshot> {
  return Object.fromEntries([...histograms].map(([name, h]) => [name, snapshotOf(h)]));
}
