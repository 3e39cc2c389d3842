/**
 * Metrics shared by every part of the optimizer: counters, gauges and latency histograms kept in
 * memory on the hot path (a `Map` update, no I/O), and flushed in the background to the shared
 * store as per-minute buckets so the status endpoint and the optimizer run see every isolate.
 * Each isolate writes its cumulative totals per bucket as one document (idempotent `SET`), so
 * a retried or resent flush never counts twice.
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
 * What one isolate wrote for one bucket: its cumulative totals in that bucket, so that writing
 * it again (a retry, a resend after a partial failure) changes nothing.
 */
export interface BucketDocument {
  /** Counters (may be fractional: durations summed as counters). */
  c: Record<string, number>;
  /** Histograms: count, sum, min, max, bucket counts. */
  h: Record<string, { n: number; s: number; lo: number; hi: number; b: number[] }>;
}

interface BucketTotals {
  counters: Map<string, number>;
  histograms: Map<string, Histogram>;
  /** Changed since the last successful write. */
  dirty: boolean;
}

function mergeHistogram(into: Histogram, h: Histogram): void {
  into.count += h.count;
  into.sum += h.sum;
  into.min = Math.min(into.min, h.min);
  into.max = Math.max(into.max, h.max);
  h.buckets.forEach((n, i) => into.buckets[i] += n);
}

/** Store keys of the shared buckets (one set of writers per bucket, one document per writer). */
export const sharedMetricKeys = {
  /** The set of instance ids that wrote bucket `start`. */
  writers: (prefix: string, start: number): string => `${prefix}${start}:w`,
  /** One instance's document for bucket `start`. */
  document: (prefix: string, start: number, id: string): string => `${prefix}${start}:w:${id}`,
};

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
  /** Identifies this instance's documents in the shared store. */
  readonly writerId: string = crypto.randomUUID();
  #since = Date.now();
  #counters = new Map<string, number>();
  #gauges = new Map<string, number>();
  #histograms = new Map<string, Histogram>();
  // What has not been assigned to a shared bucket yet.
  #pendingCounters = new Map<string, number>();
  #pendingHistograms = new Map<string, Histogram>();
  // Cumulative totals per shared bucket start, kept until written and the bucket is over.
  #buckets = new Map<number, BucketTotals>();
  // Flushes run one after the other: two writes of one document must not land out of order.
  #flushing: Promise<void> = Promise.resolve();

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
    if (this.#pendingCounters.size > 0 || this.#pendingHistograms.size > 0) return true;
    for (const bucket of this.#buckets.values()) if (bucket.dirty) return true;
    return false;
  }

  /**
   * Writes what was recorded to the shared store's current bucket, in one pipeline (one round
   * trip), exactly once however often it is retried.
   *
   * Each instance writes its own cumulative totals per bucket as one document (`SET`, an
   * absolute value, not an increment) and adds its id to the bucket's set of writers (`SADD`).
   * Both commands are idempotent: a flush that failed half-way, timed out after Redis applied
   * it, or is resent, writes the same totals again, and N recorded events read back as N
   * (the old `HINCRBY` flush failed on fractional values and was resent, counting ~12x). On
   * failure the bucket stays dirty and is rewritten by the next flush.
   */
  flushTo(store: KeyValueStore, options: FlushOptions = {}): Promise<void> {
    const run = this.#flushing.then(() => this.#flush(store, options));
    this.#flushing = run.catch(() => {});
    return run;
  }

  async #flush(store: KeyValueStore, options: FlushOptions): Promise<void> {
    const bucketMs = options.bucketMs ?? 60_000;
    const retentionMs = options.retentionMs ?? 86_400_000;
    const prefix = options.prefix ?? 'qf:metrics:';
    const now = (options.now ?? Date.now)();
    const start = now - (now % bucketMs);
    this.#assignPending(start);
    // Buckets past retention are gone from the store anyway: stop holding them.
    for (const key of this.#buckets.keys()) {
      if (key + retentionMs < now) this.#buckets.delete(key);
    }
    const dirty = [...this.#buckets].filter(([, bucket]) => bucket.dirty);
    if (dirty.length === 0) return;
    const commands: StoreCommand[] = [];
    for (const [bucketStart, bucket] of dirty) {
      const ttl = Math.max(1, bucketStart + retentionMs - now);
      const writers = sharedMetricKeys.writers(prefix, bucketStart);
      commands.push(
        {
          op: 'set',
          key: sharedMetricKeys.document(prefix, bucketStart, this.writerId),
          value: documentOf(bucket),
          options: { pxMs: ttl },
        },
        { op: 'sadd', key: writers, members: [this.writerId] },
        { op: 'pexpire', key: writers, ms: ttl },
      );
      // Changes made while the write is in flight mark the bucket dirty again.
      bucket.dirty = false;
    }
    try {
      await store.pipeline(commands);
    } catch (error) {
      for (const [, bucket] of dirty) bucket.dirty = true;
      throw error;
    }
    // A finished bucket, written, will not change again.
    for (const [bucketStart, bucket] of dirty) {
      if (!bucket.dirty && bucketStart < start) this.#buckets.delete(bucketStart);
    }
  }

  #assignPending(start: number): void {
    if (this.#pendingCounters.size === 0 && this.#pendingHistograms.size === 0) return;
    let bucket = this.#buckets.get(start);
    if (!bucket) {
      this.#buckets.set(
        start,
        bucket = { counters: new Map(), histograms: new Map(), dirty: true },
      );
    }
    for (const [name, by] of this.#pendingCounters) {
      bucket.counters.set(name, (bucket.counters.get(name) ?? 0) + by);
    }
    for (const [name, h] of this.#pendingHistograms) {
      let into = bucket.histograms.get(name);
      if (!into) bucket.histograms.set(name, into = emptyHistogram());
      mergeHistogram(into, h);
    }
    bucket.dirty = true;
    this.#pendingCounters = new Map();
    this.#pendingHistograms = new Map();
  }

  /** Forgets everything (tests). */
  reset(): void {
    this.#since = Date.now();
    this.#counters.clear();
    this.#gauges.clear();
    this.#histograms.clear();
    this.#pendingCounters.clear();
    this.#pendingHistograms.clear();
    this.#buckets.clear();
  }
}

