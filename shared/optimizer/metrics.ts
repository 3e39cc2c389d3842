/**
 * Metrics shared by every part of the optimizer: counters, gauges and latency histograms kept in
 * memory on the hot path (a `Map` update, no I/O), and flushed in the background to the shared
 * store as per-minute buckets so the status endpoint and the optimizer run see every isolate.
 *
 * Histograms use fixed buckets ({@link LATENCY_BUCKETS_MS}) so that counts from many isolates
 * add up exactly; percentiles are estimated by linear interpolation inside a bucket.
 *
 * Names are dotted, lowercase, with the unit last where there is one: `cache.hit.memory`,
 * `cache.origin.ms`, `retry.attempts`, `breaker.transition.open`.
 *
 * @module
 */
import type { KeyValueStore, StoreCommand } from '../store/types.ts';

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

interface Histogram {
  count: number;
  sum: number;
  min: number;
  max: number;
  buckets: number[];
}

function emptyHistogram(): Histogram {
  return {
    count: 0,
    sum: 0,
    min: Infinity,
    max: -Infinity,
    buckets: new Array(LATENCY_BUCKETS_MS.length + 1).fill(0),
  };
}

function bucketIndex(value: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (value <= LATENCY_BUCKETS_MS[i]) return i;
  return LATENCY_BUCKETS_MS.length;
}

/** Estimates the `q` quantile (0..1) from bucket counts; `min`/`max` clamp the open ends. */
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

function snapshotOf(h: Histogram): HistogramSnapshot {
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

/** Options of {@link Metrics.flushTo}. */
export interface FlushOptions {
  /** Width of a shared bucket. @default 60_000 */
  bucketMs?: number;
  /** How long shared buckets are kept in the store. @default 86_400_000 (one day) */
  retentionMs?: number;
  /** Key prefix. @default 'qf:metrics:' */
  prefix?: string;
  /** Clock. @default Date.now */
  now?: () => number;
}

/**
 * In-memory metrics of one isolate.
 *
 * @example
 * ```ts
 * const m = new Metrics();
 * m.increment('cache.hit.memory');
 * m.observe('cache.origin.ms', 21.5);
 * m.snapshot().counters['cache.hit.memory']; // 1
 * ```
 */
export class Metrics {
  #since = Date.now();
  #counters = new Map<string, number>();
  #gauges = new Map<string, number>();
  #histograms = new Map<string, Histogram>();
  // What has not been flushed to the shared store yet.
  #pendingCounters = new Map<string, number>();
  #pendingHistograms = new Map<string, Histogram>();

  /** Adds `by` (default 1) to a counter. */
  increment(name: string, by = 1): void {
    this.#counters.set(name, (this.#counters.get(name) ?? 0) + by);
    this.#pendingCounters.set(name, (this.#pendingCounters.get(name) ?? 0) + by);
  }

  /** Sets a gauge (a level, not a count: pool in use, breaker open). */
  gauge(name: string, value: number): void {
    this.#gauges.set(name, value);
  }

  /** Records one value (ms) in a histogram. */
  observe(name: string, value: number): void {
    for (const map of [this.#histograms, this.#pendingHistograms]) {
      let h = map.get(name);
      if (!h) map.set(name, h = emptyHistogram());
      h.count++;
      h.sum += value;
      if (value < h.min) h.min = value;
      if (value > h.max) h.max = value;
      h.buckets[bucketIndex(value)]++;
    }
  }

  /** A counter's value (0 when never incremented). */
  counter(name: string): number {
    return this.#counters.get(name) ?? 0;
  }

  /** A histogram's state, or `undefined`. */
  histogram(name: string): HistogramSnapshot | undefined {
    const h = this.#histograms.get(name);
    return h ? snapshotOf(h) : undefined;
  }

  /** Everything recorded since start (or the last {@link reset}). */
  snapshot(): MetricsSnapshot {
    return {
      since: this.#since,
      counters: Object.fromEntries(this.#counters),
      gauges: Object.fromEntries(this.#gauges),
      histograms: Object.fromEntries(
        [...this.#histograms].map(([name, h]) => [name, snapshotOf(h)]),
      ),
    };
  }

  /** Whether anything waits to be flushed. */
  get hasPending(): boolean {
    return this.#pendingCounters.size > 0 || this.#pendingHistograms.size > 0;
  }

  /**
   * Adds what was recorded since the last flush to the shared store's current bucket, in one
   * pipeline (one round trip). On failure the counts are kept for the next flush.
   */
  async flushTo(store: KeyValueStore, options: FlushOptions = {}): Promise<void> {
    if (!this.hasPending) return;
    const bucketMs = options.bucketMs ?? 60_000;
    const now = (options.now ?? Date.now)();
    const key = `${options.prefix ?? 'qf:metrics:'}${now - (now % bucketMs)}`;
    const counters = this.#pendingCounters;
    const histograms = this.#pendingHistograms;
    this.#pendingCounters = new Map();
    this.#pendingHistograms = new Map();
    const commands: StoreCommand[] = [];
    for (const [name, by] of counters) {
      commands.push({ op: 'hincrby', key, field: `c:${name}`, by });
    }
    for (const [name, h] of histograms) {
      commands.push({ op: 'hincrby', key, field: `h:${name}:count`, by: h.count });
      // HINCRBY takes integers: sums are kept in microseconds.
      commands.push({
        op: 'hincrby',
        key,
        field: `h:${name}:sum_us`,
        by: Math.round(h.sum * 1000),
      });
      h.buckets.forEach((n, i) => {
        if (n) commands.push({ op: 'hincrby', key, field: `h:${name}:b${i}`, by: n });
      });
    }
    commands.push({ op: 'pexpire', key, ms: options.retentionMs ?? 86_400_000 });
    try {
      await store.pipeline(commands);
    } catch (error) {
      // Put the counts back so they are not lost; they go out with the next flush.
      for (const [name, by] of counters) {
        this.#pendingCounters.set(name, (this.#pendingCounters.get(name) ?? 0) + by);
      }
      for (const [name, h] of histograms) {
        const into = this.#pendingHistograms.get(name) ?? emptyHistogram();
        into.count += h.count;
        into.sum += h.sum;
        into.min = Math.min(into.min, h.min);
        into.max = Math.max(into.max, h.max);
        h.buckets.forEach((n, i) => into.buckets[i] += n);
        this.#pendingHistograms.set(name, into);
      }
      throw error;
    }
  }

  /** Forgets everything (tests). */
  reset(): void {
    this.#since = Date.now();
    this.#counters.clear();
    this.#gauges.clear();
    this.#histograms.clear();
    this.#pendingCounters.clear();
    this.#pendingHistograms.clear();
  }
}

/** Options of {@link readSharedMetrics}. */
export interface ReadSharedOptions {
  /** How far back to read. @default 3_600_000 (one hour) */
  windowMs?: number;
  /** Must match the flush's. @default 60_000 */
  bucketMs?: number;
  /** @default 'qf:metrics:' */
  prefix?: string;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Adds up the buckets every isolate flushed over the last `windowMs`, in one pipeline.
 * Min and max are not shared (Redis cannot merge them with HINCRBY): they are reported as the
 * bounds of the lowest and highest non-empty buckets.
 *
 * @example
 * ```ts
 * const lastHour = await readSharedMetrics(store);
 * lastHour.counters['cache.hit.redis'];
 * ```
 */
export async function readSharedMetrics(
  store: KeyValueStore,
  options: ReadSharedOptions = {},
): Promise<MetricsSnapshot> {
  const bucketMs = options.bucketMs ?? 60_000;
  const now = (options.now ?? Date.now)();
  const windowMs = options.windowMs ?? 3_600_000;
  const prefix = options.prefix ?? 'qf:metrics:';
  const first = now - (now % bucketMs) - Math.floor(windowMs / bucketMs) * bucketMs;
  const keys: string[] = [];
  for (let t = first; t <= now; t += bucketMs) keys.push(`${prefix}${t}`);
  const hashes = await store.pipeline(keys.map((key) => ({ op: 'hgetall', key })));
  const counters: Record<string, number> = {};
  const histograms = new Map<string, Histogram>();
  for (const hash of hashes as Record<string, string>[]) {
    for (const [field, raw] of Object.entries(hash)) {
      const value = Number(raw);
      if (field.startsWith('c:')) {
        counters[field.slice(2)] = (counters[field.slice(2)] ?? 0) + value;
        continue;
      }
      const match = /^h:(.+):(count|sum_us|b(\d+))$/.exec(field);
      if (!match) continue;
      let h = histograms.get(match[1]);
      if (!h) histograms.set(match[1], h = emptyHistogram());
      if (match[2] === 'count') h.count += value;
      else if (match[2] === 'sum_us') h.sum += value / 1000;
      else h.buckets[Number(match[3])] += value;
    }
  }
  for (const h of histograms.values()) {
    const lo = h.buckets.findIndex((n) => n > 0);
    const hi = h.buckets.findLastIndex((n) => n > 0);
    h.min = lo <= 0 ? 0 : LATENCY_BUCKETS_MS[lo - 1];
    h.max = hi < 0 ? 0 : LATENCY_BUCKETS_MS[Math.min(hi, LATENCY_BUCKETS_MS.length - 1)];
  }
  return {
    since: first,
    counters,
    gauges: {},
    histograms: Object.fromEntries([...histograms].map(([name, h]) => [name, snapshotOf(h)])),
  };
}

/** The isolate's metrics, shared by every optimizer part that is not given its own. */
export const metrics: Metrics = new Metrics();