function documentOf(bucket: BucketTotals): BucketDocument {
  const doc: BucketDocument = { c: Object.fromEntries(bucket.counters), h: {} };
  for (const [name, h] of bucket.histograms) {
    doc.h[name] = { n: h.count, s: h.sum, lo: h.min, hi: h.max, b: [...h.buckets] };
  }
  return doc;
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

/** One shared bucket, every writer merged. */
export interface SharedBucket {
  /** Bucket start, ms since epoch. */
  start: number;
  /** How many instances wrote it. */
  writers: number;
  snapshot: MetricsSnapshot;
}

function isDocument(value: unknown): value is BucketDocument {
  return typeof value === 'object' && value !== null &&
    typeof (value as BucketDocument).c === 'object' &&
    typeof (value as BucketDocument).h === 'object';
}

/**
 * Every shared bucket of the last `windowMs`, each merged across the instances that wrote it,
 * oldest first. Two round trips: the writer sets, then their documents.
 *
 * @example
 * ```ts
 * const buckets = await readSharedBuckets(store, { windowMs: 900_000 });
 * buckets.map((b) => b.snapshot.counters['optimizer.operations']);
 * ```
 */
export async function readSharedBuckets(
  store: KeyValueStore,
  options: ReadSharedOptions = {},
): Promise<SharedBucket[]> {
  const bucketMs = options.bucketMs ?? 60_000;
  const now = (options.now ?? Date.now)();
  const windowMs = options.windowMs ?? 3_600_000;
  const prefix = options.prefix ?? 'qf:metrics:';
  const first = now - (now % bucketMs) - Math.floor(windowMs / bucketMs) * bucketMs;
  const starts: number[] = [];
  for (let t = first; t <= now; t += bucketMs) starts.push(t);
  const writerSets = await store.pipeline(
    starts.map((start) => ({ op: 'smembers', key: sharedMetricKeys.writers(prefix, start) })),
  ) as string[][];
  const wanted: { start: number; key: string }[] = [];
  starts.forEach((start, i) => {
    for (const id of writerSets[i] ?? []) {
      wanted.push({ start, key: sharedMetricKeys.document(prefix, start, id) });
    }
  });
  const docs = wanted.length
    ? await store.pipeline(wanted.map(({ key }) => ({ op: 'get', key })))
    : [];
  const byStart = new Map<number, { writers: number; docs: BucketDocument[] }>();
  wanted.forEach(({ start }, i) => {
    const doc = docs[i];
    if (!isDocument(doc)) return;
    let entry = byStart.get(start);
    if (!entry) byStart.set(start, entry = { writers: 0, docs: [] });
    entry.writers++;
    entry.docs.push(doc);
  });
  return [...byStart].sort(([a], [b]) => a - b).map(([start, { writers, docs }]) => ({
    start,
    writers,
    snapshot: mergeDocuments(docs, start),
  }));
}

function mergeDocuments(docs: BucketDocument[], since: number): MetricsSnapshot {
  const counters: Record<string, number> = {};
  const histograms = new Map<string, Histogram>();
  for (const doc of docs) {
    for (const [name, value] of Object.entries(doc.c)) {
      if (typeof value === 'number') counters[name] = (counters[name] ?? 0) + value;
    }
    for (const [name, h] of Object.entries(doc.h)) {
      let into = histograms.get(name);
      if (!into) histograms.set(name, into = emptyHistogram());
      mergeHistogram(into, {
        count: h.n,
        sum: h.s,
        min: h.lo ?? Infinity,
        max: h.hi ?? -Infinity,
        buckets: h.b,
      });
    }
  }
  return {
    since,
    counters,
    gauges: {},
    histograms: Object.fromEntries([...histograms].map(([name, h]) => [name, snapshotOf(h)])),
  };
}

/**
 * Merges snapshots (buckets of a window) into one: counters and histograms add up.
 *
 * @example
 * ```ts
 * const total = mergeSnapshots(buckets.map((b) => b.snapshot));
 * ```
 */
export function mergeSnapshots(snapshots: MetricsSnapshot[]): MetricsSnapshot {
  const counters: Record<string, number> = {};
  const histograms = new Map<string, Histogram>();
  for (const s of snapshots) {
    for (const [name, value] of Object.entries(s.counters)) {
      counters[name] = (counters[name] ?? 0) + value;
    }
    for (const [name, h] of Object.entries(s.histograms)) {
      let into = histograms.get(name);
      if (!into) histograms.set(name, into = emptyHistogram());
      mergeHistogram(into, {
        count: h.count,
        sum: h.sum,
        min: h.count ? h.min : Infinity,
        max: h.count ? h.max : -Infinity,
        buckets: h.buckets,
      });
    }
  }
  return {
    since: snapshots.length ? Math.min(...snapshots.map((s) => s.since)) : Date.now(),
    counters,
    gauges: {},
    histograms: Object.fromEntries([...histograms].map(([name, h]) => [name, snapshotOf(h)])),
  };
}

/**
 * Adds up what every isolate flushed over the last `windowMs`: counters, and histograms with
 * exact count, sum, min and max.
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
  const buckets = await readSharedBuckets(store, options);
  const merged = mergeSnapshots(buckets.map((b) => b.snapshot));
  const bucketMs = options.bucketMs ?? 60_000;
  const now = (options.now ?? Date.now)();
  const windowMs = options.windowMs ?? 3_600_000;
  merged.since = now - (now % bucketMs) - Math.floor(windowMs / bucketMs) * bucketMs;
  return merged;
}

/** The isolate's metrics, shared by every optimizer part that is not given its own. */
export const metrics: Metrics = new Metrics();
